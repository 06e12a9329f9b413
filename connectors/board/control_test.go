package board

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/internal/textenc"
)

// TestControlCharactersReplaced: a JSON board's post whose title, text and
// author hold control characters (\u0000, \u001b: the desk would refuse
// them with 400) becomes an item with each replaced by U+FFFD,
// attrs.text_notes naming the fields, and raw_ref holding the post as
// read; a clean post gets neither.
func TestControlCharactersReplaced(t *testing.T) {
	page := `{"data":{"list":[` +
		`{"tid":7001,"subject":"路灯\u0000损坏","content":{"text":"六盏路灯不亮\u001b[2J\f请修理\u007f"},"user":{"nick":"赵\u0000先生"},"created":"2024/3/3 16:20:00","reply":{"status":"未回复\u001b"}},` +
		`{"tid":7002,"subject":"噪音扰民","content":{"text":"第一页\f第二页"},"user":{"nick":"陈师傅"},"created":"2024/3/3 16:10:00"}]}}`
	f := newFeed(t)
	f.set("/api/posts", bytesHandler([]byte(page), "application/json; charset=utf-8", ""))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(f.srv.URL + "/api/posts")
	cfg.Format = FormatJSON
	cfg.Pagination = Pagination{Mode: PageCursor}
	cfg.JSON = testMapping
	start(t, "ctl-board", cfg, st, em)
	waitFor(t, "2 posts", func() bool { return len(em.Emitted()) >= 2 })
	em.Wait()
	if inv := em.Invalid(); len(inv) > 0 {
		t.Errorf("invalid items: %v", inv)
	}
	by := map[string]int{}
	items := em.Emitted()
	for i, it := range items {
		by[it.Ref] = i
	}
	it := items[by["7001"]]
	if it.Title != "路灯\uFFFD损坏" || it.Body != "六盏路灯不亮\uFFFD[2J\f请修理\uFFFD" || it.Complainant.Name != "赵\uFFFD先生" || it.Attrs["reply_status"] != "未回复\uFFFD" {
		t.Errorf("title %q, body %q, name %q, reply_status %q", it.Title, it.Body, it.Complainant.Name, it.Attrs["reply_status"])
	}
	for _, s := range []string{it.Complainant.Name, it.Attrs["reply_status"], it.Attrs["post_id"]} {
		if textenc.ControlAt(s, false) >= 0 {
			t.Errorf("%q holds a control character", s)
		}
	}
	raw := conntest.Mended(t, st, it, "title 1 control character (U+0000)", "body 2 control characters (U+001B, U+007F)",
		"complainant.name 1 control character (U+0000)", "attrs 1 control character (U+001B)", "raw_ref")
	var p Post
	if err := json.Unmarshal(raw, &p); err != nil || p.Title != "路灯\x00损坏" || p.Author != "赵\x00先生" || !p.Time.Equal(time.Date(2024, 3, 3, 16, 20, 0, 0, p.Time.Location())) {
		t.Errorf("raw_ref holds %q (%v), want the post as read", raw, err)
	}
	if c := items[by["7002"]]; c.Body != "第一页\f第二页" || c.Attrs["text_notes"] != "" || c.RawRef != "" {
		t.Errorf("clean post's item: %+v", c)
	}
}
