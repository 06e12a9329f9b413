package board

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
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

// The author deletes post 12 (on page 1) while the poll is between page 1
// and page 2: post 9 moves up onto page 1, already read, and this poll
// misses it. The next poll finds it on page 1; it is emitted though older
// than the watermark, as its id was never acknowledged (it used to be
// skipped as "handled before").
func TestPostShiftedUpByDeletionEmittedNextPoll(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3, 4, 5, 6)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "deleted", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 6 })
	waitPolls(t, s, 2)
	done := false
	s.mu.Lock()
	s.hook = func(page int) {
		if page == 2 && !done {
			done = true
			s.remove(12)
		}
	}
	s.mu.Unlock()
	s.add(7, 8, 9, 10, 11, 12)
	waitPolls(t, s, 4)
	if m := missing(em, 7, 11); len(m) > 0 {
		t.Errorf("posts never emitted: %v (emitted %v)", m, emittedRefs(em))
	}
}

// One post dated in the future (a pinned notice with a far publish date, a
// board writing UTC times read as Asia/Shanghai, a test post) must not move
// the watermark there: it used to, and from then on no post was "pending",
// every poll stopped at page 1, and a burst of new posts spilling onto
// page 2 was lost.
func TestFutureDatedPostDoesNotEndPagination(t *testing.T) {
	s := newSim(t, 3)
	// A year after the real now (the sim's posts are dated in 2024: base).
	s.pinned = []simPost{{ID: 999, Time: time.Now().AddDate(1, 0, 0), Title: "置顶: 留言须知"}}
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "future", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 4 })
	waitPolls(t, s, 2)
	s.add(4, 5, 6, 7, 8, 9, 10)
	waitPolls(t, s, 4)
	if m := missing(em, 1, 10); len(m) > 0 {
		t.Errorf("posts never emitted: %v (watermark %v)", m, checkpoint(t, st, "future").Watermark)
	}
}

// A deletion on page 2 while the poll is between page 2 and page 3 shifts
// a new post (12) up onto page 2, already read. The next poll finds page 1
// holding no pending post; it must still read page 2 (the overlap page) and
// emit post 12 (it used to stop at page 1, and post 12 was lost).
func TestPostShiftedOntoPage2ByDeletionEmittedNextPoll(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3, 4, 5, 6)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "shift2", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 6 })
	waitPolls(t, s, 2)
	var armed atomic.Bool
	s.mu.Lock()
	s.hook = func(page int) {
		if page == 3 && armed.CompareAndSwap(true, false) {
			s.remove(14) // on page 2: 18 17 16 | 15 14 13 | 12 11 10
		}
	}
	s.mu.Unlock()
	s.mu.Lock()
	for id := 7; id <= 18; id++ {
		p := simPost{ID: id, Time: base.Add(time.Duration(id) * time.Minute)}
		s.posts = append([]simPost{p}, s.posts...)
	}
	armed.Store(true)
	s.mu.Unlock()
	waitPolls(t, s, 5)
	// Post 14 was removed before it could be read.
	if lost := slices.DeleteFunc(missing(em, 7, 18), func(i int) bool { return i == 14 }); len(lost) > 0 {
		t.Errorf("posts never emitted: %v (emitted %v)", lost, emittedRefs(em))
	}
}

// A known limit (README, "Limits"): a post approved late by a moderator
// and listed by its old time lands on page 3, deeper than the one page of
// overlap. The poll stops at page 2 (the first page from page 2 on with no
// pending post) and never reads it: the post is not emitted. This test
// documents that behaviour; if it starts failing because post 100 is
// emitted, the limit is gone and the README should say so.
func TestLateApprovedPostBelowOverlapNotReadKnownLimit(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3, 4, 5, 6, 7, 8, 9)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "late3", simCfg(s.srv.URL), st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 9 })
	waitPolls(t, s, 2)
	s.mu.Lock()
	// 9 8 7 | 6 5 4 | 3 2 100 | 1 : listed by time
	late := simPost{ID: 100, Time: base.Add(90 * time.Second)}
	s.posts = append(s.posts[:8], append([]simPost{late}, s.posts[8:]...)...)
	s.mu.Unlock()
	s.add(10)
	waitPolls(t, s, 4)
	if n := emittedRefs(em)["100"]; n != 0 {
		t.Errorf("late-approved post 100 (page 3) emitted %d times: the documented limit no longer holds, update README and this test", n)
	}
	if n := emittedRefs(em)["10"]; n != 1 {
		t.Errorf("new post 10 emitted %d times, want once", n)
	}
}

