package board

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

func gbkBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const gbkJSONPage = `{"list":[{"id":"1","title":"小区路灯坏了","content":"晚上很黑，老人摔倒","time":"2024-05-01 10:00:00"}]}`

// toUTF8 follows a declared charset unless it reads valid UTF-8 only as
// U+FFFD; with no charset, bytes that are not UTF-8 are read as GB18030
// when they decode cleanly.
func TestToUTF8(t *testing.T) {
	utf := []byte(gbkJSONPage)
	gbk := gbkBytes(t, gbkJSONPage)
	junk := []byte("{\"list\":[{\"id\":\"1\",\"title\":\"\xff\xfe\x80\"}]}")
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		want        []byte
		note        string
	}{
		{"UTF-8, no charset", "application/json", utf, utf, ""},
		{"UTF-8 declared", "application/json; charset=utf-8", utf, utf, ""},
		{"GBK declared", "application/json; charset=GBK", gbk, utf, ""},
		{"GBK, no charset", "application/json", gbk, utf, noteGB18030},
		{"GBK declared UTF-8", "application/json; charset=UTF-8", gbk, utf, noteGB18030},
		{"GBK JSON served as text/html", "text/html", gbk, utf, noteGB18030},
		{"UTF-8 labelled GBK", "application/json; charset=GBK", utf, utf, noteUTF8Mislabel},
		{"neither UTF-8 nor GB18030", "application/json", junk, junk, ""},
		{"XML is left alone", "application/rss+xml", gbk[:20], gbk[:20], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := toUTF8(tc.ctype, tc.body)
			if string(got) != string(tc.want) || note != tc.note {
				t.Errorf("toUTF8 = %q, note %q; want %q, note %q", got, note, tc.want, tc.note)
			}
		})
	}
}

// DecodeJSON checks the bytes, since encoding/json turns invalid UTF-8
// into U+FFFD without a word: a post holding invalid UTF-8 is a bad post
// (with its bytes as sent), invalid UTF-8 outside the posts a bad page.
func TestDecodeJSONInvalidUTF8(t *testing.T) {
	m := &JSONMapping{Items: "list", Next: "next"}
	page := "{\"list\":[{\"id\":\"1\",\"title\":\"ok\"},{\"id\":\"2\",\"title\":\"\xd0\xa1\xc7\xf8\"}],\"next\":\"/p2\"}"
	p, err := DecodeJSON([]byte(page), m, cst)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Posts) != 1 || p.Posts[0].ID != "1" || len(p.Bad) != 1 || p.Bad[0].ID != "2" ||
		p.Bad[0].Reason != "post is not valid UTF-8" || !strings.Contains(string(p.Bad[0].Raw), "\xd0\xa1\xc7\xf8") {
		t.Errorf("posts %+v, bad %+v", p.Posts, p.Bad)
	}
	for _, bad := range []string{
		"{\"list\":[{\"id\":\"1\",\"title\":\"ok\"}],\"next\":\"/p\xc7\xf8\"}",
		"{\"list\":[{\"id\":\"1\",\"title\":\"ok\"}],\"notice\":\"\xc7\xf8\"}",
		"{\"list\":[],\"\xc7\xf8\":1}",
	} {
		_, err := DecodeJSON([]byte(bad), m, cst)
		if err == nil || !strings.Contains(err.Error(), "not valid UTF-8 (first bad byte at offset") {
			t.Errorf("DecodeJSON(%q): err %v, want the page refused as not UTF-8", bad, err)
		}
	}
}

// A GBK JSON page served without a charset is read as GB18030: its posts
// are emitted in Chinese, not with every character turned into U+FFFD.
func TestGBKJSONWithoutCharsetReadAsGB18030(t *testing.T) {
	f := newFeed(t)
	f.set("/api", bytesHandler(gbkBytes(t, gbkJSONPage), "application/json", ""))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(f.srv.URL + "/api")
	cfg.Format = FormatJSON
	cfg.JSON = JSONMapping{Items: "list"}
	cfg.Pagination.Mode = PageNone
	start(t, "gbk", cfg, st, em)
	waitFor(t, "the post", func() bool { return len(em.Emitted())+len(em.Quarantined()) >= 1 })
	items := em.Emitted()
	if len(items) != 1 || items[0].Title != "小区路灯坏了" || items[0].Body != "晚上很黑，老人摔倒" {
		t.Errorf("emitted %d items (quarantined %d); first: %+v", len(items), len(em.Quarantined()), items)
	}
}

// An RSS feed in GBK with no XML declaration cannot be read: the page is
// refused (and so quarantined), never decoded into replaced text.
func TestDecodeGBKRSSWithoutDeclarationRefused(t *testing.T) {
	page := gbkBytes(t, `<rss version="2.0"><channel><item><guid>g1</guid><title>小区路灯坏了</title><description>晚上很黑</description><pubDate>Wed, 01 May 2024 10:00:00 +0800</pubDate></item></channel></rss>`)
	p, err := Decode(FormatAuto, page, nil, cst)
	if err == nil {
		t.Errorf("GBK RSS without a declaration decoded: posts %+v, bad %+v", p.Posts, p.Bad)
	}
}

// A UTF-8 board that cuts a title by bytes leaves one truncated character:
// the page is not valid UTF-8, but mostly is. It must be left as UTF-8 (for
// DecodeJSON to quarantine the one bad post), not read as GB18030: this
// page happens to decode cleanly so (as about 1 in 20 short pages do), and
// every post on it used to be emitted as mojibake.
func TestTruncatedUTF8PageNotReadAsGB18030(t *testing.T) {
	page := []byte("{\"list\":[{\"id\":\"0\",\"title\":\"晚上难施\xe6\x96\",\"content\":\"垃圾\"}]}")
	got, note := toUTF8("application/json", page)
	if note != "" || string(got) != string(page) {
		t.Errorf("UTF-8 page with one truncated character read with note %q: %s", note, got)
	}
}
