package board_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/board"
	"github.com/minsheng/minsheng/connectors/internal/gwtest"
)

// The real gateway behind the connector: three RSS pages and a malformed
// one; every post is routed once and the broken page reaches the dead
// letter destination.
func TestEndToEndThroughGateway(t *testing.T) {
	ctx := context.Background()
	g := gwtest.Open(t)
	pages := map[string]string{"": "rss_page1.xml", "2": "rss_page2.xml", "3": "rss_page3.xml", "bad": "malformed.xml"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile("testdata/" + pages[r.URL.Query().Get("page")])
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/rss+xml")
		w.Write(b)
	}))
	defer srv.Close()
	run := func(name, url string, mode string, until func() bool) {
		b, err := board.New(name, board.Config{URL: url, Interval: 20 * time.Millisecond, Pagination: board.Pagination{Mode: mode}},
			connectors.Env{Checkpoints: g.Store(), Blobs: g.Store().Blobs()})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.Run(rctx, g.Emitter()) }()
		deadline := time.Now().Add(20 * time.Second)
		for !until() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	routed := func(id string) bool {
		r, err := g.Store().Lookup(ctx, id)
		return err == nil && len(r.Destinations) > 0
	}
	var ids []string
	for i := 3001; i <= 3012; i++ {
		ids = append(ids, minsheng.ItemID(minsheng.ChannelMessageBoard, "people", "thread-"+strconv.Itoa(i)))
	}
	run("people", srv.URL+"/rss", board.PageNextLink, func() bool {
		for _, id := range ids {
			if !routed(id) {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		if !routed(id) {
			t.Errorf("post %s not routed", id)
		}
	}
	before, _ := g.Store().CountItems()
	run("broken", srv.URL+"/rss?page=bad", board.PageNone, func() bool {
		n, _ := g.Store().CountItems()
		return n > before
	})
	n, _ := g.Store().CountItems()
	if n != before+1 {
		t.Fatalf("ledger grew by %d records for one malformed page", n-before)
	}
	if d, err := g.Store().QueueDepth("dead_letter"); err != nil || d != 1 {
		t.Errorf("dead letter queue depth %d, %v; want the quarantined page", d, err)
	}
}
