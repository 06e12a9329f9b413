package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/internal/testlog"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
	"github.com/minsheng/minsheng/triage/cases"
)

// TestIncompleteRouteFinishedNotRepeated: a service request with a lead
// goes to 12345 dispatch and the inspectors. One of the two fails in a way
// that may pass (TOPIC_AUTHORIZATION_FAILED) for longer than route_timeout
// while the other takes the item. The source is told the item failed and
// offers it again, several times while the failure lasts and once after.
// Each destination must end with one copy of the item, the record must
// be complete and name both, and the source must be acked (without error)
// once, at the end. With restart, the gateway (store, router, pipeline)
// is started again after the first offer: the record of where the item
// went survives in the ledger.
func TestIncompleteRouteFinishedNotRepeated(t *testing.T) {
	const downOffers = 3 // offers while the destination fails, the first included
	for _, tc := range []struct {
		name    string
		down    string   // the topic that fails
		queues  []string // destinations on the embedded queue
		restart bool
		// refuse: once the failure has passed, the topic refuses the
		// item for good (INVALID_RECORD): the finishing route sends it to
		// the inspectors' dead letter, which names 12345 as holding it.
		refuse bool
	}{
		{name: "inspectors' topic down, 12345's takes it", down: "minsheng.discipline"},
		{name: "12345's topic down, the inspectors' takes it", down: "minsheng.gov_service"},
		{name: "12345 on the queue, inspectors' topic down", down: "minsheng.discipline", queues: []string{"gov_service"}},
		{name: "inspectors' topic down, gateway restarted in between", down: "minsheng.discipline", restart: true},
		{name: "inspectors' topic down, then refuses the item for good", down: "minsheng.discipline", refuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			k := testkafka.StartT(t)
			if err := k.CreateTopics("minsheng.gov_service", "minsheng.discipline"); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfg := router.DefaultConfig()
			for _, d := range []string{"gov_service", "discipline"} {
				sink := router.SinkKafka
				if slices.Contains(tc.queues, d) {
					sink = router.SinkQueue
				}
				cfg.Destinations[d] = router.Destination{Sink: sink, Identity: router.IdentityAuto}
			}
			cfg.Kafka.Brokers = k.Addrs()
			var s *store.Store
			var r *router.Router
			var e minsheng.Emitter
			var ok atomic.Int64 // acks without error
			start := func() {
				var err error
				if s, err = store.Open(dir, store.Options{}); err != nil {
					t.Fatal(err)
				}
				if r, err = router.New(ctx, cfg, router.Options{Queues: s}); err != nil {
					t.Fatal(err)
				}
				p, err := New(Config{RouteTimeout: 300 * time.Millisecond}, Options{Triager: leadTriager{}, Router: r, Ledger: s})
				if err != nil {
					t.Fatal(err)
				}
				e = p.Emitter()
			}
			stop := func() {
				r.Close()
				s.Close()
			}
			start()
			defer func() { stop() }()
			var id string
			offer := func() result {
				it := item("INC-1", "路灯坏了") // a fresh copy, as a source offers it again
				res := emit(t, e, it)
				id = it.ID
				if res.err == nil {
					ok.Add(1)
				}
				return res
			}

			fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.down, Err: kerr.TopicAuthorizationFailed, Count: -1})
			for i := range downOffers {
				if res := offer(); res.err == nil {
					t.Fatalf("offer %d acked while %s fails: %+v", i+1, tc.down, res.out)
				}
				if i == 0 && tc.restart {
					stop()
					start()
				}
			}
			up := "minsheng.gov_service"
			if tc.down == up {
				up = "minsheng.discipline"
			}
			rec, err := s.Lookup(ctx, id)
			if err != nil {
				t.Fatalf("no record after %d offers while %s fails: %v", downOffers, tc.down, err)
			}
			if want := []string{strings.TrimPrefix(up, "minsheng.")}; !rec.Incomplete || !slices.Equal(rec.Destinations, want) {
				t.Errorf("record while %s fails: incomplete %v, destinations %v; want incomplete, %v", tc.down, rec.Incomplete, rec.Destinations, want)
			}
			fault.Remove()
			if tc.refuse {
				k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.down, Err: kerr.InvalidRecord, Count: -1})
			}
			last := offer()
			if last.err != nil {
				t.Fatalf("offered once %s is back: %v", tc.down, last.err)
			}
			if n := ok.Load(); n != 1 {
				t.Errorf("acked without error %d times, want once", n)
			}
			want := []string{"discipline", "gov_service"}
			wantCopies := map[string]int{"discipline": 1, "gov_service": 1}
			if tc.refuse {
				want = []string{"discipline_dead_letter", "gov_service"}
				wantCopies = map[string]int{"discipline": 0, "gov_service": 1, "discipline_dead_letter": 1}
			}
			if got := slices.Sorted(slices.Values(last.out.Destinations)); !slices.Equal(got, want) {
				t.Errorf("acked with destinations %v, want %v", last.out.Destinations, want)
			}
			rec, err = s.Lookup(ctx, last.out.ItemID)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(slices.Values(rec.Destinations)); !slices.Equal(got, want) || rec.Incomplete {
				t.Errorf("record: destinations %v, incomplete %v; want %v, complete", rec.Destinations, rec.Incomplete, want)
			}
			if tc.refuse && (len(rec.Undelivered) != 1 || rec.Undelivered[0].Destination != "discipline" || !rec.Undelivered[0].Refused) {
				t.Errorf("record's undelivered %+v, want the inspectors' refusal", rec.Undelivered)
			}
			if again := offer(); again.err != nil || !again.out.Duplicate {
				t.Errorf("offered once more: %+v %v, want a repeat answered from the record", again.out, again.err)
			}
			ok.Add(-1) // that repeat's ack
			copies := map[string]int{}
			for _, d := range []string{"discipline", "gov_service"} {
				if slices.Contains(tc.queues, d) {
					copies[d] = depth(t, s, d)
					continue
				}
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				msgs, err := k.Read(rctx, "minsheng."+d, "incomplete-test", wantCopies[d], 700*time.Millisecond)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					if string(m.Key) == last.out.ItemID {
						copies[d]++
					}
				}
			}
			copies["discipline_dead_letter"] = depth(t, s, "discipline_dead_letter")
			copies["dead_letter"] = depth(t, s, "dead_letter")
			t.Logf("after %d offers with %s down and one after: copies %v", downOffers, tc.down, copies)
			for d, n := range copies {
				if n != wantCopies[d] {
					t.Errorf("%s holds %d copies of the item, want %d", d, n, wantCopies[d])
				}
			}
		})
	}
}

