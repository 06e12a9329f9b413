// Package conntest is a test helper for connectors: an Emitter that records
// what a source hands over and acknowledges it the way the pipeline does —
// asynchronously, out of order, with back-pressure, and, given a Ledger (the
// real store), reporting repeats of an item ID as Outcome.Duplicate.
//
// It is imported by _test.go files only.
package conntest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
)

// Emitter records emitted items and quarantined inputs. The zero value acks
// at once, on a new goroutine, without dedupe.
type Emitter struct {
	// Ledger, when set, makes the emitter dedupe by item ID like the
	// pipeline: the first emit of an ID is committed, later ones are acked
	// with Outcome.Duplicate.
	Ledger minsheng.Ledger
	// MaxDelay: each ack is delayed by a random duration up to MaxDelay, so
	// acks arrive out of order.
	MaxDelay time.Duration
	// MaxInFlight > 0 makes Emit block while that many items await their
	// ack (back-pressure).
	MaxInFlight int
	// Fail, when set, is asked for each item; a non-nil error is passed to
	// the ack (the item was not durably handled).
	Fail func(it *minsheng.Item) error

	dmu         sync.Mutex // serialises dedupe
	mu          sync.Mutex
	cond        *sync.Cond
	emitted     []*minsheng.Item
	quarantined []*minsheng.Quarantined
	invalid     []minsheng.FieldErrors
	firsts      map[string]int
	dups        int
	inFlight    int
	maxInFlight int
	acked       int
	wg          sync.WaitGroup
}

func (e *Emitter) init() {
	if e.cond == nil {
		e.cond = sync.NewCond(&e.mu)
		e.firsts = map[string]int{}
	}
}

// Emit records the item and acks it later.
func (e *Emitter) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	if it.ID == "" {
		it.ID = minsheng.ItemID(it.Channel, it.Source, it.Ref)
	}
	if it.TraceID == "" {
		it.TraceID = it.ID
	}
	if it.SchemaVersion == "" {
		it.SchemaVersion = minsheng.SchemaVersion
	}
	if err := e.take(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	e.emitted = append(e.emitted, it)
	if errs := it.Validate(); len(errs) > 0 {
		e.invalid = append(e.invalid, errs)
	}
	e.mu.Unlock()
	e.later(func() {
		var err error
		if e.Fail != nil {
			err = e.Fail(it)
		}
		out := minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}
		if err == nil {
			out.Duplicate, err = e.dedupe(it.ID, &minsheng.Record{ID: it.ID, Item: it})
		}
		e.done(it.ID, out, err)
		ack(out, err)
	})
	return nil
}

// Quarantine records the input and acks it later.
func (e *Emitter) Quarantine(ctx context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	if err := e.take(ctx); err != nil {
		return err
	}
	e.mu.Lock()
	e.quarantined = append(e.quarantined, q)
	e.mu.Unlock()
	e.later(func() {
		out := minsheng.Outcome{ItemID: q.ID()}
		var err error
		out.Duplicate, err = e.dedupe(q.ID(), &minsheng.Record{ID: q.ID(), Quarantine: q})
		e.done(q.ID(), out, err)
		ack(out, err)
	})
	return nil
}

func (e *Emitter) take(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.init()
	for e.MaxInFlight > 0 && e.inFlight >= e.MaxInFlight {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Wake periodically to notice ctx; acks broadcast too.
		stop := context.AfterFunc(ctx, func() { e.mu.Lock(); e.cond.Broadcast(); e.mu.Unlock() })
		e.cond.Wait()
		stop()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e.inFlight++
	e.maxInFlight = max(e.maxInFlight, e.inFlight)
	return nil
}

func (e *Emitter) later(f func()) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if e.MaxDelay > 0 {
			time.Sleep(rand.N(e.MaxDelay))
		}
		f()
	}()
}

func (e *Emitter) dedupe(id string, r *minsheng.Record) (bool, error) {
	if e.Ledger == nil {
		return false, nil
	}
	// One at a time, as the pipeline joins concurrent emits of one ID.
	e.dmu.Lock()
	defer e.dmu.Unlock()
	ctx := context.Background()
	if _, err := e.Ledger.Lookup(ctx, id); err == nil {
		return true, nil
	} else if !errors.Is(err, minsheng.ErrNotFound) {
		return false, err
	}
	return false, e.Ledger.Commit(ctx, r)
}

func (e *Emitter) done(id string, out minsheng.Outcome, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inFlight--
	e.acked++
	if err == nil && id != "" {
		if out.Duplicate {
			e.dups++
		} else {
			e.firsts[id]++
		}
	}
	e.cond.Broadcast()
}

// Wait blocks until every ack has been delivered.
func (e *Emitter) Wait() { e.wg.Wait() }

// Emitted returns the items emitted so far, in order.
func (e *Emitter) Emitted() []*minsheng.Item {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*minsheng.Item(nil), e.emitted...)
}

// Quarantined returns the quarantined inputs so far.
func (e *Emitter) Quarantined() []*minsheng.Quarantined {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*minsheng.Quarantined(nil), e.quarantined...)
}

// Invalid returns the validation errors of emitted items that fail the
// schema (a connector should emit none).
func (e *Emitter) Invalid() []minsheng.FieldErrors {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]minsheng.FieldErrors(nil), e.invalid...)
}

// Handled returns how many times each item ID was handled for the first
// time and acked without error (more than 1 only without a Ledger).
func (e *Emitter) Handled() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.firsts))
	for k, v := range e.firsts {
		out[k] = v
	}
	return out
}

// Duplicates is how many emits were acked as repeats.
func (e *Emitter) Duplicates() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dups
}

// MaxInFlightSeen is the most items that awaited their ack at once.
func (e *Emitter) MaxInFlightSeen() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxInFlight
}

// Acked is how many acks have been delivered.
func (e *Emitter) Acked() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.acked
}

// OpenStore opens the real store (checkpoints, blobs, ledger) in dir without
// fsync, and closes it at the test's end.
func OpenStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Mended checks that an item whose text had control characters replaced
// says so in attrs.text_notes, with each of wants, and returns the bytes
// its raw_ref names: the original as it came.
func Mended(t testing.TB, st *store.Store, it *minsheng.Item, wants ...string) []byte {
	t.Helper()
	note := it.Attrs["text_notes"]
	for _, w := range wants {
		if !strings.Contains(note, w) {
			t.Errorf("item %q: text_notes %q lacks %q", it.Ref, note, w)
		}
	}
	if it.RawRef == "" {
		t.Fatalf("item %q: no raw_ref", it.Ref)
	}
	r, err := st.Blobs().Open(context.Background(), it.RawRef)
	if err != nil {
		t.Fatalf("item %q: raw_ref: %v", it.Ref, err)
	}
	defer r.Close()
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("item %q: raw_ref: %v", it.Ref, err)
	}
	return raw
}
