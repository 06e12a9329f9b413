package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
)

// keywordTriager decides by a word in the title, so each test knows the
// decision it set up; triage itself is tested in its own package.
type keywordTriager struct {
	calls atomic.Int64
	gate  chan struct{} // when set, Decide waits for it
}

func (k *keywordTriager) Decide(ctx context.Context, it *minsheng.Item) (minsheng.Decision, error) {
	k.calls.Add(1)
	if k.gate != nil {
		<-k.gate
	}
	d := minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.9, ModelVersion: "keyword-test"}
	switch {
	case strings.Contains(it.Title, "贪污"):
		d.Class, d.Flags.DisciplineLead = minsheng.ClassDiscipline, true
	case strings.Contains(it.Title, "复核"):
		d.Confidence, d.Review = 0.3, true
	case strings.Contains(it.Title, "广告"):
		d.Class = minsheng.ClassInvalid
		d.Reasons = []minsheng.Reason{{Kind: "screen", Code: "spam", Detail: "advertising"}}
	}
	return d, nil
}

// failingRouter fails while down is set, else routes with the real router.
type failingRouter struct {
	minsheng.Router
	down atomic.Bool
}

func (f *failingRouter) RouteItem(ctx context.Context, it *minsheng.Item, d *minsheng.Decision) (minsheng.Routing, error) {
	if f.down.Load() {
		return minsheng.Routing{}, fmt.Errorf("test: %w", minsheng.ErrUnavailable)
	}
	return f.Router.RouteItem(ctx, it, d)
}

type rig struct {
	p      *Pipeline
	store  *store.Store
	tri    *keywordTriager
	router *failingRouter
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	return newRigWith(t, cfg, nil)
}

func newRigWith(t *testing.T, cfg Config, linker minsheng.Linker) *rig {
	t.Helper()
	s, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r, err := router.New(context.Background(), router.DefaultConfig(), router.Options{Queues: s})
	if err != nil {
		t.Fatal(err)
	}
	fr := &failingRouter{Router: r}
	tri := &keywordTriager{}
	p, err := New(cfg, Options{Triager: tri, Router: fr, Ledger: s, Linker: linker})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{p: p, store: s, tri: tri, router: fr}
}

func item(ref, title string) *minsheng.Item {
	return &minsheng.Item{Channel: minsheng.ChannelHotline, Source: "12345", Ref: ref,
		SubmittedAt: time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC), Title: title, Body: "内容"}
}

type result struct {
	out minsheng.Outcome
	err error
}

func emit(t *testing.T, e minsheng.Emitter, it *minsheng.Item) result {
	t.Helper()
	ch := make(chan result, 1)
	if err := e.Emit(context.Background(), it, func(o minsheng.Outcome, err error) { ch <- result{o, err} }); err != nil {
		t.Fatalf("emit: %v", err)
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no ack")
	}
	return result{}
}

