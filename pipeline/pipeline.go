// Package pipeline carries items from sources through triage and the router
// to their destinations and back to the source as an acknowledgement.
//
// For each item: fill in its ID and trace ID → validate → drop it as a repeat
// if the ledger already holds it (answering with the first outcome) → triage
// → route (fan-out, retries, dead letter) → record the trail in the ledger →
// ack the source. A source is acked only after every destination accepted
// the item (or the dead letter destination did), and only after the trail is
// durable. Items in flight per source are bounded (back-pressure). Stop
// refuses new items and waits for those in flight. An item whose route is
// incomplete (some destinations took it, another stayed unavailable) is
// finished when its source offers it again, or by the finisher
// (RunFinisher, finisher.go) if that comes first.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
)

// Config tunes the pipeline.
type Config struct {
	// MaxInFlight bounds the items each source may have in flight; a
	// source's Emit blocks beyond it.
	MaxInFlight int `yaml:"max_in_flight" default:"1024" validate:"gte=1,lte=1000000"`
	// RouteTimeout bounds how long an item may wait for its destinations
	// (retrying an unavailable one) before its source is told it failed.
	RouteTimeout time.Duration `yaml:"route_timeout" default:"5s" validate:"gt=0"`
	// FinishInterval is how often the gateway finishes incomplete routes
	// itself (at start, then at this interval): an item some destinations
	// took and another could not before route_timeout is sent to those
	// that lack it without waiting for its source to offer it again,
	// which a desk that gave up, a one-off import or a deleted mail never
	// does (finisher.go).
	FinishInterval time.Duration `yaml:"finish_interval" default:"1m" validate:"gte=100ms"`
}

// Options are the pipeline's collaborators.
type Options struct {
	Triager minsheng.Triager
	Router  minsheng.Router
	Ledger  minsheng.Ledger
	Logger  *slog.Logger
	Metrics prometheus.Registerer
	// Linker, when set, links each valid item not sent to review to the
	// case of earlier items with the same demand that went to the same
	// destinations (Decision.Case); routing is unchanged.
	Linker minsheng.Linker
	// Now is the clock (tests); time.Now when nil.
	Now func() time.Time
}

// ItemLocker is implemented by a Router whose desks change recorded items
// (review decisions, re-deliveries) under a lock per item: LockItem waits
// until no one else changes item id, and returns the unlock. The pipeline
// holds it while it finishes an incomplete route.
type ItemLocker interface {
	LockItem(id string) (unlock func())
}

// Pipeline is safe for concurrent use by any number of sources.
type Pipeline struct {
	cfg Config
	o   Options

	stopMu   sync.RWMutex
	stopping bool
	stopCh   chan struct{}
	// overdue ends when Stop gives up waiting (its context ended): a
	// route the finisher is sending ends then, as no source waits for it
	// and its record says what took it (finisher.go).
	overdue context.Context
	giveUp  context.CancelFunc
	wg      sync.WaitGroup

	flightMu sync.Mutex
	flights  map[string]*flight

	items    *prometheus.CounterVec
	latency  prometheus.Histogram
	inFlight prometheus.Gauge
	finished *prometheus.CounterVec

	// waiting, when set (tests), is called when an item's handling finds
	// another handling of its ID and waits for it (join).
	waiting func(id string)
}

type flight struct {
	done chan struct{}
	out  minsheng.Outcome
	err  error
}

// New makes a pipeline.
func New(cfg Config, o Options) (*Pipeline, error) {
	if o.Triager == nil || o.Router == nil || o.Ledger == nil {
		return nil, errors.New("pipeline: Triager, Router and Ledger are required")
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.RouteTimeout <= 0 {
		cfg.RouteTimeout = 5 * time.Second
	}
	if cfg.FinishInterval <= 0 {
		cfg.FinishInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Pipeline{cfg: cfg, o: o, stopCh: make(chan struct{}), flights: map[string]*flight{}}
	p.overdue, p.giveUp = context.WithCancel(context.Background())
	p.items = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_items_total",
		Help: "Items offered by sources, each offer once, by channel, class and outcome (routed, duplicate, conflict: a desk's other content under a used ref, failed, quarantined); the finisher's passes are counted in minsheng_incomplete_finished_total."}, []string{"channel", "class", "outcome"})
	p.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "minsheng_item_seconds",
		Help: "Time from an item entering the pipeline to its ack.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)})
	p.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "minsheng_items_in_flight", Help: "Items in the pipeline now."})
	p.finished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_incomplete_finished_total",
		Help: "Incomplete routes the gateway tried to finish itself, by outcome (complete, dead_lettered, incomplete: still lacking a destination, failed: not recorded)."}, []string{"outcome"})
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{p.items, p.latency, p.inFlight, p.finished} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("pipeline: metrics: %w", err)
			}
		}
	}
	return p, nil
}

