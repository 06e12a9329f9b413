package board

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/store"
)

// feed is an httptest message board whose pages the test changes as it
// goes. Each path+query is answered by a handler; requests are logged.
type feed struct {
	t   *testing.T
	mu  sync.Mutex
	h   map[string]http.HandlerFunc
	log []request
	srv *httptest.Server
}

type request struct {
	key    string
	at     time.Time
	inm    string
	status int
}

func newFeed(t *testing.T) *feed {
	f := &feed{t: t, h: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		f.mu.Lock()
		h := f.h[key]
		f.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		if h == nil {
			http.NotFound(rec, r)
		} else {
			h(rec, r)
		}
		f.mu.Lock()
		f.log = append(f.log, request{key: key, at: time.Now(), inm: r.Header.Get("If-None-Match"), status: rec.status})
		f.mu.Unlock()
	}))
	t.Cleanup(f.srv.Close)
	return f
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(c int) { s.status = c; s.ResponseWriter.WriteHeader(c) }

func (f *feed) set(key string, h http.HandlerFunc) {
	f.mu.Lock()
	f.h[key] = h
	f.mu.Unlock()
}

func (f *feed) requests(key string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.log {
		if r.key == key {
			out = append(out, r)
		}
	}
	return out
}

// file serves a testdata file, with an ETag when etag is set (and 304 for
// a matching If-None-Match).
func file(t *testing.T, name, ctype, etag string) http.HandlerFunc {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytesHandler(b, ctype, etag)
}

func bytesHandler(b []byte, ctype, etag string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	}
}

// failFirst answers status the first n times, then hands over to next.
func failFirst(n, status int, retryAfter string, next http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := n > 0
		n--
		mu.Unlock()
		if fail {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			http.Error(w, "upstream busy", status)
			return
		}
		next(w, r)
	}
}

func openStore(t *testing.T, dir string) *store.Store { return conntest.OpenStore(t, dir) }

// running is a connector started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, name string, cfg Config, st *store.Store, em minsheng.Emitter) *running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(name, cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx, em) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (r *running) stop(t *testing.T) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		r.done <- nil // later stops return at once
	case <-time.After(10 * time.Second):
		t.Fatal("connector did not stop within 10s of cancel")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quick(url string) Config {
	return Config{URL: url, Interval: 30 * time.Millisecond, MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, CheckpointEvery: 10 * time.Millisecond}
}

func ids(items []*minsheng.Item) map[string]int {
	m := map[string]int{}
	for _, it := range items {
		m[it.Ref]++
	}
	return m
}

func rssRefs() []string {
	var out []string
	for i := 3001; i <= 3012; i++ {
		out = append(out, "thread-"+strconv.Itoa(i))
	}
	return out
}

