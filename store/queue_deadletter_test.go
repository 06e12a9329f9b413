package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// deadLetter is a dead letter envelope of item id for dest, saying why.
func deadLetter(dest, id, reason string) *minsheng.Envelope {
	return &minsheng.Envelope{SchemaVersion: "1", Destination: dest, Kind: minsheng.KindDeadLetter, ItemID: id, Reason: reason}
}

func reasons(msgs []minsheng.QueuedMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Envelope.ItemID+":"+m.Envelope.Reason)
	}
	return out
}

// TestQueueDeadLetterOfAnItemWaiting: a second dead letter of an item
// whose first waits in the queue is not skipped, as a second message of
// a class destination is: it takes the place of the item's messages no
// desk holds, and is queued behind those one does, whose ack removes them
// alone. The same dead letter again leaves one message, as before.
func TestQueueDeadLetterOfAnItemWaiting(t *testing.T) {
	const dl = "dead_letter"
	for _, tc := range []struct {
		name string
		// before runs between the first Enqueue (reason "first") and the
		// second (then, reason "second" unless given).
		before  func(t *testing.T, s *Store)
		first   *minsheng.Envelope // the first; a dead letter, "first", unless given
		restart bool               // the gateway restarts before the second
		then    *minsheng.Envelope
		queued  int // 1 when the second Enqueue queues its envelope, 0 when not
		depth   int // messages in the queue after it
		// ack: IDs desk "a" acks after the second Enqueue, and how many go.
		ack   []string
		acked int
		read  []string // what a desk reading then is handed
	}{
		{name: "not read: replaced", queued: 1, depth: 1, read: []string{"x:second"}},
		{name: "read: queued behind, the reader's ack leaves the new one",
			before: func(t *testing.T, s *Store) { mustRead(t, s, dl, "a", time.Hour, "x:first") },
			queued: 1, depth: 2, ack: []string{"x"}, acked: 1, read: []string{"x:second"}},
		{name: "read, lease run out: queued behind, the late ack leaves the new one",
			before: func(t *testing.T, s *Store) { mustRead(t, s, dl, "a", time.Nanosecond, "x:first") },
			queued: 1, depth: 2, ack: []string{"x"}, acked: 1, read: []string{"x:second"}},
		{name: "read by another desk: queued behind, handed out after",
			before: func(t *testing.T, s *Store) { mustRead(t, s, dl, "b", time.Hour, "x:first") },
			queued: 1, depth: 2, ack: []string{"x"}, acked: 0, read: []string{"x:second"}},
		{name: "released: replaced",
			before: func(t *testing.T, s *Store) {
				mustRead(t, s, dl, "a", time.Hour, "x:first")
				if n, _ := s.Release(dl, "a", []string{"x"}); n != 1 {
					t.Fatalf("released %d", n)
				}
			},
			queued: 1, depth: 1, read: []string{"x:second"}},
		{name: "read before a restart: replaced (no lease survives one)",
			before: func(t *testing.T, s *Store) { mustRead(t, s, dl, "a", time.Hour, "x:first") }, restart: true,
			queued: 1, depth: 1, read: []string{"x:second"}},
		{name: "the same dead letter again: one message", then: deadLetter(dl, "x", "first"),
			queued: 1, depth: 1, read: []string{"x:first"}},
		{name: "another item's: both", then: deadLetter(dl, "y", "second"),
			queued: 1, depth: 2, read: []string{"x:first", "y:second"}},
		{name: "a class destination keeps one", then: env(dl, "x"), queued: 0, depth: 1, read: []string{"x:first"}},
		// The discipline dead letter may be the inspectors' own queue: a
		// dead letter does not take the place of the item delivered there.
		{name: "waiting as an item, not read: kept, the dead letter skipped", first: env(dl, "x"),
			queued: 0, depth: 1, read: []string{"x:"}},
		{name: "waiting as an item, read: kept, the dead letter skipped", first: env(dl, "x"),
			before: func(t *testing.T, s *Store) { mustRead(t, s, dl, "a", time.Hour, "x:") },
			queued: 0, depth: 1, ack: []string{"x"}, acked: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			s := open(t, dir)
			defer func() { s.Close() }()
			first := tc.first
			if first == nil {
				first = deadLetter(dl, "x", "first")
			}
			if q, err := s.Enqueue(ctx, []*minsheng.Envelope{first}); err != nil || !q[0] {
				t.Fatalf("first: %v %v", q, err)
			}
			if tc.before != nil {
				tc.before(t, s)
			}
			if tc.restart {
				s.Close()
				s = open(t, dir)
			}
			then := tc.then
			if then == nil {
				then = deadLetter(dl, "x", "second")
			}
			if q, err := s.Enqueue(ctx, []*minsheng.Envelope{then}); err != nil || q[0] != (tc.queued == 1) {
				t.Fatalf("second: queued %v, %v; want %d", q, err, tc.queued)
			}
			if d, _ := s.QueueDepth(dl); d != tc.depth {
				t.Fatalf("depth %d, want %d", d, tc.depth)
			}
			if tc.ack != nil {
				if n, _, err := s.Ack(ctx, dl, "a", tc.ack); n != tc.acked || err != nil {
					t.Fatalf("ack: %d, %v; want %d", n, err, tc.acked)
				}
			}
			msgs, err := s.Read(ctx, dl, "c", 10, time.Hour, 0)
			if got := reasons(msgs); err != nil || !slices.Equal(got, tc.read) {
				t.Fatalf("read: %v, %v; want %v", got, err, tc.read)
			}
			// And as a restart finds it: the messages not acked.
			s.Close()
			s = open(t, dir)
			if d, _ := s.QueueDepth(dl); d != tc.depth-tc.acked {
				t.Fatalf("depth after a restart %d, want %d", d, tc.depth-tc.acked)
			}
		})
	}
}