// Emitter returns an Emitter for one source, with its own in-flight bound.
func (p *Pipeline) Emitter() minsheng.Emitter {
	return &emitter{p: p, sem: make(chan struct{}, p.cfg.MaxInFlight)}
}

// Stop refuses new items and waits until those in flight are acked, or ctx
// ends.
func (p *Pipeline) Stop(ctx context.Context) error {
	p.stopMu.Lock()
	if !p.stopping {
		p.stopping = true
		close(p.stopCh)
	}
	p.stopMu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		p.giveUp()
		return fmt.Errorf("pipeline: items still in flight at shutdown: %w", ctx.Err())
	}
}

// Stopping reports whether Stop was called.
func (p *Pipeline) Stopping() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

type emitter struct {
	p   *Pipeline
	sem chan struct{}
}

// admit takes a place for one item, or says why not.
func (e *emitter) admit(ctx context.Context) error {
	p := e.p
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopCh:
		return minsheng.ErrStopping
	}
	p.stopMu.RLock()
	defer p.stopMu.RUnlock()
	if p.stopping {
		<-e.sem
		return minsheng.ErrStopping
	}
	p.wg.Add(1)
	p.inFlight.Inc()
	return nil
}

func (e *emitter) leave() {
	<-e.sem
	e.p.inFlight.Dec()
	e.p.wg.Done()
}

func (e *emitter) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	if err := e.admit(ctx); err != nil {
		return err
	}
	go func() {
		defer e.leave()
		start := time.Now()
		out, err := e.p.process(it)
		e.p.latency.Observe(time.Since(start).Seconds())
		ack(out, err)
	}()
	return nil
}

func (e *emitter) Quarantine(ctx context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	if err := e.admit(ctx); err != nil {
		return err
	}
	go func() {
		defer e.leave()
		out, err := e.p.quarantine(q)
		ack(out, err)
	}()
	return nil
}

// join makes concurrent handling of one item ID wait for the first; it
// returns nil and the first's outcome when another was already handling it.
func (p *Pipeline) join(id string) (*flight, *flight) {
	p.flightMu.Lock()
	defer p.flightMu.Unlock()
	if f := p.flights[id]; f != nil {
		return nil, f
	}
	f := &flight{done: make(chan struct{})}
	p.flights[id] = f
	return f, nil
}

func (p *Pipeline) land(id string, f *flight, out minsheng.Outcome, err error) {
	f.out, f.err = out, err
	p.flightMu.Lock()
	delete(p.flights, id)
	p.flightMu.Unlock()
	close(f.done)
}