func checkpoint(t *testing.T, st *store.Store, name string) state {
	t.Helper()
	raw, err := st.Get(context.Background(), "board/"+name)
	if err != nil || raw == nil {
		t.Fatalf("checkpoint: %q, %v", raw, err)
	}
	var s state
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// A 500 in the middle of pagination: the poll stops there, emits what it
// read without moving the watermark, and the next poll picks up the rest;
// nothing is emitted twice. Then the first page answers 304 to the stored
// ETag and nothing more is emitted.
func TestRSSPaginationErrorMidwayThenETag(t *testing.T) {
	f := newFeed(t)
	f.set("/rss", file(t, "rss_page1.xml", "application/rss+xml", `"p1-v1"`))
	f.set("/rss?page=2", failFirst(1, http.StatusInternalServerError, "", file(t, "rss_page2.xml", "application/rss+xml", "")))
	f.set("/rss?page=3", file(t, "rss_page3.xml", "application/rss+xml", ""))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 5 * time.Millisecond}
	cfg := quick(f.srv.URL + "/rss")
	cfg.Retries = 0
	r := start(t, "people", cfg, st, em)

	waitFor(t, "12 posts", func() bool { return len(em.Emitted()) >= 12 })
	waitFor(t, "a 304 on the first page", func() bool {
		for _, q := range f.requests("/rss") {
			if q.status == http.StatusNotModified && q.inm == `"p1-v1"` {
				return true
			}
		}
		return false
	})
	r.stop(t)
	em.Wait()

	got := ids(em.Emitted())
	for _, ref := range rssRefs() {
		if got[ref] != 1 {
			t.Errorf("post %s emitted %d times, want once", ref, got[ref])
		}
	}
	if len(got) != 12 {
		t.Errorf("emitted %d distinct posts: %v", len(got), got)
	}
	if n := len(f.requests("/rss?page=2")); n < 2 {
		t.Errorf("page 2 requested %d times; the 500 should have been retried by the next poll", n)
	}
	if inv := em.Invalid(); len(inv) > 0 {
		t.Errorf("invalid items emitted: %v", inv)
	}
	s := checkpoint(t, st, "people")
	if want := time.Date(2024, 3, 6, 21, 50, 0, 0, cst); !s.Watermark.Equal(want) {
		t.Errorf("watermark %v, want %v (the newest post, all acked)", s.Watermark, want)
	}
	if s.ETag != `"p1-v1"` || len(s.Posts) != 12 {
		t.Errorf("checkpoint etag %q, %d posts tracked", s.ETag, len(s.Posts))
	}
	it := em.Emitted()[0]
	if it.Channel != minsheng.ChannelMessageBoard || it.Source != "people" || it.ID != minsheng.ItemID(it.Channel, "people", it.Ref) ||
		it.Attrs["url"] == "" || it.Complainant.Name == "" || it.SubmittedAt.IsZero() {
		t.Errorf("item fields: %+v", it)
	}
}

// 429 with Retry-After: the retry waits at least that long.
func TestRetryAfterHonoured(t *testing.T) {
	f := newFeed(t)
	f.set("/rss", failFirst(1, http.StatusTooManyRequests, "1", file(t, "rss_page3.xml", "application/rss+xml", "")))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(f.srv.URL + "/rss")
	cfg.Retries = 3
	start(t, "people", cfg, st, em)
	waitFor(t, "4 posts", func() bool { return len(em.Emitted()) >= 4 })
	reqs := f.requests("/rss")
	if len(reqs) < 2 || reqs[0].status != http.StatusTooManyRequests {
		t.Fatalf("requests: %+v", reqs)
	}
	if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
		t.Errorf("retried %v after a 429 with Retry-After: 1", gap)
	}
}

// A malformed page is quarantined with its reason and raw bytes — once,
// however often it is polled — and the feed goes on when the page is fixed.
func TestMalformedPageQuarantinedFeedContinues(t *testing.T) {
	f := newFeed(t)
	f.set("/rss", file(t, "malformed.xml", "application/rss+xml", ""))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(f.srv.URL + "/rss")
	cfg.Pagination.Mode = PageNone
	start(t, "people", cfg, st, em)
	waitFor(t, "several polls of the broken page", func() bool { return len(f.requests("/rss")) >= 3 })
	qs := em.Quarantined()
	if len(qs) == 0 {
		t.Fatal("malformed page not quarantined")
	}
	raw, _ := os.ReadFile("testdata/malformed.xml")
	for _, q := range qs {
		if q.ID() != qs[0].ID() {
			t.Errorf("the same broken page quarantined under different IDs: %s, %s", q.ID(), qs[0].ID())
		}
		if !strings.Contains(q.Reason, "malformed RSS") || string(q.Raw) != string(raw) || !strings.HasPrefix(q.RawRef, "sha256:") {
			t.Errorf("quarantined: reason %q, %d raw bytes, raw ref %q", q.Reason, len(q.Raw), q.RawRef)
		}
	}
	if len(qs) > 1 && em.Duplicates() == 0 {
		t.Error("re-quarantined page not recognised as a repeat")
	}
	f.set("/rss", file(t, "rss_page1.xml", "application/rss+xml", ""))
	waitFor(t, "posts after the fix", func() bool { return len(em.Emitted()) >= 4 })
}

