package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

// TestBlobsGC: `minsheng blobs gc --dry-run` counts the old unreferenced
// blob and removes nothing; without --dry-run it removes that one alone;
// it refuses a data directory a gateway holds, and a directory that is
// none.
func TestBlobsGC(t *testing.T) {
	data := t.TempDir()
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(content string, age time.Duration) string {
		info, err := st.Blobs().PutBytes(ctx, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(data, "blobs", info.SHA256[:2], info.SHA256)
		then := time.Now().Add(-age)
		if err := os.Chtimes(path, then, then); err != nil {
			t.Fatal(err)
		}
		if age > 0 {
			it := &minsheng.Item{ID: minsheng.ItemID(minsheng.ChannelNewspaper, "qingdao-daily", content), Title: "附件",
				Attachments: []minsheng.Attachment{{Name: "身份证正面.jpg", SHA256: info.SHA256, Ref: info.Ref, Size: info.Size}}}
			if content == "referenced scan" {
				if err := st.Commit(ctx, &minsheng.Record{ID: it.ID, Item: it}); err != nil {
					t.Fatal(err)
				}
			}
		}
		return path
	}
	referenced := put("referenced scan", 72*time.Hour)
	orphan := put("scan of a letter refused with 409", 72*time.Hour)
	fresh := put("scan of a letter in flight", time.Minute)
	st.Close()

	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	stdout, stderr, code := runCmd(t, "blobs", "gc", "--data", data, "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`unreferenced, older\s+1\s+33 B  to remove \(dry run: nothing removed\)`).MatchString(stdout) ||
		!regexp.MustCompile(`referenced\s+1\s`).MatchString(stdout) || !regexp.MustCompile(`within 24h0m0s\s+1\s.*kept`).MatchString(stdout) {
		t.Fatalf("dry run's report:\n%s", stdout)
	}
	if strings.Contains(stdout+stderr, "身份证") || !exists(orphan) {
		t.Fatalf("dry run removed or named something:\n%s%s", stdout, stderr)
	}

	stdout, stderr, code = runCmd(t, "blobs", "gc", "--data", data)
	if code != 0 || !regexp.MustCompile(`unreferenced, older\s+1\s+33 B  removed`).MatchString(stdout) {
		t.Fatalf("exit %d:\n%s%s", code, stdout, stderr)
	}
	if exists(orphan) || !exists(referenced) || !exists(fresh) {
		t.Fatalf("after gc: orphan %v, referenced %v, fresh %v", exists(orphan), exists(referenced), exists(fresh))
	}
	// --grace shorter than the fresh blob's age takes it too.
	if _, stderr, code = runCmd(t, "blobs", "gc", "--data", data, "--grace", "30s"); code != 0 || exists(fresh) || !exists(referenced) {
		t.Fatalf("--grace 30s: exit %d, fresh %v: %s", code, exists(fresh), stderr)
	}

	st, err = store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCmd(t, "blobs", "gc", "--data", data, "--dry-run")
	st.Close()
	if code != exitFail || !strings.Contains(stderr, "another minsheng running") {
		t.Fatalf("on a data directory in use: exit %d: %s", code, stderr)
	}
	empty := t.TempDir()
	_, stderr, code = runCmd(t, "blobs", "gc", "--data", empty)
	if code != exitFail || !strings.Contains(stderr, "not a gateway's data directory") {
		t.Fatalf("on an empty directory: exit %d: %s", code, stderr)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("the empty directory got %d entries", len(ents))
	}
}