// TestIncompleteKeepsItsCase: while only the inspectors' destination
// lacks a service request with a lead, the case index keeps it where it
// will be once finished, so a like letter arriving meanwhile joins its
// case. Desks not told of the lead see such an item complete; were it
// held back from the index until the inspectors took it, they would see
// it gain a case later, and its like letters start cases of their own,
// which never happens to an item without a lead.
func TestIncompleteKeepsItsCase(t *testing.T) {
	ctx := context.Background()
	k := testkafka.StartT(t)
	s, _, e := leadGateway(t, k, newIndex(t), "discipline")
	fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.TopicAuthorizationFailed, Count: -1})
	first := letter(minsheng.ChannelHotline, "12345", "CASE-1", "金桂园8栋电梯坏了三个月", liftLetter)
	if res := emit(t, e, first); res.err == nil {
		t.Fatalf("acked while the inspectors' topic fails: %+v", res.out)
	}
	rec, err := s.Lookup(ctx, first.ID)
	if err != nil || !rec.Incomplete {
		t.Fatalf("first letter: record %+v, %v; want incomplete", rec, err)
	}
	// A like letter from another channel, while the first is incomplete.
	fault.Remove()
	second := letter(minsheng.ChannelNewspaper, "qingdao-daily", "CASE-2", "金桂园小区电梯坏了三个月没人修", liftLetter)
	res := emit(t, e, second)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if c := res.out.Decision.Case; c == nil || c.ID != first.ID {
		t.Errorf("the like letter's case %+v, want the incomplete first letter's (%s)", c, first.ID)
	}
}