// JSON API with cursor pagination and nested field mapping; malformed
// posts quarantined; an edited post becomes a revision naming the original;
// a change of reply status alone is not an edit.
func TestJSONCursorEditsAndBadPosts(t *testing.T) {
	f := newFeed(t)
	page1, err := os.ReadFile("testdata/json_page1.json")
	if err != nil {
		t.Fatal(err)
	}
	f.set("/api/posts", bytesHandler(page1, "application/json; charset=utf-8", ""))
	f.set("/api/posts?cursor=c2", file(t, "json_page2.json", "application/json", ""))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 3 * time.Millisecond}
	cfg := quick(f.srv.URL + "/api/posts")
	cfg.Format = FormatJSON
	cfg.Pagination = Pagination{Mode: PageCursor}
	cfg.JSON = testMapping
	start(t, "json-board", cfg, st, em)
	waitFor(t, "12 posts and 3 quarantined", func() bool { return len(em.Emitted()) >= 12 && len(em.Quarantined()) >= 3 })

	edited := strings.Replace(string(page1), "晚上行人经过很不安全。", "晚上行人经过很不安全。补充：今天又有一位老人摔倒。", 1)
	edited = strings.Replace(edited, `"status": "未回复"`, `"status": "已回复"`, -1) // reply status only: not an edit
	f.set("/api/posts", bytesHandler([]byte(edited), "application/json", ""))
	waitFor(t, "the revision", func() bool { return len(em.Emitted()) >= 13 })
	polls := len(f.requests("/api/posts"))
	waitFor(t, "three more polls", func() bool { return len(f.requests("/api/posts")) >= polls+3 })

	items := em.Emitted()
	if len(items) != 13 {
		t.Fatalf("%d items emitted, want 12 posts and 1 revision: %v", len(items), ids(items))
	}
	rev := items[12]
	origID := minsheng.ItemID(minsheng.ChannelMessageBoard, "json-board", "3011")
	if !strings.HasPrefix(rev.Ref, "3011#") || rev.RevisionOf != origID || rev.ID == origID ||
		!strings.Contains(rev.Body, "老人摔倒") || rev.Attrs["post_id"] != "3011" {
		t.Errorf("revision: ref %q revision_of %q id %q body %q", rev.Ref, rev.RevisionOf, rev.ID, rev.Body)
	}
	// The bad posts are on page 2, which every poll reads (the overlap
	// page): each poll quarantines them again under the same IDs, which
	// the pipeline answers as duplicates.
	qids := map[string]bool{}
	for _, q := range em.Quarantined() {
		qids[q.ID()] = true
	}
	if len(qids) != 3 {
		t.Errorf("%d distinct quarantines, want the 3 bad posts", len(qids))
	}
	if inv := em.Invalid(); len(inv) > 0 {
		t.Errorf("invalid items emitted: %v", inv)
	}
	if s := checkpoint(t, st, "json-board"); s.Posts["3011"].H != contentHash(Post{Title: rev.Title, Body: rev.Body}) {
		t.Errorf("checkpoint keeps hash %q for 3011, not the revision's", s.Posts["3011"].H)
	}
}