// Posts appear late (held for moderation) with a time older than the
// watermark. One newer than every post trimmed from the table is emitted;
// one as old as trimmed posts cannot be told from a post handled and
// forgotten, and is not (see README, "track_posts").
func TestLateApprovedPostEmittedUnlessOlderThanTrimmed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		trackPosts int
		at         time.Duration // after base
		want       int
	}{
		{"tracked window", 0, 3*time.Minute + 30*time.Second, 1},
		{"newer than trimmed", 2, 4*time.Minute + 30*time.Second, 1},
		{"as old as trimmed", 2, 3*time.Minute + 30*time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, 4) // page 1 then re-reads trimmed post 4
			s.add(1, 2, 3, 4, 5, 6)
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := simCfg(s.srv.URL)
			cfg.TrackPosts = tc.trackPosts
			start(t, "late", cfg, st, em)
			waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 6 })
			waitPolls(t, s, 2)
			s.mu.Lock()
			s.posts = append([]simPost{{ID: 100, Time: base.Add(tc.at)}}, s.posts...)
			s.mu.Unlock()
			waitPolls(t, s, 3)
			got := emittedRefs(em)
			if got["100"] != tc.want {
				t.Errorf("late post 100 emitted %d times, want %d", got["100"], tc.want)
			}
			for ref, n := range got {
				if n != 1 {
					t.Errorf("post %s emitted %d times: trimmed posts re-read must not be emitted again", ref, n)
				}
			}
		})
	}
}

// Posts sharing one time (a board writing dates or minutes only), with
// more of them than track_posts. Those of the watermark's own second are
// not trimmed: one trimmed and read again was taken for new and emitted
// again on every poll. A new post made in the same minute or day is
// emitted, not skipped as "handled and forgotten" (it used to be lost).
func TestSameSecondPostsAtTheWatermark(t *testing.T) {
	s := newSim(t, 10)
	at := base.Add(time.Minute)
	s.mu.Lock()
	for _, id := range []int{1, 2, 3} {
		s.posts = append([]simPost{{ID: id, Time: at}}, s.posts...)
	}
	s.mu.Unlock()
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.TrackPosts = 2
	start(t, "sametime", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 10)
	if n := emittedRefs(em)["1"]; n != 1 {
		t.Errorf("post 1 emitted %d times in ten polls of an unchanged board", n)
	}
	s.mu.Lock()
	s.posts = append([]simPost{{ID: 4, Time: at}}, s.posts...)
	s.mu.Unlock()
	waitPolls(t, s, 3)
	if n := emittedRefs(em)["4"]; n != 1 {
		cp := checkpoint(t, st, "sametime")
		t.Errorf("post 4 (same minute as the watermark) emitted %d times; forgotten=%d watermark=%d",
			n, cp.Forgotten, cp.Watermark.Unix())
	}
}

// Nine new posts (three pages) arrive between two polls, with max_pages 2
// (an outage, say). The poll that stops at max_pages keeps the watermark;
// the next reads down past the pages already handled (which do not count
// against max_pages) to the rest. (The older new posts used to be lost with
// a WARN.)
func TestMaxPagesOnLaterPollKeepsWatermark(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.MaxPages = 2
	start(t, "outage", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	s.add(4, 5, 6, 7, 8, 9, 10, 11, 12)
	waitPolls(t, s, 4)
	if m := missing(em, 1, 12); len(m) > 0 {
		t.Errorf("posts never emitted: %v", m)
	}
	for ref, n := range emittedRefs(em) {
		if n != 1 {
			t.Errorf("post %s emitted %d times", ref, n)
		}
	}
}

// The first poll of a new board takes in at most max_pages pages of its
// history, and later polls do not go back for the rest.
func TestMaxPagesBoundsFirstPollHistory(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3, 4, 5, 6, 7, 8, 9)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.MaxPages = 2
	start(t, "history", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 6 })
	waitPolls(t, s, 3)
	if m := missing(em, 4, 9); len(m) > 0 {
		t.Errorf("posts of the first two pages never emitted: %v", m)
	}
	for _, id := range []string{"1", "2", "3"} {
		if emittedRefs(em)[id] != 0 {
			t.Errorf("post %s, on page 3 of the history, emitted", id)
		}
	}
}