func (p *Pipeline) process(it *minsheng.Item) (out minsheng.Outcome, err error) {
	it.Prepare(p.o.Now())
	log := itemLog{p.o.Logger, it}
	for {
		mine, other := p.join(it.ID)
		if mine == nil {
			if p.waiting != nil {
				p.waiting(it.ID)
			}
			<-other.done
			if other.err != nil || it.Via == minsheng.ViaDesk {
				// The first attempt failed: try ourselves. Or a desk
				// posted while it ran: answered from the record, so that
				// other content under the same ref is a conflict (409),
				// which the first's outcome would not tell.
				continue
			}
			o := other.out // the first's trace id too: the answer names the item handled
			o.Duplicate = true
			log.Debug("repeat of an item being handled: not routed again", "first_trace_id", o.TraceID)
			p.items.WithLabelValues(string(it.Channel), classOf(o.Decision), "duplicate").Inc()
			return o, nil
		}
		defer func() { p.land(it.ID, mine, out, err) }()
		break
	}

	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.RouteTimeout)
	defer cancel()
	if rec, lerr := p.o.Ledger.Lookup(ctx, it.ID); lerr == nil {
		// Only a desk's post is checked for other content under a reused
		// ref: the desk answers 409. Inputs and imports re-send what they
		// hold with provenance attrs of their own (the export file and row,
		// a mailbox UID), which differ between two overlapping runs.
		conflict := it.Via == minsheng.ViaDesk && rec.Item != nil && !rec.Item.SameContent(it)
		if rec.Incomplete && !conflict && rec.Item != nil && rec.Decision != nil {
			// A review decision or a re-delivery changes the record under
			// the router's item lock: held while the route is finished,
			// and the record read again under it, so that neither writes
			// over the other (a review lost would leave the item in
			// review, for a second decision to send it to a second body).
			var unlock func()
			rec, unlock, lerr = p.lockItem(ctx, it.ID, rec)
			defer unlock()
			if lerr != nil {
				p.items.WithLabelValues(string(it.Channel), "", "failed").Inc()
				return minsheng.Outcome{ItemID: it.ID}, lerr
			}
			if rec.Incomplete {
				return p.finish(ctx, it, rec)
			}
		}
		if conflict {
			p.items.WithLabelValues(string(it.Channel), classOf(rec.Decision), "conflict").Inc()
			log.Warn("reference reused for other content: not routed", "ref", it.Ref)
			return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID, Duplicate: true, Conflict: true}, nil
		}
		p.items.WithLabelValues(string(it.Channel), classOf(rec.Decision), "duplicate").Inc()
		// Answered with the first outcome, its trace id included, so that
		// a desk quoting it finds the item's log lines; this request's own
		// line names both.
		trace := it.TraceID
		if rec.Item != nil && rec.Item.TraceID != "" {
			trace = rec.Item.TraceID
		}
		log.Debug("repeat of a handled item: not routed again", "first_trace_id", trace)
		return minsheng.Outcome{ItemID: it.ID, TraceID: trace, Decision: rec.Decision, Destinations: rec.Destinations, Duplicate: true}, nil
	} else if !errors.Is(lerr, minsheng.ErrNotFound) {
		p.items.WithLabelValues(string(it.Channel), "", "failed").Inc()
		return minsheng.Outcome{ItemID: it.ID}, fmt.Errorf("ledger: %w", lerr)
	}

	var d minsheng.Decision
	if errs := it.Validate(); len(errs) > 0 {
		d = minsheng.Decision{Class: minsheng.ClassInvalid, Confidence: 1, ModelVersion: "schema",
			Reasons: []minsheng.Reason{{Kind: "schema", Code: "invalid_item", Detail: errs.Error()}}}
	} else if d, err = p.o.Triager.Decide(ctx, it); err != nil {
		p.items.WithLabelValues(string(it.Channel), "", "failed").Inc()
		return minsheng.Outcome{ItemID: it.ID}, fmt.Errorf("triage: %w", err)
	}
	// The index holds the item from Link on; it is told where the item
	// went once its trail is recorded, and nothing (forget it) when its
	// handling fails on the way.
	remember, reached := func([]string) {}, []string(nil)
	defer func() { remember(reached) }()
	var planned []string
	if p.o.Linker != nil && d.Class != minsheng.ClassInvalid && !d.Review {
		var c *minsheng.CaseLink
		planned, _ = p.o.Router.DestinationsFor(&d)
		if c, remember = p.o.Linker.Link(it, &d, planned); c != nil {
			d.Case = c
			d.Reasons = append(d.Reasons, c.Reason())
		}
	}
	decided := p.o.Now().UTC()

	rt, err := p.o.Router.RouteItem(ctx, it, &d)
	dests := rt.Destinations
	routed := p.o.Now().UTC()
	if err != nil {
		p.items.WithLabelValues(string(it.Channel), string(d.Class), "failed").Inc()
		log.Warn("not routed; the source keeps the item", "class", d.Class, "err", err)
		if len(dests) > 0 {
			// Some took it: recorded incomplete, so that the source
			// offering it again sends it to the others alone.
			rec := &minsheng.Record{ID: it.ID, Item: it, Decision: &d, Destinations: dests,
				Trail: append(p.decidedTrail(it, &d, decided), minsheng.Event{Step: minsheng.StepRouted, At: routed, Destinations: dests})}
			if p.commitIncomplete(rec, log) {
				if cs, ok := p.o.Router.(CaseScoper); ok {
					// Only the inspectors' destinations lack it: the
					// index keeps it where it will be once finished.
					reached = cs.CaseScope(rec)
				}
			}
		}
		return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}, err
	}
	if d.Case != nil && !minsheng.SameDestinations(dests, planned) {
		// Not where the case's items went (the dead letter destination):
		// the record names none of them.
		d = *d.WithoutCase()
	}

	// Dead-lettered after some destinations took it, the record names
	// them (Destinations) and the others (Undelivered): the item is
	// acked now, once, and a repeat from its source is answered from the
	// record, not routed again.
	rec := &minsheng.Record{ID: it.ID, Item: it, Decision: &d, Destinations: dests, Undelivered: rt.Undelivered,
		Trail: append(p.decidedTrail(it, &d, decided),
			minsheng.Event{Step: minsheng.StepRouted, At: routed, Destinations: dests},
			minsheng.Event{Step: minsheng.StepAcked, At: routed})}
	cctx, ccancel := p.recordCtx(ctx)
	defer ccancel()
	if err := p.o.Ledger.Commit(cctx, rec); err != nil {
		p.items.WithLabelValues(string(it.Channel), string(d.Class), "failed").Inc()
		log.Error("routed but trail not recorded; the source will offer it again (destinations drop the repeat by ID)", "err", err)
		return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}, fmt.Errorf("ledger: %w", err)
	}
	reached = dests
	p.items.WithLabelValues(string(it.Channel), string(d.Class), "routed").Inc()
	if log.enabled(slog.LevelDebug) { // its arguments are made on every item otherwise
		log.Debug("routed", "class", d.Class, "confidence", d.Confidence, "review", d.Review,
			"discipline_lead", d.Flags.DisciplineLead, "case", caseOf(&d), "destinations", strings.Join(dests, ","))
	}
	return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID, Decision: &d, Destinations: dests}, nil
}