// TestIncompleteCaseIndexAgreesWithRestart: the running case index and one
// a restarted gateway rebuilds from the ledger hold the same items, under
// the same cases, while a letter's route is incomplete and once it is
// finished: an item only the inspectors' destination lacks is held by
// both, one 12345's destination lacks by neither, and one whose finishing
// route dead-letters the inspectors' copy (they refuse it for good) by
// neither, as an item dead-lettered on its first route.
func TestIncompleteCaseIndexAgreesWithRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		down   string // the topic failing on the first route
		refuse bool   // the finishing route: the topic refuses for good
		held   int    // items the index holds once the route is over
	}{
		{name: "inspectors' missing, then taken", down: "minsheng.discipline", held: 1},
		{name: "12345's missing, then taken", down: "minsheng.gov_service", held: 1},
		{name: "inspectors' missing, then refused for good", down: "minsheng.discipline", refuse: true, held: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := testkafka.StartT(t)
			x := newIndex(t)
			s, r, e := leadGateway(t, k, x, "gov_service", "discipline")
			var id string // the first letter's, its case's ID
			agree := func(when string, want int) {
				t.Helper()
				re := newIndex(t)
				n, err := re.Rebuild(s.Each, r.CaseScope)
				if err != nil {
					t.Fatal(err)
				}
				if n != x.Len() || n != want {
					t.Errorf("%s: running index holds %d items, a restarted one %d; want %d", when, x.Len(), n, want)
				}
				got, _ := x.Members(id, 10)
				again, _ := re.Members(id, 10)
				if !slices.Equal(got, again) {
					t.Errorf("%s: the first letter's case holds %v running, %v restarted", when, got, again)
				}
			}
			fault := k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.down, Err: kerr.TopicAuthorizationFailed, Count: -1})
			offer := func() result {
				return emit(t, e, letter(minsheng.ChannelHotline, "12345", "CASE-1", "金桂园8栋电梯坏了三个月", liftLetter))
			}
			res := offer()
			if res.err == nil {
				t.Fatalf("acked while %s fails: %+v", tc.down, res.out)
			}
			id = res.out.ItemID
			held := 0
			if tc.down == "minsheng.discipline" {
				held = 1
			}
			agree("incomplete", held)
			fault.Remove()
			if tc.refuse {
				k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: tc.down, Err: kerr.InvalidRecord, Count: -1})
			}
			if res := offer(); res.err != nil {
				t.Fatalf("offered again: %v", res.err)
			}
			agree("finished", tc.held)
		})
	}
}

// leadGateway starts a store, a router with dests on k's topics and a
// pipeline deciding every item a service request with a lead, linking
// with x; all are closed when t ends.
func leadGateway(t *testing.T, k *testkafka.Cluster, x *cases.Index, dests ...string) (*store.Store, *router.Router, minsheng.Emitter) {
	t.Helper()
	cfg := router.DefaultConfig()
	for _, d := range dests {
		if err := k.CreateTopics("minsheng." + d); err != nil {
			t.Fatal(err)
		}
		cfg.Destinations[d] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
	}
	cfg.Kafka.Brokers = k.Addrs()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := router.New(context.Background(), cfg, router.Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p, err := New(Config{RouteTimeout: 300 * time.Millisecond}, Options{Triager: leadTriager{}, Router: r, Ledger: s, Linker: x})
	if err != nil {
		t.Fatal(err)
	}
	return s, r, p.Emitter()
}

// hookRouter counts the finishing routes (RouteExcept) and, with entered
// set, tells of each and waits for release before sending.
type hookRouter struct {
	*router.Router
	excepts atomic.Int64
	entered chan string
	release chan struct{}
}

func (h *hookRouter) RouteExcept(ctx context.Context, it *minsheng.Item, d *minsheng.Decision, reached []string) (minsheng.Routing, error) {
	h.excepts.Add(1)
	if h.entered != nil {
		h.entered <- it.ID
		<-h.release
	}
	return h.Router.RouteExcept(ctx, it, d, reached)
}

// extraLister lists an ID of its own beside the store's incomplete ones.
type extraLister struct {
	*store.Store
	extra string
}

func (l extraLister) Incomplete() []string { return append(l.Store.Incomplete(), l.extra) }

type finishRig struct {
	k     *testkafka.Cluster
	s     *store.Store
	r     *hookRouter
	p     *Pipeline
	e     minsheng.Emitter
	clock atomic.Int64 // added to the time (Options.Now)
}

// newFinishRig is leadGateway's setup (12345's topic and the inspectors',
// every item a service request with a lead), with the pipeline, its
// router hooked and its clock movable. ledger, when not nil, wraps the
// store as the pipeline's ledger.
func newFinishRig(t *testing.T, ledger func(*store.Store) minsheng.Ledger) *finishRig {
	t.Helper()
	f := &finishRig{k: testkafka.StartT(t)}
	cfg := router.DefaultConfig()
	for _, d := range []string{"gov_service", "discipline"} {
		if err := f.k.CreateTopics("minsheng." + d); err != nil {
			t.Fatal(err)
		}
		cfg.Destinations[d] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
	}
	cfg.Kafka.Brokers = f.k.Addrs()
	var err error
	if f.s, err = store.Open(t.TempDir(), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.s.Close() })
	r, err := router.New(context.Background(), cfg, router.Options{Queues: f.s})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f.r = &hookRouter{Router: r}
	var led minsheng.Ledger = f.s
	if ledger != nil {
		led = ledger(f.s)
	}
	now := func() time.Time { return time.Now().Add(time.Duration(f.clock.Load())) }
	if f.p, err = New(Config{RouteTimeout: 300 * time.Millisecond}, Options{Triager: leadTriager{}, Router: f.r, Ledger: led, Now: now}); err != nil {
		t.Fatal(err)
	}
	f.e = f.p.Emitter()
	return f
}

