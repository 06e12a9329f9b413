package board

import (
	"io"
	"net/http"
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
