package router

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// heldQueues holds the messages of one item at the embedded queue until
// release is closed or the sender's context ends: a destination that is
// slow to take that item. entered is closed when one arrives, gaveUp when
// the sender's context ended before release.
type heldQueues struct {
	Queues
	item             string
	entered, release chan struct{}
	gaveUp           chan struct{}
	once             sync.Once
}

func newHeldQueues(q Queues, item string) *heldQueues {
	return &heldQueues{Queues: q, item: item, entered: make(chan struct{}), release: make(chan struct{}), gaveUp: make(chan struct{})}
}

func (q *heldQueues) Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error) {
	if slices.ContainsFunc(envs, func(e *minsheng.Envelope) bool { return e.ItemID == q.item }) {
		q.once.Do(func() { close(q.entered) })
		select {
		case <-q.release:
		case <-ctx.Done():
			close(q.gaveUp)
			return nil, ctx.Err()
		}
	}
	return q.Queues.Enqueue(ctx, envs)
}

// waitForWaiters returns once n requests hold or wait for item id's lock.
func waitForWaiters(l *itemLocks, id string, n int) {
	for {
		l.mu.Lock()
		e := l.held[id]
		got := 0
		if e != nil {
			got = e.waiting
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// TestReviewNotHeldBackByAnotherItem: while item X is re-delivered to a
// destination slow to take it (its lock held until then, up to the
// re-delivery's timeout), a review decision asked on X waits for it, and
// a decision on item Y, which nothing else changes, goes through at once.
// Before, every decision took one mutex of the review API and then the
// item's lock: the decision waiting for X held the mutex, and Y's waited
// behind it until X's re-delivery gave up (its sink's context ended)
// or X's destination took the item.
func TestReviewNotHeldBackByAnotherItem(t *testing.T) {
	s := openStore(t)
	x := testItem("relock-x")
	q := newHeldQueues(s, x.ID)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), q, s)
	rd := redeliverOver(f.r, s)
	if err := s.Commit(context.Background(), deadLetteredRecords(x, false)["12345 refused"]); err != nil {
		t.Fatal(err)
	}
	y := f.seed(t, "relock-y", false)

	var wg sync.WaitGroup
	var xStatus, xDecided, yStatus int
	var xAnswer, yAnswer string
	wg.Go(func() { xStatus, _, xAnswer = rd.post(t, "dl", x.ID) })
	<-q.entered // X's re-delivery holds X's lock, its sink waiting
	// By a desk that reads X's dead letter: one that may not see X is
	// answered 404 before X's lock is asked for.
	wg.Go(func() { xDecided, _ = f.decide(t, "review-dl", x.ID, `{"class":"petition"}`) })
	waitForWaiters(&f.r.items, x.ID, 2) // the decision on X waits for X's lock
	yDone := make(chan struct{})
	go func() {
		defer close(yDone)
		yStatus, yAnswer = f.decide(t, "reviewers", y.ID, `{"class":"petition"}`)
	}()
	<-yDone
	select {
	case <-q.gaveUp:
		t.Errorf("the decision on Y waited until the re-delivery of X gave up (its timeout)")
	default:
	}
	close(q.release)
	wg.Wait()

	if yStatus != 200 {
		t.Errorf("decision on Y: %d %s", yStatus, yAnswer)
	}
	if xStatus != 200 {
		t.Errorf("re-delivery of X: %d %s", xStatus, xAnswer)
	}
	if xDecided != 409 { // X was never in review
		t.Errorf("decision on X: %d, want 409", xDecided)
	}
	var petition, dispatch int
	for _, e := range drain(t, s, "petition") {
		if e.ItemID == y.ID {
			petition++
		}
	}
	for _, e := range drain(t, s, "gov_service") {
		if e.ItemID == x.ID {
			dispatch++
		}
	}
	if petition != 1 || dispatch != 1 {
		t.Errorf("petition holds Y %d times, gov_service X %d times; want 1 and 1", petition, dispatch)
	}
}