// incomplete offers an item while the inspectors' topic fails, leaving
// its record incomplete (12345's topic holds it), and returns its ID and
// the fault, still in place.
func (f *finishRig) incomplete(t *testing.T, ref string) (string, *kfake.FaultHandle) {
	t.Helper()
	fault := f.k.Fake().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "minsheng.discipline", Err: kerr.TopicAuthorizationFailed, Count: -1})
	res := f.offer(t, ref)
	if res.err == nil {
		t.Fatalf("acked while the inspectors' topic fails: %+v", res.out)
	}
	if rec, err := f.s.Lookup(context.Background(), res.out.ItemID); err != nil || !rec.Incomplete {
		t.Fatalf("record %+v %v, want incomplete", rec, err)
	}
	return res.out.ItemID, fault
}

// later moves the clock past route_timeout after the last attempt.
func (f *finishRig) later() { f.clock.Add(int64(time.Hour)) }

// copies counts the item's messages in minsheng.<dest>.
func (f *finishRig) copies(t *testing.T, id, dest, group string, want int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := f.k.Copies(ctx, "minsheng."+dest, group, id, want, 700*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *finishRig) wantDelivered(t *testing.T, id string) {
	t.Helper()
	rec, err := f.s.Lookup(context.Background(), id)
	if err != nil || rec.Incomplete || !slices.Equal(slices.Sorted(slices.Values(rec.Destinations)), []string{"discipline", "gov_service"}) {
		t.Errorf("record %+v %v; want complete, at both", rec, err)
	}
	for _, d := range []string{"gov_service", "discipline"} {
		if n := f.copies(t, id, d, "finish-"+d, 1); n != 1 {
			t.Errorf("%s holds %d copies, want 1", d, n)
		}
	}
}

// newRaceRig is a finishRig with the item ref's record incomplete, the
// inspectors' topic back, the clock past route_timeout, and the finishing
// routes held until f.r.release is closed (f.r.entered tells of each).
func newRaceRig(t *testing.T, ref string) (*finishRig, string) {
	f := newFinishRig(t, nil)
	id, fault := f.incomplete(t, ref)
	fault.Remove()
	f.later()
	f.r.entered, f.r.release = make(chan string), make(chan struct{})
	return f, id
}

// offer is the source offering the item ref (again).
func (f *finishRig) offer(t *testing.T, ref string) result {
	return emit(t, f.e, item(ref, "路灯坏了"))
}

// TestFinisherRacesOffer: the finisher and the source offering the item
// again at the same moment send it to the inspectors once, whichever
// comes first; the offer is acked (a repeat when the finisher did it).
func TestFinisherRacesOffer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other bool // a desk's post of other content under the ref
	}{
		{name: "finisher first, the offer waits for it"},
		{name: "finisher first, a desk's other content under the ref waits for it", other: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, id := newRaceRig(t, "RACE-1")
			finished := make(chan int, 1)
			go func() { finished <- f.p.FinishIncomplete(context.Background()) }()
			<-f.r.entered // the finisher is sending it
			waiting := make(chan string, 1)
			f.p.waiting = func(id string) { waiting <- id }
			offered := make(chan result, 1)
			it := item("RACE-1", "路灯坏了")
			if tc.other {
				it.Via, it.Body = minsheng.ViaDesk, "另一件事"
			}
			go func() { offered <- emit(t, f.e, it) }()
			if got := <-waiting; got != id {
				t.Fatalf("waiting for %s, want %s", got, id)
			}
			close(f.r.release)
			if n := <-finished; n != 1 {
				t.Errorf("the finisher finished %d routes, want 1", n)
			}
			// Answered from the record the finisher wrote: a repeat, or,
			// for other content, a conflict (the desk answers 409).
			if res := <-offered; res.err != nil || !res.out.Duplicate || res.out.Conflict != tc.other {
				t.Errorf("the offer: %+v %v; want acked, a repeat, conflict %v", res.out, res.err, tc.other)
			}
			if n := f.r.excepts.Load(); n != 1 {
				t.Errorf("%d finishing routes, want 1", n)
			}
			f.wantDelivered(t, id)
		})
	}
	t.Run("offer first, the finisher leaves it", func(t *testing.T) {
		f, id := newRaceRig(t, "RACE-2")
		offered := make(chan result, 1)
		go func() { offered <- f.offer(t, "RACE-2") }()
		<-f.r.entered // the offer is sending it
		if n := f.p.FinishIncomplete(context.Background()); n != 0 {
			t.Errorf("the finisher finished %d routes while the offer was, want 0", n)
		}
		close(f.r.release)
		if res := <-offered; res.err != nil || res.out.Duplicate {
			t.Errorf("the offer: %+v %v; want acked, finished by it", res.out, res.err)
		}
		if n := f.p.FinishIncomplete(context.Background()); n != 0 {
			t.Errorf("the finisher finished %d routes after the offer had, want 0", n)
		}
		if n := f.r.excepts.Load(); n != 1 {
			t.Errorf("%d finishing routes, want 1", n)
		}
		f.wantDelivered(t, id)
	})
}

