package ackwindow

import (
	"sync"
	"testing"
)

func TestOutOfOrderAcksAdvanceOnlyThePrefix(t *testing.T) {
	w := New[int]()
	var ts []Ticket
	for k := 10; k < 15; k++ {
		ts = append(ts, w.Add(k))
	}
	steps := []struct {
		i        int
		ok       bool
		advanced bool
		done     int
		hasDone  bool
	}{
		{2, true, false, 0, false},
		{1, true, false, 0, false},
		{0, true, true, 12, true},
		{4, true, false, 12, true},
		{3, true, true, 14, true},
	}
	for _, s := range steps {
		if got := w.Ack(ts[s.i], s.ok); got != s.advanced {
			t.Fatalf("ack %d: advanced=%v, want %v", s.i, got, s.advanced)
		}
		d, ok := w.Done()
		if ok != s.hasDone || d != s.done {
			t.Fatalf("after ack %d: done=%d,%v want %d,%v", s.i, d, ok, s.done, s.hasDone)
		}
	}
	select {
	case <-w.Idle():
	default:
		t.Fatal("window with nothing pending is not idle")
	}
}

func TestFailedAckStopsThePrefix(t *testing.T) {
	w := New[string]()
	a, b, c := w.Add("a"), w.Add("b"), w.Add("c")
	w.Ack(a, true)
	w.Ack(b, false)
	w.Ack(c, true)
	if d, _ := w.Done(); d != "a" {
		t.Fatalf("done=%q, want a: the prefix must stop before the failed item", d)
	}
	if !w.Failed() || w.Pending() != 0 {
		t.Fatalf("failed=%v pending=%d", w.Failed(), w.Pending())
	}
	// Double acks and stale tickets are ignored.
	if w.Ack(b, true) {
		t.Fatal("a second ack of a failed item moved the prefix")
	}
	w.Reset()
	if w.Ack(c, true) || w.Pending() != 0 {
		t.Fatal("an ack from before Reset counted")
	}
	d := w.Add("d")
	w.Ack(d, true)
	if got, _ := w.Done(); got != "d" {
		t.Fatalf("after reset done=%q", got)
	}
}

func TestConcurrentAcks(t *testing.T) {
	w := New[int]()
	const n = 2000
	ts := make([]Ticket, n)
	for i := range ts {
		ts[i] = w.Add(i)
	}
	idle := w.Idle()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := n - 1 - g; i >= 0; i -= 4 {
				w.Ack(ts[i], true)
			}
		}(g)
	}
	wg.Wait()
	<-idle
	if d, ok := w.Done(); !ok || d != n-1 {
		t.Fatalf("done=%d,%v want %d", d, ok, n-1)
	}
}