// A board that answers every page number past the end with its last page
// (pagination mode page never sees an empty page): pages holding only
// posts already read in this poll count against max_pages like new ones.
func TestRepeatedLastPageCountsAgainstMaxPages(t *testing.T) {
	s := newSim(t, 3)
	s.add(1, 2, 3, 4, 5, 6)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.Pagination = Pagination{Mode: PageNumber}
	cfg.MaxPages = 4
	cfg.Interval = time.Hour // one poll
	inner := s.srv.Config.Handler
	s.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := strconv.Atoi(r.URL.Query().Get("page")); p > 2 {
			q := r.URL.Query()
			q.Set("page", "2")
			r.URL.RawQuery = q.Encode()
		}
		inner.ServeHTTP(w, r)
	})
	start(t, "lastpage", cfg, st, em)
	waitFor(t, "the poll", func() bool { return len(em.Emitted()) >= 6 })
	time.Sleep(100 * time.Millisecond)
	s.mu.Lock()
	n := len(s.served)
	s.mu.Unlock()
	if n > cfg.MaxPages {
		t.Errorf("%d pages read in one poll, want at most max_pages (%d)", n, cfg.MaxPages)
	}
}

// The next links loop (page 2 links back to page 1): pagination ends at
// the first repeat of a URL, with every post emitted
// once, rather than going round the loop up to max_pages in each poll.
func TestNextLinkLoopEndsPagination(t *testing.T) {
	for _, tc := range []struct {
		name, back string
		want       []int // pages served in the one poll
	}{
		{"back to the first URL", "/api", []int{1, 2}},
		{"back to another URL of page 1", "/api?page=1", []int{1, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, 3)
			s.add(1, 2, 3, 4, 5, 6)
			s.nextFor = func(page int) string {
				if page == 1 {
					return "/api?page=2"
				}
				return tc.back
			}
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := simCfg(s.srv.URL)
			cfg.Interval = time.Hour // one poll
			start(t, "loop", cfg, st, em)
			waitFor(t, "the poll", func() bool { return len(em.Emitted()) >= 6 })
			time.Sleep(100 * time.Millisecond)
			s.mu.Lock()
			served := fmt.Sprint(s.served)
			s.mu.Unlock()
			if want := fmt.Sprint(tc.want); served != want {
				t.Errorf("pages served %s, want %s", served, want)
			}
			for ref, n := range emittedRefs(em) {
				if n != 1 {
					t.Errorf("post %s emitted %d times", ref, n)
				}
			}
		})
	}
}

// Pagination mode page on an API whose pages do not echo their number
// (no "page", "total" or next link in the body). Exactly a page's worth of
// new posts arrives while the poll is between page 2 and page 3 (a busy
// board, a slow page, a Retry-After between pages): page 3 now holds the
// very posts page 2 held, byte for byte. It is not a loop: the poll must read
// on to the older new posts on pages 4 and 5 (a check on repeated page
// bytes, since removed, took it as one and the watermark passed them).
func TestPageRepeatedByShiftIsNotALoop(t *testing.T) {
	s := newSim(t, 3)
	s.nextFor = func(int) string { return "" }
	s.add(1, 2, 3)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := simCfg(s.srv.URL)
	cfg.Pagination = Pagination{Mode: PageNumber}
	start(t, "shift", cfg, st, em)
	waitFor(t, "first poll", func() bool { return len(em.Emitted()) >= 3 })
	waitPolls(t, s, 2)
	var armed atomic.Bool
	s.mu.Lock()
	s.hook = func(page int) {
		if page == 3 && armed.CompareAndSwap(true, false) {
			s.add(16, 17, 18)
		}
	}
	for id := 4; id <= 15; id++ {
		p := simPost{ID: id, Time: base.Add(time.Duration(id) * time.Minute)}
		s.posts = append([]simPost{p}, s.posts...)
	}
	armed.Store(true)
	s.mu.Unlock()
	waitPolls(t, s, 4)
	if m := missing(em, 1, 18); len(m) > 0 {
		t.Errorf("posts never emitted: %v", m)
	}
}