// decidedTrail is the trail of a decided item up to its routing: received,
// screened, classified.
func (p *Pipeline) decidedTrail(it *minsheng.Item, d *minsheng.Decision, decided time.Time) []minsheng.Event {
	screen := "valid"
	if d.Class == minsheng.ClassInvalid && len(d.Reasons) > 0 {
		screen = "invalid: " + d.Reasons[0].Code
	}
	classified := fmt.Sprintf("%s (confidence %.2f, model %s)", d.Class, d.Confidence, d.ModelVersion)
	if d.Flags.DisciplineLead {
		classified += minsheng.TrailDisciplineLead
	}
	if d.Review {
		classified += ", to review"
	}
	if d.Case != nil {
		classified += minsheng.TrailCase(d.Case.ID)
	}
	return []minsheng.Event{
		{Step: minsheng.StepReceived, At: it.ReceivedAt, Detail: string(it.Channel) + "/" + it.Source},
		{Step: minsheng.StepScreened, At: decided, Detail: screen},
		{Step: minsheng.StepClassified, At: decided, Detail: classified},
	}
}

// commitIncomplete records an item some of whose destinations took it
// (rec.Destinations) before its route failed in a way that may pass. The
// route's context has ended by then: the record gets a time of its own.
func (p *Pipeline) commitIncomplete(rec *minsheng.Record, log itemLog) bool {
	rec.Incomplete = true
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.RouteTimeout)
	defer cancel()
	if err := p.o.Ledger.Commit(ctx, rec); err != nil {
		log.Error("routed in part, and that could not be recorded: offered again, the item goes again to those that took it (they drop the repeat by ID)", "err", err)
		return false
	}
	log.Warn("routed in part, recorded incomplete: the finisher's next pass or the source's next offer sends it to the other destinations alone", "destinations", strings.Join(rec.Destinations, ","))
	return true
}

// recordCtx is the context to record a route's outcome in: ctx's values
// with a time of its own, as commitIncomplete's, whether or not ctx has
// ended. A Kafka route may end after its ctx did (it waits
// kafka.answer_grace for the answers to records already sent), or just
// before: what the destinations took must be recorded, or the next
// attempt sends it to them again, and a nearly spent ctx would fail the
// Commit whenever the ledger's appender kept it waiting past the end.
func (p *Pipeline) recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.cfg.RouteTimeout)
}

// lockItem takes the router's lock of item id (ItemLocker), the one review
// decisions and re-deliveries hold, and reads its record again under it:
// the record rec read before the lock may have been changed meanwhile. It
// returns the record and the unlock (to call also on error). A router
// without item locks returns rec as it is.
func (p *Pipeline) lockItem(ctx context.Context, id string, rec *minsheng.Record) (*minsheng.Record, func(), error) {
	l, ok := p.o.Router.(ItemLocker)
	if !ok {
		return rec, func() {}, nil
	}
	unlock := l.LockItem(id)
	again, err := p.o.Ledger.Lookup(ctx, id)
	if err != nil {
		return nil, unlock, fmt.Errorf("ledger: %w", err)
	}
	return again, unlock, nil
}

