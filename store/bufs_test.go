package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// TestPooledBuffersNotAliased: ledger frames and queued messages encoded
// into pooled buffers (bufs.go) are whole when read back, with many
// writers at once, failed enqueues among them, and bodies of every size
// about maxPooled. A buffer handed back to the pool while bbolt, the
// ledger's appender or a retried batch still held it would show here as a
// record or message carrying another item's text (and under -race as a
// race on the buffer).
func TestPooledBuffersNotAliased(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	body := func(w, i int) string {
		n := []int{10, 3000, maxPooled - 2000, maxPooled + 10, 200}[i%5]
		return strings.Repeat(fmt.Sprintf("w%02di%03d;", w, i), n/9+1)
	}
	const writers, each = 8, 30
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("ms1w%02di%03d", w, i)
				it := &minsheng.Item{ID: id, Title: body(w, i), Body: body(w, i)}
				if err := s.Commit(ctx, &minsheng.Record{ID: id, Item: it}); err != nil {
					t.Error(err)
					return
				}
				e := env(fmt.Sprintf("q%d", w%3), id)
				e.Item = it
				if _, err := s.Enqueue(ctx, []*minsheng.Envelope{e}); err != nil {
					t.Error(err)
					return
				}
				// An enqueue refused part way: its encoded buffers go back.
				bad := env("q0", id+"x")
				bad.Decision = &minsheng.Decision{Confidence: math.NaN()}
				if _, err := s.Enqueue(ctx, []*minsheng.Envelope{env("q0", id+"y"), bad}); err == nil {
					t.Error("an envelope with a NaN was queued")
				}
			}
		}()
	}
	wg.Wait()
	for w := range writers {
		for i := range each {
			id := fmt.Sprintf("ms1w%02di%03d", w, i)
			r, err := s.Lookup(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Item.Title != body(w, i) || r.Item.Body != body(w, i) {
				t.Fatalf("record %s holds another text: %.40q", id, r.Item.Title)
			}
		}
	}
	for q := range 3 {
		dest := fmt.Sprintf("q%d", q)
		for {
			msgs, err := s.Read(ctx, dest, "desk", 100, time.Minute, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				e := m.Envelope
				var w, i int
				if _, err := fmt.Sscanf(e.ItemID, "ms1w%02di%03d", &w, &i); err != nil {
					t.Fatalf("message %q: %v", e.ItemID, err)
				}
				if strings.HasSuffix(e.ItemID, "y") {
					if e.Item != nil {
						t.Fatalf("message %s holds an item", e.ItemID)
					}
					continue
				}
				if e.Item == nil || e.Item.Title != body(w, i) || e.Item.Body != body(w, i) {
					t.Fatalf("message %s holds another text", e.ItemID)
				}
			}
		}
	}
}
