package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// holdProduces holds every produce request the broker gets while on is
// set until route_timeout and a little more have passed since it arrived:
// the route that sent it was started before, so its deadline has passed by
// then, whatever the machine's load. The request is then handled as
// usual (the records land). It returns on, and a channel that gets one
// value per request released.
func holdProduces(f *finishRig, rt time.Duration) (on *atomic.Bool, released chan struct{}) {
	fk := f.k.Fake()
	on = new(atomic.Bool)
	released = make(chan struct{}, 16)
	fk.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		fk.KeepControl()
		if !on.Load() {
			return nil, nil, false
		}
		arrived := time.Now()
		fk.SleepControl(func() { time.Sleep(time.Until(arrived.Add(rt + 150*time.Millisecond))) })
		released <- struct{}{}
		return nil, nil, false
	})
	return on, released
}

// TestKafkaRecordInTransitAtDeadlineNotSentAgain: the broker takes an
// item's records only after the route's route_timeout has ended (the
// produce request is held until then, and answered as usual after). The
// route waits a short grace for the answers to requests already out
// (kafka.answer_grace), so that the records the broker took are recorded
// as taken and are not sent again: by the source's next offer, nor by the
// finisher's next pass. Each topic must hold one copy of the item.
func TestKafkaRecordInTransitAtDeadlineNotSentAgain(t *testing.T) {
	const rt = 300 * time.Millisecond // newFinishRig's route_timeout
	t.Run("offered again", func(t *testing.T) {
		f := newFinishRig(t, nil)
		on, released := holdProduces(f, rt)
		on.Store(true)
		var wg sync.WaitGroup
		wg.Add(1)
		var first result
		go func() { defer wg.Done(); first = f.offer(t, "TRANSIT-1") }()
		<-released
		on.Store(false)
		wg.Wait()
		t.Logf("first offer: destinations %v, err %v", first.out.Destinations, first.err)
		again := f.offer(t, "TRANSIT-1")
		if again.err != nil {
			t.Fatalf("offered again: %v", again.err)
		}
		if first.err == nil && !again.out.Duplicate {
			t.Errorf("offered again after an ack: not answered as a repeat: %+v", again.out)
		}
		f.wantDelivered(t, again.out.ItemID)
	})
	t.Run("finisher", func(t *testing.T) {
		f := newFinishRig(t, nil)
		id, fault := f.incomplete(t, "TRANSIT-2") // 12345's topic holds it, the inspectors' failed
		fault.Remove()
		f.later()
		on, released := holdProduces(f, rt)
		on.Store(true)
		done := make(chan int, 1)
		go func() { done <- f.p.FinishIncomplete(context.Background()) }()
		<-released
		on.Store(false)
		n := <-done
		t.Logf("first pass finished %d", n)
		f.later()
		f.p.FinishIncomplete(context.Background())
		f.wantDelivered(t, id)
	})
}
