package desk

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

// TestMultipartRefusedStoresNothing: the files of a refused multipart
// request are not left in the blob store, whether they came before the
// item part or after it, and a blob of the same content stored before
// stays; the files of a good one are stored.
func TestMultipartRefusedStoresNothing(t *testing.T) {
	type part struct{ name, file, body string }
	item := func(raw string) part { return part{name: "item", body: raw} }
	file := func(name, body string) part { return part{name: "file", file: name, body: body} }
	for _, c := range []struct {
		name   string
		parts  []part
		status int // 0: accepted
		stored []string
	}{
		{"file before a bad item", []part{file("a.jpg", "photo A"), item(`{"ref":"bad"}`)}, 400, nil},
		{"file after a bad item", []part{item(`{"ref":"bad"}`), file("a.jpg", "photo A")}, 400, nil},
		{"no item part", []part{file("a.jpg", "photo A")}, 400, nil},
		{"too many files", []part{item(goodJSON), file("a.jpg", "photo A"), file("b.jpg", "photo B"), file("c.jpg", "photo C")}, 413, nil},
		{"a file over its cap", []part{file("a.jpg", "photo A"), file("big.bin", strings.Repeat("x", 2048)), item(goodJSON)}, 413, nil},
		{"a file already stored", []part{file("old.jpg", "stored before"), item(`{"ref":"bad"}`)}, 400, []string{"stored before"}},
		{"a good item", []part{file("a.jpg", "photo A"), item(goodJSON), file("b.jpg", "photo B")}, 0, []string{"photo A", "photo B"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			blobs, err := store.OpenBlobs(dir)
			if err != nil {
				t.Fatal(err)
			}
			old, _ := blobs.PutBytes(context.Background(), []byte("stored before"))
			d := New(Config{MaxBodyBytes: 1 << 16, MaxAttachmentBytes: 1024, MaxAttachments: 2, MaxBatch: 1, RetryAfter: time.Second}, Options{Blobs: blobs})

			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			for _, p := range c.parts {
				var w io.Writer
				if p.file != "" {
					w, _ = mw.CreateFormFile(p.name, p.file)
				} else {
					w, _ = mw.CreateFormField(p.name)
				}
				io.WriteString(w, p.body)
			}
			mw.Close()
			req := deskRequest("POST", "/v1/items", mw.FormDataContentType(), &body)
			it, prob, status := d.readMultipart(req, minsheng.PrincipalFrom(req.Context()))
			if status != c.status || (c.status == 0) != (prob == nil) {
				t.Fatalf("%d %+v, want %d", status, prob, c.status)
			}
			want := map[string]bool{}
			for _, s := range append(c.stored, "stored before") {
				want[s] = true
			}
			got := map[string]bool{}
			filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					b, _ := os.ReadFile(path)
					got[string(b)] = true
					if filepath.Base(filepath.Dir(path)) == "tmp" {
						t.Errorf("left in tmp: %s", path)
					}
				}
				return nil
			})
			if len(got) != len(want) {
				t.Errorf("store holds %q, want %q", keys(got), keys(want))
			}
			for s := range want {
				if !got[s] {
					t.Errorf("%q not stored", s)
				}
			}
			if rc, err := blobs.Open(context.Background(), old.Ref); err != nil {
				t.Errorf("the blob stored before: %v", err)
			} else {
				rc.Close()
			}
			if it != nil {
				for _, a := range it.Attachments {
					rc, err := blobs.Open(context.Background(), a.Ref)
					if err != nil {
						t.Errorf("attachment %s: %v", a.Name, err)
						continue
					}
					rc.Close()
				}
				if len(it.Attachments) != 2 {
					t.Errorf("%d attachments, want 2", len(it.Attachments))
				}
			}
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestMultipartFileNameAndType: a file part's name and type become the
// item's attachment; one the item schema refuses (a name that is not
// UTF-8, such as a GBK one, or over 255 characters) is refused with 400
// naming it, and a type over the schema's 255 characters is taken as
// application/octet-stream, as an unreadable one is. Before, such an item
// was answered 202 and then routed to rejected as invalid (its retry a
// repeat of that), or, with a GBK name, stored with U+FFFD in it, so that
// the desk's exact retry was refused with 409 conflict.
func TestMultipartFileNameAndType(t *testing.T) {
	for _, c := range []struct {
		name, file, typ string
		status          int // 0: accepted
		want            string
	}{
		{"gbk name", "\xd5\xd5\xc6\xac.jpg", "image/jpeg", 400, "attachments[0].name"},
		{"name of 300 characters", strings.Repeat("照", 296) + ".jpg", "image/jpeg", 400, "attachments[0].name"},
		{"name of 255 characters", strings.Repeat("照", 251) + ".jpg", "image/jpeg", 0, "image/jpeg"},
		{"type of 300 characters", "a.jpg", "image/" + strings.Repeat("x", 294), 0, "application/octet-stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			blobs, err := store.OpenBlobs(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			d := New(Config{MaxBodyBytes: 1 << 16, MaxAttachmentBytes: 1024, MaxAttachments: 2, MaxBatch: 1, RetryAfter: time.Second}, Options{Blobs: blobs})
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			w, _ := mw.CreateFormField("item")
			io.WriteString(w, goodJSON)
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="file"; filename="`+c.file+`"`)
			h.Set("Content-Type", c.typ)
			w, _ = mw.CreatePart(h)
			io.WriteString(w, "photo")
			mw.Close()
			req := deskRequest("POST", "/v1/items", mw.FormDataContentType(), &body)
			it, prob, status := d.readMultipart(req, minsheng.PrincipalFrom(req.Context()))
			if status != c.status || (c.status == 0) != (prob == nil) {
				t.Fatalf("%d %+v, want %d", status, prob, c.status)
			}
			if prob != nil {
				if len(prob.Fields) != 1 || prob.Fields[0].Path != c.want {
					t.Errorf("refused with %+v, want field %s", prob, c.want)
				}
				return
			}
			it.Prepare(time.Now())
			if errs := it.Validate(); len(errs) > 0 {
				t.Errorf("accepted an item the pipeline would reject: %v", errs)
			}
			if len(it.Attachments) != 1 || it.Attachments[0].Type != c.want {
				t.Errorf("attachments %+v, want one of type %s", it.Attachments, c.want)
			}
		})
	}
}

// TestMultipartItemSentAsFile: the item part sent as a file (curl -F
// 'item=@letter.json', a common slip) is refused naming that: the part
// came with a file name, and how to send it. Before, the answer was only
// 'multipart body has no "item" part', which a desk that had sent one
// could not act on.
func TestMultipartItemSentAsFile(t *testing.T) {
	blobs, err := store.OpenBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := New(Config{MaxBodyBytes: 1 << 16, MaxAttachmentBytes: 1 << 16, MaxAttachments: 2, MaxBatch: 1, RetryAfter: time.Second}, Options{Blobs: blobs})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, _ := mw.CreateFormFile("item", "letter.json")
	io.WriteString(w, goodJSON)
	mw.Close()
	req := deskRequest("POST", "/v1/items", mw.FormDataContentType(), &body)
	_, prob, status := d.readMultipart(req, minsheng.PrincipalFrom(req.Context()))
	if status != 400 || prob == nil || len(prob.Fields) != 1 || prob.Fields[0].Path != "item" ||
		!strings.Contains(prob.Message, "file name") || !strings.Contains(prob.Message, "item=<") {
		t.Fatalf("%d %+v", status, prob)
	}
}