// mustRead reads dest as holder, leasing for lease, and wants exactly want
// (item:reason) handed out.
func mustRead(t *testing.T, s *Store, dest, holder string, lease time.Duration, want ...string) {
	t.Helper()
	msgs, err := s.Read(context.Background(), dest, holder, 10, lease, 0)
	if got := reasons(msgs); err != nil || !slices.Equal(got, want) {
		t.Fatalf("read as %s: %v, %v; want %v", holder, got, err, want)
	}
}

// TestQueueDeadLettersWhileADeskReads: dead letters of one item queued
// one after another while a desk reads and acks the queue: the desk is
// never handed a message twice, nor acks one it was not handed, and the
// newest dead letter is not lost: the desk was handed it, or it waits.
func TestQueueDeadLettersWhileADeskReads(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	const n = 200
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for i := range n {
			if _, err := s.Enqueue(ctx, []*minsheng.Envelope{deadLetter("dead_letter", "x", fmt.Sprint(i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]bool{}
	read := func() {
		msgs, err := s.Read(ctx, "dead_letter", "desk", 10, time.Hour, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if seen[m.Envelope.Reason] {
				t.Fatalf("dead letter %s handed out twice", m.Envelope.Reason)
			}
			seen[m.Envelope.Reason] = true
		}
		if len(msgs) > 0 {
			k, refused, err := s.Ack(ctx, "dead_letter", "desk", []string{"x"})
			if err != nil || k != len(msgs) || len(refused) != 0 {
				t.Fatalf("ack of %d read: %d acked, %v, %v", len(msgs), k, refused, err)
			}
		}
	}
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
			read()
		}
	}
	read()
	if !seen[fmt.Sprint(n-1)] {
		t.Fatalf("the newest dead letter was lost (%d handed out)", len(seen))
	}
	if d, _ := s.QueueDepth("dead_letter"); d != 0 {
		t.Fatalf("depth %d after every one read was acked", d)
	}
}
