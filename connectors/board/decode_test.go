package board

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var cst = time.FixedZone("CST", 8*3600)

// testMapping maps the JSON fixtures' fields.
var testMapping = JSONMapping{
	Items: "data.list", ID: "tid", Title: "subject", Body: "content.text",
	Author: "user.nick", Time: "created", URL: "link", ReplyStatus: "reply.status",
	Next: "data.next_cursor",
}

func TestDecodeGolden(t *testing.T) {
	for _, tc := range []struct{ file, format string }{
		{"rss_page1.xml", FormatAuto},
		{"rss_page3.xml", FormatRSS},
		{"atom.xml", FormatAuto},
		{"json_page1.json", FormatJSON},
		{"json_page2.json", FormatAuto},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Decode(tc.format, b, &testMapping, cst)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(p, "", " ")
			golden := filepath.Join("testdata", strings.TrimSuffix(tc.file, filepath.Ext(tc.file))+".golden.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("decoded page differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestDecodeFacts(t *testing.T) {
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p, err := Decode(FormatAuto, read("rss_page1.xml"), nil, cst)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Posts) != 4 || p.Next != "/rss?page=2" {
		t.Fatalf("rss page 1: %d posts, next %q", len(p.Posts), p.Next)
	}
	p0 := p.Posts[0]
	if p0.ID != "thread-3012" || p0.Author != "冯先生" || strings.Contains(p0.Body, "<p>") ||
		!strings.Contains(p0.Body, "农贸市场") || !p0.Time.Equal(time.Date(2024, 3, 6, 21, 50, 0, 0, cst)) {
		t.Errorf("rss post: %+v", p0)
	}
	a, err := Decode(FormatAuto, read("atom.xml"), nil, cst)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Posts) != 4 || a.Posts[0].Body == "" || strings.Contains(a.Posts[0].Body, "<") || strings.Contains(a.Posts[1].Body, "<br") {
		t.Errorf("atom xhtml/html content not reduced to text: %q / %q", a.Posts[0].Body, a.Posts[1].Body)
	}
	j, err := Decode(FormatAuto, read("json_page2.json"), &testMapping, cst)
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Posts) != 6 || len(j.Bad) != 3 || j.Next != "" {
		t.Fatalf("json page 2: %d posts, %d bad, next %q", len(j.Posts), len(j.Bad), j.Next)
	}
	reasons := j.Bad[0].Reason + "|" + j.Bad[1].Reason + "|" + j.Bad[2].Reason
	for _, want := range []string{"no id", "unrecognised time", "not an object"} {
		if !strings.Contains(reasons, want) {
			t.Errorf("bad-post reasons %q lack %q", reasons, want)
		}
	}
	if _, err := Decode(FormatAuto, read("malformed.xml"), nil, cst); err == nil || !strings.Contains(err.Error(), "malformed RSS") {
		t.Errorf("malformed RSS: err = %v", err)
	}
	for _, bad := range []string{``, `<html><body>502</body></html>`, `{"data":{"list":{}}}`, `{"data":`, `[1,2] [3]`} {
		if _, err := Decode(FormatAuto, []byte(bad), &testMapping, cst); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func TestDecodeGBKRSS(t *testing.T) {
	doc := `<?xml version="1.0" encoding="gbk"?><rss version="2.0"><channel><item><guid>g1</guid>` +
		`<title>供暖不热</title><description>家里暖气温度只有十五度。</description><pubDate>2024/1/8 8:00:00</pubDate></item></channel></rss>`
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Decode(FormatAuto, []byte(gbk), nil, cst)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Posts) != 1 || p.Posts[0].Title != "供暖不热" || p.Posts[0].Body != "家里暖气温度只有十五度。" {
		t.Fatalf("GBK feed decoded as %+v", p.Posts)
	}
}

// checkPage is what every decoded page must satisfy, whatever the input.
func checkPage(t *testing.T, p *Page) {
	for _, post := range p.Posts {
		if post.ID == "" || len(post.ID) > 200 {
			t.Fatalf("post with bad id %q", post.ID)
		}
		if post.Title == "" && post.Body == "" {
			t.Fatalf("post %q with neither title nor body", post.ID)
		}
		for _, s := range []string{post.ID, post.Title, post.Body, post.Author} {
			if !utf8.ValidString(s) {
				t.Fatalf("post %q has invalid UTF-8", post.ID)
			}
		}
	}
	for _, b := range p.Bad {
		if b.Reason == "" {
			t.Fatal("bad post without a reason")
		}
	}
}

func seedFuzz(f *testing.F, files ...string) {
	for _, file := range files {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzDecodeRSS(f *testing.F) {
	seedFuzz(f, "rss_page1.xml", "rss_page3.xml", "malformed.xml")
	f.Add([]byte(`<rss><channel><item><guid>x</guid><title>&#0;</title></item></channel></rss>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeRSS(b, cst)
		if err == nil {
			checkPage(t, p)
		}
	})
}

func FuzzDecodeAtom(f *testing.F) {
	seedFuzz(f, "atom.xml")
	f.Add([]byte(`<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><content type="xhtml"><b>x</b></content></entry></feed>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeAtom(b, cst)
		if err == nil {
			checkPage(t, p)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	seedFuzz(f, "json_page1.json", "json_page2.json")
	f.Add([]byte(`{"data":{"list":[{"tid":1e400,"subject":null}]}}`))
	f.Add([]byte("{\"data\":{\"list\":[{\"tid\":1,\"subject\":\"\xd0\xa1\xc7\xf8\"}],\"next_cursor\":\"\xc7\"}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeJSON(b, &testMapping, cst)
		if err == nil {
			checkPage(t, p)
		}
	})
}

// A JSON post or page giving a key twice is refused with the key named,
// never read as whichever copy the decoder kept last.
func TestDecodeJSONKeyTwice(t *testing.T) {
	post := func(extra string) string {
		return `{"tid":7,"subject":"路灯不亮","content":{"text":"小区门口路灯坏了"},"user":{"nick":"王"}` + extra + `}`
	}
	page := func(posts ...string) string {
		return `{"data":{"list":[` + strings.Join(posts, ",") + `],"next_cursor":"c2"}}`
	}
	for _, tc := range []struct {
		name    string
		page    string
		pageErr string // a refused page names this
		bad     string // else the one bad post's reason holds this
	}{
		{name: "title twice", page: page(post(`,"subject":"另一标题"`)), bad: `field title ("subject") gives "subject" twice`},
		{name: "nested body twice", page: page(`{"tid":7,"subject":"s","content":{"text":"一","text":"二"}}`), bad: `field body ("content.text") gives "text" twice`},
		{name: "parent object twice", page: page(`{"tid":7,"subject":"s","user":{"nick":"甲"},"content":{"text":"x"},"user":{"nick":"乙"}}`), bad: `field author ("user.nick") gives "user" twice`},
		{name: "id twice", page: page(post(`,"tid":8`)), bad: `field id ("tid") gives "tid" twice`},
		{name: "unread key twice", page: page(post(`,"views":1,"views":2`))},
		{name: "same key in another post", page: page(post(``), `{"tid":8,"subject":"井盖缺失","content":{"text":"井盖丢了"}}`)},
		{name: "posts list twice", page: `{"data":{"list":[` + post(``) + `],"list":[]}}`, pageErr: `"list" twice on the path "data.list"`},
		{name: "data twice", page: `{"data":{"list":[]},"data":{"list":[` + post(``) + `]}}`, pageErr: `"data" twice on the path "data.list"`},
		{name: "next twice", page: `{"data":{"list":[` + post(``) + `],"next_cursor":"a","next_cursor":"b"}}`, pageErr: `"next_cursor" twice on the path "data.next_cursor"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeJSON([]byte(tc.page), &testMapping, cst)
			if tc.pageErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.pageErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.pageErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.bad == "" {
				if len(p.Bad) != 0 || len(p.Posts) == 0 {
					t.Fatalf("%d posts, bad %+v", len(p.Posts), p.Bad)
				}
				return
			}
			if len(p.Bad) != 1 || len(p.Posts) != 0 {
				t.Fatalf("%d posts, bad %+v", len(p.Posts), p.Bad)
			}
			if !strings.Contains(p.Bad[0].Reason, tc.bad) {
				t.Errorf("reason %q, want it to hold %s", p.Bad[0].Reason, tc.bad)
			}
			// The quarantined copy is the post as given, both copies in it.
			var c bytes.Buffer
			if err := json.Compact(&c, []byte(tc.page)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(c.Bytes(), p.Bad[0].Raw) {
				t.Errorf("raw %s is not the post as the page gave it", p.Bad[0].Raw)
			}
		})
	}
	// A good post beside a bad one still goes through.
	p, err := DecodeJSON([]byte(page(post(`,"subject":"x"`), `{"tid":9,"subject":"噪音扰民","content":{"text":"夜间施工"}}`)), &testMapping, cst)
	if err != nil || len(p.Posts) != 1 || p.Posts[0].ID != "9" || len(p.Bad) != 1 || p.Bad[0].ID != "7" {
		t.Fatalf("err %v, posts %+v, bad %+v", err, p.Posts, p.Bad)
	}
}
