package board

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestRepeatedLastPageWithANewPostCompletes: a one-page board answering
// every page number past the end with its last page. A new post is on
// every copy, so no page is ever "reached"; the third copy in a row ends
// the poll as complete (before, every poll stopped at max_pages,
// incomplete, and the watermark never moved).
func TestRepeatedLastPageWithANewPostCompletes(t *testing.T) {
	s := newSim(t, 10)
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.Pagination = Pagination{Mode: PageNumber}
	cfg.MaxPages = 3
	cfg.StuckPolls = 1
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := strconv.Atoi(r.URL.Query().Get("page")); p > 1 {
			q := r.URL.Query()
			q.Set("page", "1")
			r.URL.RawQuery = q.Encode()
		}
		inner.ServeHTTP(w, r)
	})
	start(t, "onepage", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	time.Sleep(200 * time.Millisecond)
	wm0 := checkpoint(t, st, "onepage").Watermark
	s.add(4)
	waitFor(t, "post 4", func() bool { return emittedRefs(em)["4"] >= 1 })
	s.mu.Lock()
	before := len(s.served)
	s.mu.Unlock()
	time.Sleep(1500 * time.Millisecond)
	s.mu.Lock()
	after := len(s.served)
	s.mu.Unlock()
	cp := checkpoint(t, st, "onepage")
	want := base.Add(4 * time.Minute)
	if !cp.Watermark.Equal(want) {
		t.Errorf("watermark %v (was %v), want post 4's time %v; stuck=%d; %d page reads since post 4",
			cp.Watermark, wm0, want, cp.Stuck, after-before)
	}
}

// TestShortGBKPageReadAsGB18030: a GBK page without a charset whose
// Chinese is a short reply status, some of whose pairs are valid two-byte
// UTF-8, is read as GB18030, not taken for UTF-8 with slips and refused.
func TestShortGBKPageReadAsGB18030(t *testing.T) {
	g, _ := simplifiedchinese.GBK.NewEncoder().String("已回复")
	var b strings.Builder
	b.WriteString(`{"list":[`)
	for i := 1; i <= 5; i++ {
		if i > 1 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d,"title":"post %d","status":"%s","time":"2024-05-01T10:00:00+08:00"}`, i, i, g)
	}
	b.WriteString(`]}`)
	out, note := toUTF8("application/json", []byte(b.String()))
	if note != noteGB18030 || !strings.Contains(string(out), "已回复") {
		t.Errorf("GBK page not read as GB18030: note %q, mostlyUTF8=%v", note, mostlyUTF8([]byte(b.String())))
	}
}

// TestJunkPageForMinutesLosesNothing: a junk page (an HTTP 200
// maintenance or captcha page) served on page 2 for six polls, six minutes
// at the default interval, gives up nothing: stuck_polls is 60 by default
// (it was 5, and the posts on the page were lost for good).
func TestJunkPageForMinutesLosesNothing(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	var junk atomic.Bool
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if junk.Load() && r.URL.Query().Get("page") == "2" {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>系统维护中</html>")
			return
		}
		inner.ServeHTTP(w, r)
	})
	start(t, "junk", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	junk.Store(true)
	s.add(4, 5, 6, 7, 8, 9, 10, 11, 12) // 12 11 10 | 9 8 7 | 6 5 4 | 3 2 1
	waitPolls(t, s, 8)                  // stuck_polls (default 5) + 3
	junk.Store(false)
	waitPolls(t, s, 5)
	if m := missing(em, 1, 12); len(m) > 0 {
		t.Errorf("posts never emitted after a passing junk page 2: %v (watermark %v)", m, checkpoint(t, st, "junk").Watermark)
	}
}
