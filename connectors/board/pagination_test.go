package board

import (
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// An old pinned (置顶) post heads page 1 in every read. Seven new posts
// arriving between two polls fill page 1 and spill onto page 2: the poll
// must read on past the pinned post to them (it used to stop at page 1 on
// seeing a post older than the watermark, and move the watermark past the
// posts on page 2).
func TestPinnedOldPostDoesNotEndPagination(t *testing.T) {
	s := newSim(t, 3)
	s.pinned = []simPost{{ID: 1, Time: base.Add(time.Minute), Title: "置顶: 留言须知"}}
	s.add(2, 3, 4, 5)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "pinned", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 5 })
	waitPolls(t, s, 2)
	s.add(6, 7, 8, 9, 10, 11, 12)
	waitPolls(t, s, 4)
	if m := missing(em, 1, 12); len(m) > 0 {
		t.Errorf("posts never emitted: %v (emitted %v)", m, emittedRefs(em))
	}
	for ref, n := range emittedRefs(em) {
		if n != 1 {
			t.Errorf("post %s emitted %d times", ref, n)
		}
	}
}

// A post made at exactly the watermark's time, appearing after the poll
// that set it, is emitted once.
func TestPostAtWatermarkTimeEmittedOnce(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "equal", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	s.mu.Lock()
	s.posts = append([]simPost{{ID: 200, Time: base.Add(3 * time.Minute)}}, s.posts...)
	s.mu.Unlock()
	waitPolls(t, s, 3)
	if n := emittedRefs(em)["200"]; n != 1 {
		t.Errorf("post 200 at the watermark's time emitted %d times, want once", n)
	}
}
