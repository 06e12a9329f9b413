package router

import "sync"

// itemLocks serialises the changes people make to one recorded item: a
// review decision and a re-delivery of a dead letter each read the item's
// record, send the item on and commit a new record, and two at once would
// both send it and the second record would lose the first's change.
// Changes to different items go on side by side.
type itemLocks struct {
	mu   sync.Mutex
	held map[string]*itemLock
}

type itemLock struct {
	mu      sync.Mutex
	waiting int // holders and waiters; the entry goes when none is left
}

// lock waits until no one else changes item id, and returns the unlock.
func (l *itemLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.held == nil {
		l.held = map[string]*itemLock{}
	}
	e := l.held[id]
	if e == nil {
		e = &itemLock{}
		l.held[id] = e
	}
	e.waiting++
	l.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		l.mu.Lock()
		if e.waiting--; e.waiting == 0 {
			delete(l.held, id)
		}
		l.mu.Unlock()
	}
}

// LockItem waits until no review decision or re-delivery changes item id,
// and returns the unlock: the pipeline holds it while it finishes the
// item's incomplete route (pipeline.ItemLocker).
func (r *Router) LockItem(id string) (unlock func()) { return r.items.lock(id) }
