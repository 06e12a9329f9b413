package pipeline

import (
	"context"
	"errors"
	"slices"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// The finisher: an item some of whose destinations took it before another
// stayed unavailable past route_timeout is recorded incomplete, and its
// source is told it failed. Offered again, it is sent to the destinations
// that lack it (process, finish). A source that never offers it again (a
// desk that got 503 and gave up, a one-off import, a mail deleted) would
// leave those destinations without it for good: a lead the inspectors
// never get. So the pipeline finishes such routes itself, at start and
// every finish_interval, exactly as an offer would: under the item's
// flight (an offer at the same moment waits for it, then reads the record:
// a repeat once finished) and the router's item lock, with the record read again
// under both, by finish. The IDs come from the ledger (IncompleteLister),
// which keeps them without decoding any record.

// IncompleteLister is implemented by a Ledger that lists the IDs of the
// items whose latest record is incomplete (store.Store.Incomplete). An ID
// it names may have a complete record by the time it is read (finished
// meanwhile): the finisher reads each record and skips those.
type IncompleteLister interface {
	Incomplete() []string
}

// Finisher outcomes (minsheng_incomplete_finished_total's label).
const (
	finishedComplete     = "complete"
	finishedDeadLettered = "dead_lettered"
	finishedIncomplete   = "incomplete"
	finishedFailed       = "failed"
)

// errFinisher is what a finisher's flight lands with, whatever it did: an
// offer that waited for it handles the item itself, as after a failed
// attempt, and so reads the record again: finished, it is answered from it
// as a repeat (and a desk's post of other content under the same ref as a
// conflict, which the first's outcome would not tell).
var errFinisher = errors.New("handled by the finisher")

// RunFinisher finishes incomplete routes (FinishIncomplete) now and every
// FinishInterval, until ctx ends or the pipeline stops. It returns at once
// when the ledger lists no incomplete IDs (not an IncompleteLister).
func (p *Pipeline) RunFinisher(ctx context.Context) {
	if _, ok := p.o.Ledger.(IncompleteLister); !ok {
		return
	}
	tick := time.NewTicker(p.cfg.FinishInterval)
	defer tick.Stop()
	for {
		p.FinishIncomplete(ctx)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		case <-p.stopCh:
			return
		}
	}
}

// FinishIncomplete makes one pass over the incomplete records, finishing
// each route that no one else is handling, whose review decision (if any)
// is not being sent on, and whose last step is older than route_timeout
// (its source may be offering it again now). An item whose missing
// destinations include one that failed earlier in the pass is left to the
// next: a topic that is down costs a pass one route_timeout, not one per
// item. It returns how many routes it finished (complete or
// dead-lettered).
func (p *Pipeline) FinishIncomplete(ctx context.Context) int {
	l, ok := p.o.Ledger.(IncompleteLister)
	if !ok {
		return 0
	}
	down := map[string]bool{} // destinations that failed in this pass
	n := 0
	for _, id := range l.Incomplete() {
		if ctx.Err() != nil || p.Stopping() {
			break
		}
		switch p.finishOne(id, down) {
		case finishedComplete, finishedDeadLettered:
			n++
		}
	}
	return n
}

// finishOne finishes the route of item id if it should, and returns the
// outcome ("" when it left the item alone).
func (p *Pipeline) finishOne(id string, down map[string]bool) (outcome string) {
	// Counted among the items in flight, so that Stop waits for it.
	p.stopMu.RLock()
	if p.stopping {
		p.stopMu.RUnlock()
		return ""
	}
	p.wg.Add(1)
	p.stopMu.RUnlock()
	defer p.wg.Done()

	mine, _ := p.join(id)
	if mine == nil {
		return "" // an offer is handling it, and finishes it if it can
	}
	defer p.land(id, mine, minsheng.Outcome{ItemID: id}, errFinisher)

	lctx, lcancel := context.WithTimeout(context.Background(), p.cfg.RouteTimeout)
	defer lcancel()
	rec, lerr := p.o.Ledger.Lookup(lctx, id)
	if lerr != nil {
		return p.unread(id, lerr)
	}
	if !p.finishable(rec, down) {
		return ""
	}
	rec, unlock, lerr := p.lockItem(lctx, id, rec)
	defer unlock()
	if lerr != nil {
		return p.unread(id, lerr)
	}
	if !p.finishable(rec, down) {
		return ""
	}
	// The route's time starts once the lock is held: no source waits for
	// this one, and a review decision or re-delivery that held the lock
	// a while must not leave it none. It ends when Stop gives up waiting
	// (shutdown_timeout), so that the gateway stops within it whatever
	// route_timeout is: what took the item is recorded, the rest is the
	// next start's.
	ctx, cancel := context.WithTimeout(p.overdue, p.cfg.RouteTimeout)
	defer cancel()
	out, err := p.finish(ctx, nil, rec)
	if err != nil {
		// Still incomplete: recorded again when more destinations took
		// it (as an offer's attempt is), else as it was. Those it still
		// lacks are down for the rest of the pass.
		outcome = finishedIncomplete
		if after, lerr := p.o.Ledger.Lookup(context.Background(), id); lerr == nil && after.Incomplete {
			rec = after
		} else if lerr != nil {
			outcome = finishedFailed
		}
		for _, d := range p.lacking(rec) {
			down[d] = true
		}
		p.finished.WithLabelValues(outcome).Inc()
		return outcome
	}
	outcome = finishedComplete
	if planned, _ := p.o.Router.DestinationsFor(out.Decision); slices.ContainsFunc(planned, func(d string) bool { return !slices.Contains(out.Destinations, d) }) {
		outcome = finishedDeadLettered
	}
	p.finished.WithLabelValues(outcome).Inc()
	return outcome
}

// unread counts and logs a record the finisher could not read (it tries
// again next pass), which would otherwise show only as an item that stays
// in minsheng_incomplete_items.
func (p *Pipeline) unread(id string, err error) string {
	p.o.Logger.Warn("finisher: the record could not be read; tried again next pass", "id", id, "err", err)
	p.finished.WithLabelValues(finishedFailed).Inc()
	return finishedFailed
}

// finishable reports whether the finisher should finish rec's route now:
// it is incomplete, with an item and a decision, no review decision is
// being sent on (the review desk finishes that), its last step is older
// than route_timeout, and none of the destinations it lacks failed in this
// pass.
func (p *Pipeline) finishable(rec *minsheng.Record, down map[string]bool) bool {
	if !rec.Incomplete || rec.Item == nil || rec.Decision == nil || (rec.Review != nil && rec.Review.Pending) {
		return false
	}
	var last time.Time
	for _, ev := range rec.Trail {
		if ev.At.After(last) {
			last = ev.At
		}
	}
	if p.o.Now().Sub(last) < p.cfg.RouteTimeout {
		return false
	}
	return !slices.ContainsFunc(p.lacking(rec), func(d string) bool { return down[d] })
}

// lacking is the destinations rec's decision names that neither hold the
// item nor refused it for good: those finish sends it to.
func (p *Pipeline) lacking(rec *minsheng.Record) []string {
	planned, _ := p.o.Router.DestinationsFor(rec.Decision)
	return rec.Lacking(planned)
}
