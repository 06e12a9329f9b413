package router

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
)

// TestKafkaAnswerGraceIsBounded: a route whose time ends while its record
// is in a request the broker holds waits for the answer no longer than
// kafka.answer_grace, and then says the record may yet land; closing the
// sink then waits for the request itself, within write_timeout. (That an
// answer arriving within the grace is recorded, and not sent again, is
// pipeline's TestKafkaRecordInTransitAtDeadlineNotSentAgain.)
func TestKafkaAnswerGraceIsBounded(t *testing.T) {
	const routeTime, hold = 500 * time.Millisecond, 5 * time.Second
	for _, grace := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(grace.String(), func(t *testing.T) {
			k := testkafka.StartT(t)
			cfg := kafkaConfig(k)
			cfg.Kafka.AnswerGrace = grace
			r, err := New(context.Background(), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := &minsheng.Decision{Class: minsheng.ClassPetition}
			// Connected, with the topic's leaders known: the next record
			// goes out at once.
			if _, err := r.Route(context.Background(), testItem("grace-warm"), d); err != nil {
				t.Fatal(err)
			}
			fk := k.Fake()
			fk.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				fk.KeepControl()
				fk.SleepControl(func() { time.Sleep(hold) })
				return nil, nil, false
			})
			ctx, cancel := context.WithTimeout(context.Background(), routeTime)
			defer cancel()
			start := time.Now()
			_, err = r.Route(ctx, testItem("grace-held"), d)
			took := time.Since(start)
			t.Logf("route: %v after %v", err, took)
			if err == nil || !strings.Contains(err.Error(), "answer_grace") {
				t.Errorf("route: %v, want not answered within answer_grace", err)
			}
			// The slack (2 s) allows for a loaded machine; a route that waited
			// for the held answer would take the hold (5 s).
			if took < routeTime+grace || took > routeTime+grace+2*time.Second {
				t.Errorf("route took %v, want route time %v and the grace %v (and less than 2 s more)", took, routeTime, grace)
			}
			start = time.Now()
			r.Close()
			if took := time.Since(start); took > cfg.Kafka.WriteTimeout {
				t.Errorf("close took %v, over write_timeout", took)
			}
		})
	}
}

// TestReviewSentOnInTransitAtDeadlineIsRecorded: the broker takes a
// reviewed item's record only after the decision's time has ended (each
// produce request held until then): the route waits kafka.answer_grace
// for the answer, and the decision, sent on, must then be recorded as
// done (under a deadline of its own), not answered 503 for the desk to
// decide again and send the item a second time.
func TestReviewSentOnInTransitAtDeadlineIsRecorded(t *testing.T) {
	k := testkafka.StartT(t)
	s := openStore(t)
	f := newReviewFixture(t, kafkaConfig(k), nil, s)
	// Time enough, on a loaded machine, to record the decision pending and
	// send the request before the deadline.
	const timeout = 800 * time.Millisecond
	f.api.timeout = timeout
	fk := k.Fake()
	var hold atomic.Bool
	fk.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		fk.KeepControl()
		if hold.Load() {
			arrived := time.Now()
			fk.SleepControl(func() { time.Sleep(time.Until(arrived.Add(timeout + 150*time.Millisecond))) })
		}
		return nil, nil, false
	})
	const items = 6 // recorded under the expired deadline, each failed at random, half the time
	var ids []string
	for i := range items {
		it := f.seed(t, fmt.Sprint("review-transit-", i), false)
		ids = append(ids, it.ID)
		hold.Store(true)
		status, raw := f.decide(t, "reviewers", it.ID, `{"class":"petition"}`)
		hold.Store(false)
		if status != 200 {
			t.Errorf("item %d: %d %s", i, status, raw)
			continue
		}
		if rec := lookup(t, s, it.ID); rec.Review == nil || rec.Review.Pending || !slices.Contains(rec.Destinations, "petition") {
			t.Errorf("item %d: recorded %v %+v, want the decision done, at petition", i, rec.Destinations, rec.Review)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := k.Read(ctx, "minsheng.petition", "review-transit", items, 700*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != items {
		t.Errorf("petition holds %d records of %d items", len(msgs), items)
	}
}

// TestAwaitTakesAnswersInAtTheGrace: the answers already in when the
// grace ends (at once, for answer_grace 0) are taken, not called
// unanswered: a record the broker took would be sent again. Twenty
// answers wait beside a grace of 0; picking at random between them and
// the expired timer took all twenty about once in a million.
func TestAwaitTakesAnswersInAtTheGrace(t *testing.T) {
	const n = 20
	p := &producer{cfg: KafkaConfig{AnswerGrace: 0}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan reply, n)
	recs := make([]*record, n)
	for i := range recs {
		recs[i] = &record{i: i}
		recs[i].state.Store(recSent)
		done <- reply{i: i}
	}
	errs := p.await(ctx, recs, done, make([]error, n), make([]bool, n), n)
	for i, err := range errs {
		if err != nil {
			t.Errorf("record %d, answered before the grace ended: %v", i, err)
		}
	}
}
