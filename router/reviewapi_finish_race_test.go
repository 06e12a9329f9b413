package router

import (
	"context"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/pipeline"
)

type noTriage struct{}

func (noTriage) Decide(context.Context, *minsheng.Item) (minsheng.Decision, error) {
	return minsheng.Decision{}, context.Canceled
}

// hookedRouter calls hook when the pipeline sends an item on to finish
// its route, before sending it.
type hookedRouter struct {
	*Router
	hook func()
}

func (h hookedRouter) RouteExcept(ctx context.Context, it *minsheng.Item, d *minsheng.Decision, reached []string) (minsheng.Routing, error) {
	h.hook()
	return h.Router.RouteExcept(ctx, it, d, reached)
}

// TestReviewWhilePipelineFinishes: a review desk decides an item whose
// route is incomplete at the moment its source offers it again and the
// pipeline finishes the route. Neither may write over the other: the
// record ends complete (the source is acked) and with the person's
// decision, so the item is not in review again for a second decision
// that would send it to a second body.
func TestReviewWhilePipelineFinishes(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seedIncomplete(t, "race-1")
	var once sync.Once
	var status int
	var answer string
	reviewed := make(chan struct{})
	hook := func() {
		once.Do(func() {
			go func() {
				status, answer = f.decide(t, "reviewers", it.ID, `{"class":"gov_service","department":"城乡建设"}`)
				close(reviewed)
			}()
			// The review runs now, unless the pipeline holds the item.
			select {
			case <-reviewed:
			case <-time.After(300 * time.Millisecond):
			}
		})
	}
	p, err := pipeline.New(pipeline.Config{RouteTimeout: 5 * time.Second},
		pipeline.Options{Triager: noTriage{}, Router: hookedRouter{f.r, hook}, Ledger: f.led})
	if err != nil {
		t.Fatal(err)
	}
	offered := testItem("race-1")
	done := make(chan error, 1)
	if err := p.Emitter().Emit(context.Background(), offered, func(_ minsheng.Outcome, err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("offered again: %v", err)
	}
	<-reviewed
	if status != 200 {
		t.Fatalf("review: %d %s", status, answer)
	}
	rec, err := f.led.Lookup(context.Background(), it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Incomplete {
		t.Errorf("record incomplete after the source was acked: %+v", rec.Destinations)
	}
	if rec.Review == nil || rec.Review.Pending || rec.Decision.Class != minsheng.ClassGovService {
		t.Errorf("the review decision was written over: review %+v, decision %+v", rec.Review, rec.Decision)
	}
	if status, a := f.decide(t, "reviewers-b", it.ID, `{"class":"media_oversight"}`); status != 409 {
		t.Errorf("a second decision: %d %s", status, a)
	}
}