func depth(t *testing.T, s *store.Store, dest string) int {
	n, err := s.QueueDepth(dest)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestItemRoutedRecordedAndAcked(t *testing.T) {
	rg := newRig(t, Config{})
	e := rg.p.Emitter()
	r := emit(t, e, item("A-1", "小区贪污问题"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantID := minsheng.ItemID(minsheng.ChannelHotline, "12345", "A-1")
	if r.out.ItemID != wantID || r.out.Duplicate || r.out.Decision.Class != minsheng.ClassDiscipline {
		t.Fatalf("outcome %+v", r.out)
	}
	if !slices.Equal(r.out.Destinations, []string{"discipline"}) || depth(t, rg.store, "discipline") != 1 {
		t.Fatalf("destinations %v", r.out.Destinations)
	}
	rec, err := rg.store.Lookup(context.Background(), wantID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, ev := range rec.Trail {
		steps = append(steps, ev.Step)
		if ev.At.IsZero() {
			t.Errorf("step %s has no time", ev.Step)
		}
	}
	if !slices.Equal(steps, []string{"received", "screened", "classified", "routed", "acked"}) {
		t.Fatalf("trail %v", steps)
	}
	if rec.Item.TraceID == "" || rec.Item.TraceID != r.out.TraceID {
		t.Fatalf("trace id %q vs %q", rec.Item.TraceID, r.out.TraceID)
	}
}

func TestRepeatIsNotRoutedTwice(t *testing.T) {
	rg := newRig(t, Config{})
	e := rg.p.Emitter()
	first := emit(t, e, item("R-1", "路灯坏了"))
	again := emit(t, e, item("R-1", "路灯坏了"))
	if first.err != nil || again.err != nil {
		t.Fatal(first.err, again.err)
	}
	if !again.out.Duplicate || again.out.ItemID != first.out.ItemID || again.out.Decision.Class != first.out.Decision.Class {
		t.Fatalf("repeat outcome %+v", again.out)
	}
	// The first outcome's trace id, which the item's log lines carry.
	if first.out.TraceID == "" || again.out.TraceID != first.out.TraceID {
		t.Errorf("repeat answered with trace id %q, the item's is %q", again.out.TraceID, first.out.TraceID)
	}
	if n := depth(t, rg.store, "gov_service"); n != 1 {
		t.Fatalf("gov_service queue holds %d, want 1", n)
	}
	if rg.tri.calls.Load() != 1 {
		t.Fatalf("triage ran %d times", rg.tri.calls.Load())
	}
	// An input's re-send with other provenance attrs (an overlapping
	// export's row number) is a plain repeat; a desk's post of other
	// content under its ref is a conflict.
	other := item("R-1", "路灯坏了")
	other.Attrs = map[string]string{"import_row": "7"}
	if o := emit(t, e, other); o.err != nil || !o.out.Duplicate || o.out.Conflict || o.out.Decision == nil {
		t.Fatalf("input re-send with other attrs: %+v %v", o.out, o.err)
	}
	desk := item("R-2", "路灯坏了")
	desk.Via = minsheng.ViaDesk
	emit(t, e, desk)
	changed := item("R-2", "路灯坏了一个月")
	changed.Via = minsheng.ViaDesk
	if o := emit(t, e, changed); o.err != nil || !o.out.Conflict {
		t.Fatalf("desk post of other content: %+v %v", o.out, o.err)
	}
}

// TestConflictCounted: a desk's post of other content under a used ref
// (answered 409) is counted in minsheng_items_total as a conflict, apart
// from the repeats: before, it was counted as a duplicate, so the 409s a
// desk got could not be told on /metrics from its harmless retries.
func TestConflictCounted(t *testing.T) {
	rg := newRig(t, Config{})
	e := rg.p.Emitter()
	for _, body := range []string{"路灯坏了", "路灯坏了", "路灯坏了一个月"} {
		it := item("C-1", body)
		it.Via = minsheng.ViaDesk
		if o := emit(t, e, it); o.err != nil {
			t.Fatal(o.err)
		}
	}
	want := map[string]float64{"routed": 1, "duplicate": 1, "conflict": 1}
	if got := byLabel(t, rg.p.items, "outcome"); !maps.Equal(got, want) {
		t.Errorf("minsheng_items_total %v, want %v", got, want)
	}
}

func TestConcurrentSameItemRoutedOnce(t *testing.T) {
	rg := newRig(t, Config{})
	rg.tri.gate = make(chan struct{})
	e := rg.p.Emitter()
	var wg sync.WaitGroup
	results := make(chan result, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Emit(context.Background(), item("C-1", "噪音"), func(o minsheng.Outcome, err error) { results <- result{o, err} })
		}()
	}
	wg.Wait()
	close(rg.tri.gate)
	dups := 0
	traces := map[string]bool{}
	for range 10 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.out.Duplicate {
			dups++
		}
		traces[r.out.TraceID] = true
	}
	if len(traces) != 1 || traces[""] {
		t.Errorf("trace ids in the answers: %v, want the one item's", traces)
	}
	if dups != 9 || depth(t, rg.store, "gov_service") != 1 {
		t.Fatalf("%d duplicates, queue depth %d", dups, depth(t, rg.store, "gov_service"))
	}
}

// TestConcurrentDeskPostOfOtherContent: a desk's post of other content
// under a ref while the first post of that ref is being handled is a
// conflict, as it is afterwards; the same content is a repeat. Before,
// both were answered with the first's outcome, a repeat, and the other
// content was lost without a word.
func TestConcurrentDeskPostOfOtherContent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		body     string
		conflict bool
	}{
		{"other content", "另一件事", true},
		{"the same content", "内容", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newRig(t, Config{})
			rg.tri.gate = make(chan struct{})
			waiting := make(chan string, 1)
			rg.p.waiting = func(id string) { waiting <- id }
			e := rg.p.Emitter()
			first, second := item("D-1", "路灯坏了"), item("D-1", "路灯坏了")
			first.Via, second.Via, second.Body = minsheng.ViaDesk, minsheng.ViaDesk, tc.body
			firstDone := make(chan result, 1)
			go func() { firstDone <- emit(t, e, first) }()
			for deadline := time.Now().Add(10 * time.Second); rg.tri.calls.Load() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the first post never reached triage")
				}
			}
			secondDone := make(chan result, 1)
			go func() { secondDone <- emit(t, e, second) }()
			<-waiting // the second waits for the first
			close(rg.tri.gate)
			if r := <-firstDone; r.err != nil || r.out.Duplicate {
				t.Fatalf("first: %+v %v", r.out, r.err)
			}
			if r := <-secondDone; r.err != nil || !r.out.Duplicate || r.out.Conflict != tc.conflict {
				t.Errorf("second: %+v %v; want a repeat, conflict %v", r.out, r.err, tc.conflict)
			}
			if n := depth(t, rg.store, "gov_service"); n != 1 {
				t.Errorf("gov_service holds %d, want 1", n)
			}
		})
	}
}

