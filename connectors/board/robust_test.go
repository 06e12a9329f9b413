package board

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// Pagination mode "page": page 2 comes back once as a 200 with a captcha
// (WAF) page. It is quarantined and the poll reads on, but the poll is
// incomplete: the watermark does not pass the posts that were on page 2,
// and the next poll reads them (the poll used to count as complete and the
// posts were lost; the quarantine held only the captcha).
func TestPageModeJunkPageHoldsWatermark(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3)
	var junk atomic.Int32
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.Pagination = Pagination{Mode: PageNumber}
	// wrap the sim: page 2 answers a captcha page once, when armed
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" && junk.CompareAndSwap(1, 2) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>访问过于频繁，请输入验证码</body></html>")
			return
		}
		inner.ServeHTTP(w, r)
	})
	start(t, "junk", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	junk.Store(1)
	s.add(4, 5, 6, 7, 8, 9, 10) // page1: 10 9 8, page2: 7 6 5, page3: 4 3 2
	waitPolls(t, s, 5)
	if m := missing(em, 1, 10); len(m) > 0 {
		t.Errorf("posts never emitted: %v; quarantined %d", m, len(em.Quarantined()))
	}
	if n := len(em.Quarantined()); n != 1 {
		t.Errorf("%d pages quarantined, want the captcha once", n)
	}
}

// Page 2 stalls half-way through its body (timeout) on the first poll; the
// connector is stopped and restarted between pages. Every post is handled
// exactly once.
func TestStalledPageThenRestartHandlesEachOnce(t *testing.T) {
	s := newSim(t, 3)
	for i := 1; i <= 9; i++ {
		s.add(i)
	}
	var stall atomic.Bool
	stall.Store(true)
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "2" && stall.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "5000")
			io.WriteString(w, `{"list":[{"id":6,`)
			w.(http.Flusher).Flush()
			time.Sleep(400 * time.Millisecond)
			return
		}
		inner.ServeHTTP(w, r)
	})
	dir := t.TempDir()
	handled := map[string]int{}
	for run := 0; run < 2; run++ {
		st := openStore(t, dir)
		em := &conntest.Emitter{Ledger: st, MaxDelay: 5 * time.Millisecond}
		cfg := simCfg(s.srv.URL)
		cfg.Timeout = 100 * time.Millisecond
		cfg.Retries = 1
		r := start(t, "stall", cfg, st, em)
		if run == 0 {
			waitFor(t, "page 1 posts", func() bool { return len(em.Emitted()) >= 3 })
			time.Sleep(300 * time.Millisecond)
		} else {
			stall.Store(false)
			waitPolls(t, s, 3)
		}
		r.stop(t)
		em.Wait()
		for id, n := range em.Handled() {
			handled[id] += n
		}
		for ref, n := range ids(em.Emitted()) {
			t.Logf("run %d emitted %s x%d", run, ref, n)
		}
		st.Close()
	}
	if len(handled) != 9 {
		t.Errorf("%d distinct posts handled, want 9", len(handled))
	}
	for id, n := range handled {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

// A backlog deeper than 10×max_pages pages (a connector stopped over a
// weekend on a busy board) is never reached: every later poll stops at the
// fetch cap. It used to wedge the connector for good (the watermark never
// moved again, and the post table, which trim() may not cut above the
// watermark, grew without bound past track_posts). After stuck_polls such
// polls the next is taken as complete, with an ERROR: the posts beyond the
// cap (3..12) are given up, by design, and the watermark and table recover.
func TestDeepBacklogGivenUpAfterStuckPolls(t *testing.T) {
	s := newSim(t, 2)
	s.add(1, 2)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.MaxPages = 1
	cfg.TrackPosts = 5
	cfg.StuckPolls = 5
	start(t, "backlog", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 2 })
	waitPolls(t, s, 2)
	wm0 := checkpoint(t, st, "backlog").Watermark
	for id := 3; id <= 32; id++ { // 15 pages of 2
		s.add(id)
	}
	waitPolls(t, s, 25)
	for id := 33; id <= 40; id++ { // life goes on
		s.add(id)
		waitPolls(t, s, 1)
	}
	waitPolls(t, s, 3)
	cp := checkpoint(t, st, "backlog")
	if m := missing(em, 1, 40); fmt.Sprint(m) != "[3 4 5 6 7 8 9 10 11 12]" {
		t.Errorf("posts never emitted: %v, want only those beyond the fetch cap, 3..12", m)
	}
	if cp.Watermark.Equal(wm0) {
		t.Errorf("watermark stuck at %v after 30+ polls", wm0)
	}
	if len(cp.Posts) > cfg.TrackPosts {
		t.Errorf("post table holds %d entries, track_posts is %d", len(cp.Posts), cfg.TrackPosts)
	}
}

// One post the board writes as malformed JSON (a raw control character or
// newline in a hand-rolled JSON string) breaks every page it is on. It
// arrives newer than the watermark, so every later poll is incomplete; it
// used to wedge the watermark for good, with the post table growing past
// track_posts and each poll reading down to the post's page. After
// stuck_polls such polls the next is taken as complete: post 5 is given up
// (its page is in the dead letter), the watermark moves, trim bounds the
// table.
func TestPermanentlyBrokenPostGivenUpAfterStuckPolls(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.Pagination = Pagination{Mode: PageNumber}
	cfg.TrackPosts = 5
	cfg.StuckPolls = 5
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		body := strings.Replace(rec.Body.String(), `"body of 5"`, "\"body\x01of 5\"", 1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
	start(t, "broken", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	wm0 := checkpoint(t, st, "broken").Watermark
	s.add(4, 5, 6, 7)
	waitPolls(t, s, 2)
	for id := 8; id <= 30; id++ {
		s.add(id)
		waitPolls(t, s, 1)
	}
	waitPolls(t, s, 2)
	cp := checkpoint(t, st, "broken")
	t.Logf("watermark %v (was %v), %d posts in table, forgotten %d, %d quarantines, missing %v",
		cp.Watermark, wm0, len(cp.Posts), cp.Forgotten, len(em.Quarantined()), missing(em, 1, 30))
	if cp.Watermark.Equal(wm0) {
		t.Errorf("watermark stuck at %v: one malformed post wedges it for good", wm0)
	}
	if m := missing(em, 1, 30); fmt.Sprint(m) != "[5]" {
		t.Errorf("posts never emitted: %v, want only the malformed post 5", m)
	}
	if len(cp.Posts) > cfg.TrackPosts {
		t.Errorf("post table holds %d entries, track_posts is %d", len(cp.Posts), cfg.TrackPosts)
	}
}
