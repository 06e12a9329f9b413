// Package ackwindow tracks items a connector hands out in order and that are
// acknowledged in any order, and reports the contiguous acknowledged prefix:
// the point a checkpoint may advance to.
//
// A connector Adds each item (in the order its source defines: feed position,
// sequence number), gets a Ticket, and calls Ack(ticket, ok) from the item's
// AckFunc, on any goroutine. Done reports the key of the last item of the
// acknowledged prefix; a failed ack stops the prefix there for good (until
// Reset), because the item must be offered again before the checkpoint may
// pass it.
package ackwindow

import "sync"

// Ticket identifies one added item.
type Ticket uint64

// Window is safe for concurrent use.
type Window[K any] struct {
	mu      sync.Mutex
	base    Ticket // ticket of q[0]
	q       []slot[K]
	done    K
	hasDone bool
	failed  bool
	pending int
	changed chan struct{}
	idle    chan struct{} // closed while pending == 0
}

type slot[K any] struct {
	key    K
	acked  bool
	failed bool
}

// New returns an empty window.
func New[K any]() *Window[K] {
	idle := make(chan struct{})
	close(idle)
	return &Window[K]{changed: make(chan struct{}, 1), idle: idle}
}

// Add appends an item and returns its ticket.
func (w *Window[K]) Add(key K) Ticket {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.base + Ticket(len(w.q))
	w.q = append(w.q, slot[K]{key: key})
	if w.pending == 0 {
		w.idle = make(chan struct{})
	}
	w.pending++
	return t
}

// Ack records the outcome of an item. It reports whether the acknowledged
// prefix moved. Acking a ticket twice, or one not handed out, is ignored.
func (w *Window[K]) Ack(t Ticket, ok bool) (advanced bool) {
	w.mu.Lock()
	defer func() {
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}()
	if t < w.base || t >= w.base+Ticket(len(w.q)) {
		return false
	}
	s := &w.q[t-w.base]
	if s.acked || s.failed {
		return false
	}
	w.pending--
	if w.pending == 0 {
		close(w.idle)
	}
	if !ok {
		s.failed = true
		w.failed = true
		return false
	}
	s.acked = true
	n := 0
	for n < len(w.q) && w.q[n].acked {
		n++
	}
	if n == 0 {
		return false
	}
	w.done, w.hasDone = w.q[n-1].key, true
	var zero slot[K]
	for i := 0; i < n; i++ {
		w.q[i] = zero
	}
	w.q = w.q[n:]
	w.base += Ticket(n)
	if len(w.q) == 0 {
		w.q = nil // let the backing array go
	}
	return true
}

// Done returns the key of the last item of the acknowledged prefix, and
// false when no item has been acknowledged in order yet.
func (w *Window[K]) Done() (K, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done, w.hasDone
}

// Pending is the number of items added and not yet acked (either way).
func (w *Window[K]) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Failed reports whether some item was acked with an error.
func (w *Window[K]) Failed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// Idle returns a channel that is closed once no item is pending. Take it
// again after adding items.
func (w *Window[K]) Idle() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idle
}

// Changed is signalled (without blocking, coalescing) after every Ack.
func (w *Window[K]) Changed() <-chan struct{} { return w.changed }

// Reset forgets every item and the prefix; pending acks of old tickets are
// then ignored.
func (w *Window[K]) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	var zero K
	w.base += Ticket(len(w.q))
	w.q = nil
	w.done, w.hasDone, w.failed = zero, false, false
	if w.pending > 0 {
		w.pending = 0
		close(w.idle)
	}
}