func TestInvalidSchemaFromASourceIsRejectedWithReason(t *testing.T) {
	rg := newRig(t, Config{})
	it := item("S-1", "")
	it.Body = "" // neither title nor body
	r := emit(t, rg.p.Emitter(), it)
	if r.err != nil || r.out.Decision.Class != minsheng.ClassInvalid || r.out.Decision.Reasons[0].Kind != "schema" {
		t.Fatalf("outcome %+v, %v", r.out, r.err)
	}
	if depth(t, rg.store, "rejected") != 1 {
		t.Fatal("not in the rejected queue")
	}
}

func TestUnavailableDestinationIsNotAckedNorRecorded(t *testing.T) {
	rg := newRig(t, Config{RouteTimeout: time.Second})
	rg.router.down.Store(true)
	e := rg.p.Emitter()
	r := emit(t, e, item("U-1", "停水"))
	if !errors.Is(r.err, minsheng.ErrUnavailable) {
		t.Fatalf("err %v", r.err)
	}
	if _, err := rg.store.Lookup(context.Background(), r.out.ItemID); !errors.Is(err, minsheng.ErrNotFound) {
		t.Fatal("a failed item was recorded as handled")
	}
	rg.router.down.Store(false)
	r = emit(t, e, item("U-1", "停水"))
	if r.err != nil || r.out.Duplicate {
		t.Fatalf("retry: %+v %v", r.out, r.err)
	}
}

func TestBackPressureAndDrainOnStop(t *testing.T) {
	rg := newRig(t, Config{MaxInFlight: 2})
	rg.tri.gate = make(chan struct{})
	e := rg.p.Emitter()
	acks := make(chan result, 3)
	ack := func(o minsheng.Outcome, err error) { acks <- result{o, err} }
	for i := range 2 {
		if err := e.Emit(context.Background(), item(fmt.Sprint("B-", i), "井盖"), ack); err != nil {
			t.Fatal(err)
		}
	}
	// The third waits for a place; with a short deadline it is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := e.Emit(ctx, item("B-2", "井盖"), ack)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third emit: %v, want it held and then refused", err)
	}
	// Another source has its own bound.
	other := rg.p.Emitter()
	if err := other.Emit(context.Background(), item("O-1", "井盖"), ack); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- rg.p.Stop(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	if err := rg.p.Emitter().Emit(context.Background(), item("late", "x"), ack); !errors.Is(err, minsheng.ErrStopping) {
		t.Fatalf("emit while stopping: %v", err)
	}
	select {
	case <-stopped:
		t.Fatal("Stop returned with items in flight")
	default:
	}
	close(rg.tri.gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := <-acks; r.err != nil {
			t.Fatalf("drained item: %v", r.err)
		}
	}
}

func TestQuarantinedGoesToDeadLetter(t *testing.T) {
	rg := newRig(t, Config{})
	q := &minsheng.Quarantined{Channel: minsheng.ChannelMayorMailbox, Source: "mayor", Ref: "<broken@x>",
		Reason: "undecodable MIME: bad boundary", Raw: []byte("raw bytes"), RawRef: "sha256:00"}
	ch := make(chan result, 1)
	if err := rg.p.Emitter().Quarantine(context.Background(), q, func(o minsheng.Outcome, err error) { ch <- result{o, err} }); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil || !slices.Equal(r.out.Destinations, []string{"dead_letter"}) {
		t.Fatalf("%+v %v", r.out, r.err)
	}
	msgs, _ := rg.store.Read(context.Background(), "dead_letter", "test-desk", 10, time.Minute, 0)
	if len(msgs) != 1 || string(msgs[0].Envelope.Quarantine.Raw) != "raw bytes" || msgs[0].Envelope.Reason != q.Reason {
		t.Fatalf("dead letter: %+v", msgs)
	}
	rec, err := rg.store.Lookup(context.Background(), q.ID())
	if err != nil || rec.Quarantine == nil || rec.Quarantine.Raw != nil {
		t.Fatalf("ledger record %+v %v (raw bytes belong in the blob store, not the ledger)", rec, err)
	}
}
