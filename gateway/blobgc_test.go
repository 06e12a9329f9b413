package gateway

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/desk"
)

// TestBlobGCInTheGateway: the attachment of a letter refused with 409 (a
// reused ref) is stored and then referred to by nothing; with
// store.blob_gc.interval set, the gateway removes it at start once it is
// older than the grace period, and keeps the accepted letter's attachment.
func TestBlobGCInTheGateway(t *testing.T) {
	c := testConfig(t, nil)
	r := start(t, c)
	ct, body := multipartItem(submission("GC-1", 1), map[string][]byte{"现场照片.jpg": []byte("photo of the accepted letter")})
	a := call(t, "POST", r.url+"/v1/items", deskToken, ct, body)
	if a.status != http.StatusAccepted {
		t.Fatalf("%d %s", a.status, a.body)
	}
	var acc desk.Accepted
	a.decode(t, &acc)
	ct, body = multipartItem(submission("GC-1", 2), map[string][]byte{"身份证.jpg": []byte("ID card scan of the refused letter")})
	if a := call(t, "POST", r.url+"/v1/items", deskToken, ct, body); a.status != http.StatusConflict {
		t.Fatalf("reused ref: %d %s", a.status, a.body)
	}
	rec, err := r.g.Store().Lookup(t.Context(), acc.ID)
	if err != nil || len(rec.Item.Attachments) != 1 {
		t.Fatalf("%+v %v", rec, err)
	}
	kept := filepath.Join(c.Data, "blobs", rec.Item.Attachments[0].SHA256[:2], rec.Item.Attachments[0].SHA256)
	r.stop()

	blobs, _ := filepath.Glob(filepath.Join(c.Data, "blobs", "??", "*"))
	if len(blobs) != 2 {
		t.Fatalf("%d blobs stored, want 2", len(blobs))
	}
	then := time.Now().Add(-48 * time.Hour)
	for _, b := range blobs {
		if err := os.Chtimes(b, then, then); err != nil {
			t.Fatal(err)
		}
	}
	c2 := *c
	c2.Store.BlobGC.Interval = time.Hour
	start(t, &c2)
	if !waitUntil(10*time.Second, func() bool {
		left, _ := filepath.Glob(filepath.Join(c.Data, "blobs", "??", "*"))
		return len(left) == 1
	}) {
		t.Fatal("the refused letter's attachment was not collected at start")
	}
	if _, err := os.Stat(kept); err != nil {
		t.Fatalf("the accepted letter's attachment: %v", err)
	}
}

// TestBlobGCConfigErrors: limits on store.blob_gc name their field.
func TestBlobGCConfigErrors(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte("store:\n  blob_gc: {interval: 10s, grace: 10m}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(f)
	if err == nil || !strings.Contains(err.Error(), "store.blob_gc.interval") || !strings.Contains(err.Error(), "must be at least 1m") ||
		!strings.Contains(err.Error(), "store.blob_gc.grace") || !strings.Contains(err.Error(), "must be at least 1h") {
		t.Fatalf("%v", err)
	}
}