// CaseScoper is implemented by a Router that says which destinations a
// record's case is found among (router.Router.CaseScope). The pipeline asks
// it of an incomplete record, which keeps its place in the case index when
// it has a scope (only the inspectors' destinations lack the item).
type CaseScoper interface {
	CaseScope(rec *minsheng.Record) []string
}

// finish routes an item whose record is incomplete, offered again by its
// source (offered), or found by the finisher (offered nil): the recorded
// item, with the recorded decision (not decided again), to the
// destinations the decision names that do not hold it. It
// then records it complete, or, failing again, incomplete with any more
// destinations that took it. A destination refusing it for good sends it
// to the dead letter, as on a first route.
func (p *Pipeline) finish(ctx context.Context, offered *minsheng.Item, prev *minsheng.Record) (minsheng.Outcome, error) {
	it := prev.Item
	log := itemLog{p.o.Logger, it}
	by := []any{"by", "finisher"} // who finishes it, for the log
	// minsheng_items_total counts what sources offer, each offer once by
	// what its source is told: an offer's finish is counted; a finisher's
	// pass is not (minsheng_incomplete_finished_total counts it), or an
	// item offered once would be counted again on every pass.
	count := func(string, string) {}
	if offered != nil {
		by = []any{"by", "offer", "offered_trace_id", offered.TraceID}
		count = func(class, outcome string) { p.items.WithLabelValues(string(it.Channel), class, outcome).Inc() }
	}
	if prev.Review != nil && prev.Review.Pending {
		// A person's decision is being sent on: the review desk finishes
		// it (deciding it the same way again), and only then is the rest
		// of the route the pipeline's.
		count(classOf(prev.Decision), "failed")
		log.Warn("incomplete route not finished: a review decision is being sent on; the source keeps the item")
		return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}, fmt.Errorf("a review decision is being sent on: %w", minsheng.ErrUnavailable)
	}
	d := *prev.Decision
	// Not to those that hold it, nor to those that refused it for good
	// (a review decision dead-lettered on the way).
	reached := slices.Clone(prev.Destinations)
	for _, u := range prev.Undelivered {
		reached = append(reached, u.Destination)
	}
	rt, err := p.o.Router.RouteExcept(ctx, it, &d, reached)
	now := p.o.Now().UTC()
	rec := *prev
	rec.Destinations = slices.Clone(prev.Destinations)
	for _, x := range rt.Destinations {
		if !slices.Contains(rec.Destinations, x) {
			rec.Destinations = append(rec.Destinations, x)
		}
	}
	rec.Trail = slices.Clip(prev.Trail)
	if len(rt.Destinations) > 0 {
		rec.Trail = append(rec.Trail, minsheng.Event{Step: minsheng.StepRouted, At: now, Destinations: rt.Destinations})
	}
	if err != nil {
		count(string(d.Class), "failed")
		msg := "still not routed in full; the source keeps the item"
		if offered == nil {
			msg = "still not routed in full; tried again at the finisher's next pass"
		}
		log.Warn(msg, append(by, "class", d.Class, "err", err)...)
		if len(rt.Destinations) > 0 {
			p.commitIncomplete(&rec, log)
		}
		return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}, err
	}
	rec.Incomplete = false
	rec.Undelivered = append(slices.Clip(prev.Undelivered), rt.Undelivered...)
	planned, _ := p.o.Router.DestinationsFor(&d)
	arrived := !slices.ContainsFunc(planned, func(x string) bool { return !slices.Contains(rec.Destinations, x) })
	if d.Case != nil && !arrived {
		// Dead-lettered: the record names none of the case's items.
		id := d.Case.ID
		d = *d.WithoutCase()
		for i := range rec.Trail {
			if rec.Trail[i].Step == minsheng.StepClassified {
				rec.Trail[i].Detail = strings.Replace(rec.Trail[i].Detail, minsheng.TrailCase(id), "", 1)
			}
		}
	}
	rec.Decision = &d
	rec.Trail = append(rec.Trail, minsheng.Event{Step: minsheng.StepAcked, At: now})
	cctx, ccancel := p.recordCtx(ctx)
	defer ccancel()
	if err := p.o.Ledger.Commit(cctx, &rec); err != nil {
		count(string(d.Class), "failed")
		log.Error("routed in full but not recorded; the finisher's next pass or the source's next offer sends it again (destinations drop the repeat by ID)", "err", err)
		return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID}, fmt.Errorf("ledger: %w", err)
	}
	// The index let go of the item when its first route failed (unless
	// only the inspectors' destinations lacked it): it holds it again,
	// under the case then found, now that it has reached all its decision
	// names (Keep leaves one held as it is).
	if p.o.Linker != nil && arrived && d.Class != minsheng.ClassInvalid && !d.Review {
		p.o.Linker.Keep(it, &d, planned)
	} else if p.o.Linker != nil && !arrived {
		// Held since its first route (only the inspectors' destinations
		// lacked it), and dead-lettered now: let go, as on a first route
		// and as a restarted gateway does (router.CaseScope).
		p.o.Linker.Drop(it.ID)
	}
	count(string(d.Class), "routed")
	log.Info("incomplete route finished", append(by, "class", d.Class, "sent", strings.Join(rt.Destinations, ","))...)
	return minsheng.Outcome{ItemID: it.ID, TraceID: it.TraceID, Decision: &d, Destinations: rec.Destinations}, nil
}