// Cancel the connector while items are in flight and start it again on the
// same (reopened) store: every post is handled, and whatever is emitted
// again is emitted under the same item ID, so the ledger sees repeats.
func TestKillAndRestartLosesNothing(t *testing.T) {
	f := newFeed(t)
	f.set("/rss", file(t, "rss_page1.xml", "application/rss+xml", `"e1"`))
	f.set("/rss?page=2", file(t, "rss_page2.xml", "application/rss+xml", ""))
	f.set("/rss?page=3", file(t, "rss_page3.xml", "application/rss+xml", ""))
	dir := t.TempDir()
	want := map[string]bool{}
	for _, ref := range rssRefs() {
		want[minsheng.ItemID(minsheng.ChannelMessageBoard, "people", ref)] = true
	}
	handled := map[string]int{}
	var emittedIDs []string
	for run := 0; run < 3; run++ {
		st := openStore(t, dir)
		em := &conntest.Emitter{Ledger: st, MaxDelay: 40 * time.Millisecond, MaxInFlight: 3}
		r := start(t, "people", quick(f.srv.URL+"/rss"), st, em)
		allHandled := func() bool {
			n := 0
			for id := range want {
				if _, err := st.Lookup(context.Background(), id); err == nil {
					n++
				}
			}
			return n == len(want)
		}
		if run < 2 {
			// Stop mid-way: after a few acks (or at the end, on a fast run).
			waitFor(t, "some acks", func() bool { return em.Acked() >= 3 || allHandled() })
		} else {
			waitFor(t, "every post handled", allHandled)
		}
		r.stop(t)
		em.Wait()
		for id, n := range em.Handled() {
			handled[id] += n
		}
		for _, it := range em.Emitted() {
			emittedIDs = append(emittedIDs, it.ID)
		}
		st.Close()
	}
	for id := range want {
		if handled[id] != 1 {
			t.Errorf("item %s handled %d times", id, handled[id])
		}
	}
	for _, id := range emittedIDs {
		if !want[id] {
			t.Errorf("emitted an unexpected item ID %s: a repeat under a new ID", id)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	st := openStore(t, t.TempDir())
	for _, tc := range []struct {
		cfg  Config
		path string
	}{
		{Config{}, "url"},
		{Config{URL: "ftp://x"}, "url"},
		{Config{URL: "http://x", Format: "csv"}, "format"},
		{Config{URL: "http://x", Edits: "merge"}, "edits"},
		{Config{URL: "http://x", Pagination: Pagination{Mode: PageCursor}}, "json.next"},
		{Config{URL: "http://x", TokenEnv: "MINSHENG_TEST_UNSET_TOKEN"}, "token_env"},
		// what the HTTP client would refuse at every poll
		{Config{URL: "https://x:99999/feed"}, "url"},
		{Config{URL: "https://x:/feed"}, "url"},
		{Config{URL: "http://x", Headers: map[string]string{"Api Key": "k"}}, "headers[Api Key]"},
		{Config{URL: "http://x", Headers: map[string]string{"X-Api-Key": "SECRET\nk"}}, "headers[X-Api-Key]"},
	} {
		_, err := New("b", tc.cfg, connectors.Env{Checkpoints: st})
		fes, ok := err.(minsheng.FieldErrors)
		if !ok || len(fes) == 0 || fes[0].Path != tc.path {
			t.Errorf("config %+v: err %v, want a field error on %s", tc.cfg, err, tc.path)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("config %+v: err %v shows a header's value", tc.cfg, err)
		}
	}
}

func TestRegistered(t *testing.T) {
	f, ok := connectors.Lookup(Type)
	if !ok {
		t.Fatal("board not registered")
	}
	st := openStore(t, t.TempDir())
	src, err := f("b", func(c any) error { c.(*Config).URL = "https://liuyan.example.gov.cn/rss"; return nil }, connectors.Env{Checkpoints: st})
	if err != nil || src == nil {
		t.Fatalf("factory: %v", err)
	}
}

// TestQuarantineLogsNoInput: a quarantined page's reason, which quotes the
// page, is kept whole in the quarantine record for staff; the log names
// only the kind of failure and the record's ref, here and in the line
// saying the poll was incomplete.
func TestQuarantineLogsNoInput(t *testing.T) {
	const secret = "BOARDRAW_13812340001"
	f := newFeed(t)
	f.set("/feed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, secret+" 张三 is not a feed")
	})
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(f.srv.URL + "/feed")
	cfg.Pagination.Mode = PageNone
	var logs conntest.LogBuffer
	b, err := New("people", cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(),
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, em) }()
	waitFor(t, "two polls of the page", func() bool { return len(f.requests("/feed")) >= 2 && len(em.Quarantined()) > 0 })
	cancel()
	<-done

	q := em.Quarantined()[0]
	if !strings.Contains(q.Reason, `not a feed: body starts with "BOARDRAW_1381234"`) {
		t.Errorf("quarantine reason %q; want it whole, quoting the page", q.Reason)
	}
	out := logs.String()
	if strings.Contains(out, "BOARDRAW") || strings.Contains(out, "张三") {
		t.Errorf("the log quotes the page:\n%s", out)
	}
	for _, want := range []string{`"msg":"page quarantined"`, `"ref":"` + q.Ref + `"`, `"reason_code":"page_undecodable"`, `"msg":"poll incomplete; retrying next interval"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}
