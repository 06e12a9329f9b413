package board

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// simBoard is a live JSON board for the pagination tests: posts newest
// first, pageSize to a page, ?page=N with a next link while more follow.
// hook(page) runs before a page is served (to change the board between two
// page reads); pinned posts head page 1; nextFor, when set, overrides the
// next link; served logs the pages asked for.
type simBoard struct {
	mu       sync.Mutex
	posts    []simPost // newest first
	pageSize int
	hook     func(page int)
	pinned   []simPost // shown at the top of page 1 in every read
	nextFor  func(page int) string
	srv      *httptest.Server
	served   []int
}

type simPost struct {
	ID    int
	Time  time.Time
	Title string
}

func newSim(t *testing.T, pageSize int) *simBoard {
	s := &simBoard{pageSize: pageSize}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := 1
		if p := r.URL.Query().Get("page"); p != "" {
			page, _ = strconv.Atoi(p)
		}
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook != nil {
			hook(page)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.served = append(s.served, page)
		var list []map[string]any
		if page == 1 {
			for _, p := range s.pinned {
				list = append(list, enc(p))
			}
		}
		from, to := (page-1)*s.pageSize, page*s.pageSize
		for i := from; i < to && i < len(s.posts); i++ {
			list = append(list, enc(s.posts[i]))
		}
		next := ""
		if to < len(s.posts) {
			next = "/api?page=" + strconv.Itoa(page+1)
		}
		if s.nextFor != nil {
			next = s.nextFor(page)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"list": list, "next": next})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func enc(p simPost) map[string]any {
	title := p.Title
	if title == "" {
		title = "post " + strconv.Itoa(p.ID)
	}
	return map[string]any{"id": p.ID, "title": title, "content": "body of " + strconv.Itoa(p.ID), "time": p.Time.Format(time.RFC3339)}
}

var base = time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// add puts new posts at the top, in order; post id is made at base + id minutes.
func (s *simBoard) add(ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		p := simPost{ID: id, Time: base.Add(time.Duration(id) * time.Minute)}
		s.posts = append([]simPost{p}, s.posts...)
	}
}

func (s *simBoard) remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.posts {
		if p.ID == id {
			s.posts = append(s.posts[:i], s.posts[i+1:]...)
			return
		}
	}
}

// simCfg is quick() for a simBoard: JSON, posts under "list", next link.
func simCfg(url string) Config {
	c := quick(url + "/api")
	c.Format = FormatJSON
	c.JSON = JSONMapping{Items: "list", Next: "next"}
	return c
}

func emittedRefs(em *conntest.Emitter) map[string]int { return ids(em.Emitted()) }

func (s *simBoard) pollsOfPage1() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.served {
		if p == 1 {
			n++
		}
	}
	return n
}

// waitPolls waits until page 1 has been served k more times.
func waitPolls(t *testing.T, s *simBoard, k int) {
	n := s.pollsOfPage1()
	waitFor(t, fmt.Sprintf("%d more polls", k), func() bool { return s.pollsOfPage1() >= n+k })
}

// missing lists the post ids from..to never emitted.
func missing(em *conntest.Emitter, from, to int) []int {
	got := emittedRefs(em)
	var out []int
	for i := from; i <= to; i++ {
		if got[strconv.Itoa(i)] == 0 {
			out = append(out, i)
		}
	}
	return out
}