func (p *Pipeline) quarantine(q *minsheng.Quarantined) (minsheng.Outcome, error) {
	if q.ReceivedAt.IsZero() {
		q.ReceivedAt = p.o.Now().UTC()
	}
	id := q.ID()
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.RouteTimeout)
	defer cancel()
	if rec, err := p.o.Ledger.Lookup(ctx, id); err == nil {
		return minsheng.Outcome{ItemID: id, Destinations: rec.Destinations, Duplicate: true}, nil
	} else if !errors.Is(err, minsheng.ErrNotFound) {
		return minsheng.Outcome{ItemID: id}, fmt.Errorf("ledger: %w", err)
	}
	dests, err := p.o.Router.RouteQuarantined(ctx, q)
	if err != nil {
		p.items.WithLabelValues(string(q.Channel), "", "failed").Inc()
		return minsheng.Outcome{ItemID: id}, err
	}
	now := p.o.Now().UTC()
	kept := *q
	kept.Raw = nil // the raw bytes are in the blob store (RawRef) and the dead letter
	rec := &minsheng.Record{ID: id, Quarantine: &kept, Destinations: dests, Trail: []minsheng.Event{
		{Step: minsheng.StepReceived, At: q.ReceivedAt, Detail: string(q.Channel) + "/" + q.Source},
		{Step: minsheng.StepScreened, At: now, Detail: "unparseable: " + q.Reason},
		{Step: minsheng.StepRouted, At: now, Destinations: dests},
		{Step: minsheng.StepAcked, At: now},
	}}
	cctx, ccancel := p.recordCtx(ctx)
	defer ccancel()
	if err := p.o.Ledger.Commit(cctx, rec); err != nil {
		return minsheng.Outcome{ItemID: id}, fmt.Errorf("ledger: %w", err)
	}
	p.items.WithLabelValues(string(q.Channel), "", "quarantined").Inc()
	p.o.Logger.Warn("quarantined", "id", id, "channel", q.Channel, "source", q.Source, "reason", minsheng.LogReason(q.Reason))
	return minsheng.Outcome{ItemID: id, Destinations: dests}, nil
}

// itemLog writes an item's log lines, each with the item's ID, trace ID,
// channel and source. Logger.With would format those for the JSON handler
// on every item (3 % of the gateway's CPU at full load), for debug lines
// that are off; here they are added to the lines written only.
type itemLog struct {
	l  *slog.Logger
	it *minsheng.Item
}

// enabled reports whether lines of level are written: a caller whose
// arguments cost something to make asks first.
func (g itemLog) enabled(level slog.Level) bool { return g.l.Enabled(context.Background(), level) }

func (g itemLog) log(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return
	}
	g.l.With("id", g.it.ID, "trace_id", g.it.TraceID, "channel", g.it.Channel, "source", g.it.Source).Log(ctx, level, msg, args...)
}

func (g itemLog) Debug(msg string, args ...any) { g.log(slog.LevelDebug, msg, args) }
func (g itemLog) Info(msg string, args ...any)  { g.log(slog.LevelInfo, msg, args) }
func (g itemLog) Warn(msg string, args ...any)  { g.log(slog.LevelWarn, msg, args) }
func (g itemLog) Error(msg string, args ...any) { g.log(slog.LevelError, msg, args) }

// classOf is a decision's class as a metric label ("" for none).
func classOf(d *minsheng.Decision) string {
	if d == nil {
		return ""
	}
	return string(d.Class)
}

// caseOf is the ID of the decision's case for the log ("" for none).
func caseOf(d *minsheng.Decision) string {
	if d.Case == nil {
		return ""
	}
	return d.Case.ID
}
