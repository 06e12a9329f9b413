package router

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestItemLocksSerialiseOneItem: changes to one item wait for each
// other; the lock table is empty once they are done.
func TestItemLocksSerialiseOneItem(t *testing.T) {
	var l itemLocks
	var in, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "a"
			if i%2 == 1 {
				id = "b"
			}
			unlock := l.lock(id)
			if id == "a" {
				n := in.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				// Held a while: without it, two changes would seldom
				// overlap even with no lock, and the test could not fail.
				time.Sleep(time.Millisecond)
				in.Add(-1)
			}
			unlock()
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d changes to one item at once, want 1", most.Load())
	}
	if len(l.held) != 0 {
		t.Errorf("%d locks left behind", len(l.held))
	}
}