// TestFinisherLeaves: what the finisher does not finish. A record whose
// last attempt is younger than route_timeout (its source may be offering
// it again now); an ID the ledger lists whose record is complete (finished
// meanwhile); one whose review decision is being sent on (the review desk
// finishes it); and, while the inspectors' topic is still down, every item
// after the first that lacks it in the same pass: tried once a pass, not
// once an item. Then, the topic back, one pass finishes both.
func TestFinisherLeaves(t *testing.T) {
	done := minsheng.ItemID(minsheng.ChannelHotline, "12345", "DONE") // listed, its record complete
	f := newFinishRig(t, func(s *store.Store) minsheng.Ledger { return extraLister{s, done} })
	lead := &minsheng.Decision{Class: minsheng.ClassGovService, Flags: minsheng.Flags{DisciplineLead: true}}
	if err := f.s.Commit(context.Background(), &minsheng.Record{ID: done, Item: item("DONE", "x"), Decision: lead,
		Destinations: []string{"gov_service", "discipline"}}); err != nil {
		t.Fatal(err)
	}
	pending := item("PENDING", "x")
	pending.Prepare(time.Now())
	if err := f.s.Commit(context.Background(), &minsheng.Record{ID: pending.ID, Item: pending, Decision: lead, Destinations: []string{"gov_service"},
		Incomplete: true, Review: &minsheng.Review{Desk: "reviewers", Pending: true}, Trail: []minsheng.Event{{Step: minsheng.StepReviewed, At: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	a, fault := f.incomplete(t, "LEAVE-1")
	b := item("LEAVE-2", "路灯坏了")
	if res := emit(t, f.e, b); res.err == nil { // the fault still in place
		t.Fatalf("acked while the inspectors' topic fails: %+v", res.out)
	}
	if got := f.s.Incomplete(); !slices.Equal(got, slices.Sorted(slices.Values([]string{a, b.ID, pending.ID}))) {
		t.Fatalf("incomplete %v, want %s, %s and %s", got, a, b.ID, pending.ID)
	}
	f.clock.Store(-int64(time.Minute)) // as just after their routes
	if n := f.p.FinishIncomplete(context.Background()); n != 0 || f.r.excepts.Load() != 0 {
		t.Errorf("just after their routes: %d finished, %d finishing routes; want none", n, f.r.excepts.Load())
	}
	f.clock.Store(0)
	f.later()
	if n := f.p.FinishIncomplete(context.Background()); n != 0 || f.r.excepts.Load() != 1 {
		t.Errorf("the inspectors' topic down: %d finished, %d finishing routes; want 0, 1", n, f.r.excepts.Load())
	}
	fault.Remove()
	if n := f.p.FinishIncomplete(context.Background()); n != 2 || f.r.excepts.Load() != 3 {
		t.Errorf("the inspectors' topic back: %d finished, %d finishing routes in all; want 2, 3", n, f.r.excepts.Load())
	}
	if got := f.s.Incomplete(); !slices.Equal(got, []string{pending.ID}) {
		t.Errorf("incomplete %v after the pass, want only the review being sent on", got)
	}
	if rec, err := f.s.Lookup(context.Background(), done); err != nil || len(rec.Trail) != 0 {
		t.Errorf("the complete record listed: %+v %v; want it left as it was", rec, err)
	}
	for _, id := range []string{a, b.ID} {
		if n := f.copies(t, id, "discipline", "leave-"+id, 2); n != 1 {
			t.Errorf("the inspectors' topic holds %d copies of %s, want 1", n, id)
		}
	}
}

// TestFinisherEndsWhenStopGivesUp: a route the finisher is sending to a
// topic still failing ends when Stop gives up waiting (shutdown_timeout),
// not at route_timeout, which may be longer: the gateway waits for the
// finisher after Stop, and so stopped within neither. What took the item
// is as recorded, and the record stays incomplete for the next start.
// Before, this test waited for route_timeout (an hour here).
func TestFinisherEndsWhenStopGivesUp(t *testing.T) {
	f := newFinishRig(t, nil)
	id, _ := f.incomplete(t, "STOP-1") // the inspectors' topic still failing
	f.p.cfg.RouteTimeout = time.Hour
	f.clock.Add(int64(2 * time.Hour))
	f.r.entered, f.r.release = make(chan string), make(chan struct{})
	finished := make(chan int, 1)
	go func() { finished <- f.p.FinishIncomplete(context.Background()) }()
	<-f.r.entered // the finisher is sending it, and holds its place in flight
	close(f.r.release)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.p.Stop(gone); err == nil {
		t.Fatal("Stop: the finisher's route in flight, want an error")
	}
	if n := <-finished; n != 0 {
		t.Errorf("finished %d routes, want 0", n)
	}
	rec, err := f.s.Lookup(context.Background(), id)
	if err != nil || !rec.Incomplete || !slices.Equal(rec.Destinations, []string{"gov_service"}) {
		t.Errorf("record %+v %v; want incomplete, at gov_service alone", rec, err)
	}
}

// unreadableLedger lists an ID of its own among the incomplete ones and
// fails to read its record, as a damaged ledger would.
type unreadableLedger struct {
	*store.Store
	bad string
}

func (l unreadableLedger) Incomplete() []string { return append(l.Store.Incomplete(), l.bad) }

func (l unreadableLedger) Lookup(ctx context.Context, id string) (*minsheng.Record, error) {
	if id == l.bad {
		return nil, errors.New("test: the ledger could not be read")
	}
	return l.Store.Lookup(ctx, id)
}

// TestFinisherCountsUnreadableRecords: a record the finisher cannot read
// is counted as failed (and logged), not passed over without a trace.
func TestFinisherCountsUnreadableRecords(t *testing.T) {
	bad := minsheng.ItemID(minsheng.ChannelHotline, "12345", "UNREADABLE")
	f := newFinishRig(t, func(s *store.Store) minsheng.Ledger { return unreadableLedger{s, bad} })
	for pass := 1; pass <= 2; pass++ {
		if n := f.p.FinishIncomplete(context.Background()); n != 0 {
			t.Errorf("pass %d finished %d routes, want 0", pass, n)
		}
		if got := testutil.ToFloat64(f.p.finished.WithLabelValues(finishedFailed)); got != float64(pass) {
			t.Errorf("after pass %d, %v failed, want %d", pass, got, pass)
		}
	}
}

// byLabel sums a counter vector's counts by the value of one label.
func byLabel(t *testing.T, c prometheus.Collector, label string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestFinisherLeavesItemsTotal: minsheng_items_total counts what sources
// offer, once an offer, by the outcome the source was told; the finisher's
// passes are counted in minsheng_incomplete_finished_total alone. Before,
// each pass that found the inspectors' topic still down added a failed
// item, and one that finished the route a routed one: an item offered once
// was counted as many times as the finisher tried it.
func TestFinisherLeavesItemsTotal(t *testing.T) {
	f := newFinishRig(t, nil)
	var fault *kfake.FaultHandle
	for _, step := range []struct {
		name     string
		do       func()
		items    map[string]float64 // minsheng_items_total by outcome
		finished map[string]float64 // minsheng_incomplete_finished_total by outcome
	}{
		{"offered while the inspectors' topic fails", func() { _, fault = f.incomplete(t, "COUNT-1"); f.later() },
			map[string]float64{"failed": 1}, map[string]float64{}},
		{"a pass while it still fails", func() { f.p.FinishIncomplete(context.Background()) },
			map[string]float64{"failed": 1}, map[string]float64{finishedIncomplete: 1}},
		{"another pass while it still fails", func() { f.p.FinishIncomplete(context.Background()) },
			map[string]float64{"failed": 1}, map[string]float64{finishedIncomplete: 2}},
		{"a pass once it is back", func() { fault.Remove(); f.p.FinishIncomplete(context.Background()) },
			map[string]float64{"failed": 1}, map[string]float64{finishedIncomplete: 2, finishedComplete: 1}},
		{"offered again", func() { f.offer(t, "COUNT-1") },
			map[string]float64{"failed": 1, "duplicate": 1}, map[string]float64{finishedIncomplete: 2, finishedComplete: 1}},
	} {
		step.do()
		if got := byLabel(t, f.p.items, "outcome"); !maps.Equal(got, step.items) {
			t.Errorf("%s: minsheng_items_total %v, want %v", step.name, got, step.items)
		}
		if got := byLabel(t, f.p.finished, "outcome"); !maps.Equal(got, step.finished) {
			t.Errorf("%s: minsheng_incomplete_finished_total %v, want %v", step.name, got, step.finished)
		}
	}
}

// failingCommits is the store as a ledger whose commits of complete
// records fail while fail is set.
type failingCommits struct {
	*store.Store
	fail *atomic.Bool
}

func (l failingCommits) Commit(ctx context.Context, rec *minsheng.Record) error {
	if l.fail.Load() && !rec.Incomplete {
		return errors.New("test: the ledger could not be written")
	}
	return l.Store.Commit(ctx, rec)
}

// TestIncompleteLogLinesNameTheFinisher: the lines that tell what becomes
// of an item left incomplete name the finisher beside the source's next
// offer: it finishes the item every finish_interval, where a source may
// never offer it again. Before, they named the offer alone.
func TestIncompleteLogLinesNameTheFinisher(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		do        func(t *testing.T, f *finishRig, fail *atomic.Bool)
	}{
		{"offered while the inspectors' topic fails", "routed in part, recorded incomplete",
			func(t *testing.T, f *finishRig, _ *atomic.Bool) { f.incomplete(t, "LOG-1") }},
		{"finished by the finisher, not recorded", "routed in full but not recorded",
			func(t *testing.T, f *finishRig, fail *atomic.Bool) {
				_, fault := f.incomplete(t, "LOG-2")
				fault.Remove()
				f.later()
				fail.Store(true)
				f.p.FinishIncomplete(context.Background())
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fail := &atomic.Bool{}
			f := newFinishRig(t, func(s *store.Store) minsheng.Ledger { return failingCommits{s, fail} })
			log := make(testlog.Lines, 1000)
			f.p.o.Logger = log.Logger()
			tc.do(t, f, fail)
			if l := log.Line(tc.msg); !strings.Contains(l, "finisher") {
				t.Errorf("the line %q does not name the finisher", l)
			}
		})
	}
}
