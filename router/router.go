// Package router sends decided items to their destinations: the route table
// from class and flags to destinations, fan-out (一信多转), the identity
// policy, the Kafka and embedded-queue sinks, retries with backoff, the
// rejected, review and dead letter destinations, and the HTTP API through
// which desks read the embedded queues.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	minsheng "github.com/minsheng/minsheng"
)

// Queues is the embedded queue store (store.Store implements it).
type Queues interface {
	// Enqueue answers for each envelope whether it was queued (false:
	// its queue held the item already).
	Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error)
	// Read leases messages to holder, the reading desk; Ack and Release act
	// only on messages holder holds (its lease live, or run out with no
	// other reader since), refusing the other IDs.
	Read(ctx context.Context, dest, holder string, max int, lease, wait time.Duration) ([]minsheng.QueuedMessage, error)
	Ack(ctx context.Context, dest, holder string, ids []string) (int, []minsheng.Refusal, error)
	Release(dest, holder string, ids []string) (int, []minsheng.Refusal)
	QueueDepth(dest string) (int, error)
}

// Router implements minsheng.Router over a route table.
type Router struct {
	cfg        Config
	log        *slog.Logger
	queues     Queues
	kafka      *KafkaSink
	creator    *topicCreator // creates kafka.create_topics' topics in the background, until it has
	discipline map[string]bool
	now        func() time.Time

	routed    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	deadLtr   prometheus.Counter
	sensitive *prometheus.CounterVec // the access trail's count (access.go)
	latency   *prometheus.HistogramVec
	sinkState sync.Map  // sink kind → error string of the last failure, "" when healthy
	items     itemLocks // one change to a recorded item at a time (reviews, re-deliveries)
}

var _ minsheng.Router = (*Router)(nil)

// Options are the router's collaborators.
type Options struct {
	Logger  *slog.Logger
	Queues  Queues // required when a destination uses the queue sink
	Metrics prometheus.Registerer
}

// New builds a router. cfg must have passed Validate. It creates Kafka topics
// when the configuration asks for it: at once when a broker answers, in the
// background otherwise (createTopics); only brokers that refuse the SASL
// credentials stop it then.
func New(ctx context.Context, cfg Config, o Options) (*Router, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	r := &Router{cfg: cfg, log: o.Logger, queues: o.Queues, discipline: cfg.disciplineDestinations(), now: time.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// A dead letter on Kafka fails when Kafka does, and an item Kafka
	// refuses is then never acked: its source offers it again and again.
	for _, dl := range []string{cfg.Routes.DeadLetter, cfg.Routes.DisciplineDeadLetter} {
		if d, ok := cfg.Destinations[dl]; ok && d.Sink == SinkKafka {
			r.log.Warn("a dead letter destination is on Kafka: an item Kafka refuses, or one routed while Kafka is down, cannot be dead-lettered and is offered again by its source; keep dead letters on the embedded queue (sink: queue)", "destination", dl)
		}
	}
	// A destination moved to Kafka leaves what its embedded queue held
	// there: the queue API refuses it (not_a_queue), so no desk can read or
	// ack those messages until it is on the queue sink again.
	if o.Queues != nil {
		for _, name := range slices.Sorted(maps.Keys(cfg.Destinations)) {
			if cfg.Destinations[name].Sink == SinkQueue {
				continue
			}
			if n, err := o.Queues.QueueDepth(name); err == nil && n > 0 {
				r.log.Warn("a destination on Kafka: its embedded queue still holds messages from when it was on the queue sink, which no desk can read or ack while it is on Kafka; put it back on the queue (sink: queue) until a desk has read and acked them", "destination", name, "messages", n)
			}
		}
	}
	var topics []string
	for name, d := range cfg.Destinations {
		switch d.Sink {
		case SinkQueue:
			if o.Queues == nil {
				return nil, fmt.Errorf("router: destination %s uses the embedded queue, but there is no store", name)
			}
		case SinkKafka:
			topics = append(topics, cfg.topic(name))
		}
	}
	if len(topics) > 0 {
		ks, err := NewKafkaSink(cfg.Kafka, cfg.topic)
		if err != nil {
			return nil, err
		}
		r.kafka = ks
	}
	r.routed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_routed_total", Help: "Envelopes durably accepted, by destination and kind."}, []string{"destination", "kind"})
	r.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_delivery_failures_total", Help: "Failed delivery attempts, by sink and whether the error was permanent."}, []string{"sink", "permanent"})
	r.deadLtr = prometheus.NewCounter(prometheus.CounterOpts{Name: "minsheng_dead_lettered_total", Help: "Items whose dead letter a dead letter destination took (not those whose every dead letter destination held the item already)."})
	r.sensitive = newAccessCounter()
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "minsheng_delivery_seconds", Help: "Time for a sink to accept a delivery.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}, []string{"sink"})
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{r.routed, r.failures, r.deadLtr, r.latency, r.sensitive} {
			if err := o.Metrics.Register(c); err != nil {
				r.Close()
				return nil, fmt.Errorf("router: metrics: %w", err)
			}
		}
	}
	if r.kafka != nil && cfg.Kafka.CreateTopics {
		// Brokers down at start (after an outage, or a host that rebooted
		// before them) do not stop the start: the topics are created in
		// the background, and until then what goes to Kafka is refused
		// as unavailable, as when a broker is down.
		sort.Strings(topics)
		var err error
		if r.creator, err = createTopics(ctx, r.kafka, topics, r.log); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close flushes and closes the sinks.
func (r *Router) Close() error {
	if r.creator != nil {
		r.creator.stop()
	}
	if r.kafka != nil {
		return r.kafka.Close()
	}
	return nil
}

// Config returns the router's configuration.
func (r *Router) Config() Config { return r.cfg }

// Destinations lists the names of all destinations, sorted.
func (r *Router) Destinations() []string {
	out := make([]string, 0, len(r.cfg.Destinations))
	for n := range r.cfg.Destinations {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DestinationsFor returns where an item with this decision goes, and the
// envelope kind. It never returns an empty list for a validated config.
func (r *Router) DestinationsFor(d *minsheng.Decision) ([]string, string) {
	return r.cfg.Routes.For(d)
}

// For returns where the routes send an item with this decision, and the
// envelope kind.
func (rt Routes) For(d *minsheng.Decision) ([]string, string) {
	lead := d.Class == minsheng.ClassDiscipline || d.Flags.DisciplineLead
	var out []string
	add := func(ds ...string) {
		for _, x := range ds {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	switch {
	case d.Class == minsheng.ClassInvalid:
		add(rt.Rejected)
		return out, minsheng.KindRejected
	case d.Review:
		// A person checks the class first; a possible discipline case still
		// reaches the inspectors at once (recall before precision).
		add(rt.Review)
		if lead {
			add(rt.Classes[minsheng.ClassDiscipline]...)
			add(rt.DisciplineLead...)
		}
		return out, minsheng.KindReview
	}
	add(rt.Classes[d.Class]...)
	if d.Flags.DisciplineLead {
		add(rt.DisciplineLead...)
	}
	// An uncertain sector stays with 12345 dispatch, which assigns it.
	if d.Class == minsheng.ClassGovService && d.Department != "" && !d.Flags.DepartmentUncertain {
		add(rt.Departments[d.Department]...)
	}
	return out, minsheng.KindItem
}

// Entitled reports whether a destination may see the complainant's identity
// for an item with this decision. Whistle-blower protection comes before a
// destination's policy: the identity of a discipline case or lead reaches
// only the discipline destinations, whatever the others' identity says;
// but not for a weak lead (Flags.WeakLead, which a bureau turns on with
// triage.identity_lead_threshold). The review destination gets no identity
// at all unless the inspectors read it.
func (r *Router) Entitled(dest string, it *minsheng.Item, d *minsheng.Decision) bool {
	if it.Complainant.Anonymous || r.cfg.Destinations[dest].Identity == IdentityRedacted {
		return false
	}
	// The review destination decides a class and a sector, which need no
	// identity; and there a blank identity beside named ones would mark
	// the items triage called discipline cases (which keep a lead after
	// review too). So it gets none, unless it is the inspectors' own.
	if dest == r.cfg.Routes.Review && !r.toldOfLead(dest) {
		return false
	}
	if d != nil && (d.Class == minsheng.ClassDiscipline || d.Flags.DisciplineLead && !d.Flags.WeakLead) {
		return r.discipline[dest]
	}
	return true
}

// decisionFor is the decision as destination dest receives it: without the
// discipline lead where dest is not told of it (see toldOfLead), so that
// neither the envelope nor its minsheng-discipline-lead header reveals that
// the item also went to the inspectors; and, for an item triage sent to
// review, without triage's class either (withoutTriageClass), on every
// such item, since a class of discipline there is what sent it to the
// inspectors too.
func (r *Router) decisionFor(dest string, d *minsheng.Decision) *minsheng.Decision {
	if d == nil || r.toldOfLead(dest) {
		return d
	}
	if hasLead(d) {
		d = withoutLead(d)
	}
	if d.Review {
		d = withoutTriageClass(d)
	}
	return d
}

// Route delivers an item to the destinations its decision names and
// returns those that took it (see RouteItem).
func (r *Router) Route(ctx context.Context, it *minsheng.Item, d *minsheng.Decision) ([]string, error) {
	rt, err := r.RouteExcept(ctx, it, d, nil)
	return rt.Destinations, err
}

// RouteItem delivers an item to the destinations its decision names. When
// one refuses it for good, the item goes to the dead letter: Destinations
// then names those that took it before (they keep it) and the dead
// letters, and Undelivered the others, which the dead letter envelopes
// name too, so that whoever re-delivers it sends it to those alone.
func (r *Router) RouteItem(ctx context.Context, it *minsheng.Item, d *minsheng.Decision) (minsheng.Routing, error) {
	return r.RouteExcept(ctx, it, d, nil)
}

// RouteExcept is RouteItem to the destinations its decision names but
// those in reached, which the item went to before (a reviewed item: the
// inspectors had a possible discipline case at once; an item whose route
// the pipeline recorded incomplete). It returns the destinations it
// delivered to, none when reached holds them all. On an error that may
// pass, Destinations names those that took the item before it.
func (r *Router) RouteExcept(ctx context.Context, it *minsheng.Item, d *minsheng.Decision, reached []string) (minsheng.Routing, error) {
	if !d.Class.Valid() {
		return r.deadLetter(ctx, it, nil, d, fmt.Sprintf("triage returned unknown class %q", d.Class), nil, nil)
	}
	dests, kind := r.DestinationsFor(d)
	if len(dests) == 0 {
		return r.deadLetter(ctx, it, nil, d, "no route for class "+string(d.Class), nil, nil)
	}
	if len(reached) > 0 {
		dests = slices.DeleteFunc(dests, func(x string) bool { return slices.Contains(reached, x) })
		if len(dests) == 0 {
			return minsheng.Routing{}, nil
		}
	}
	rt, err := r.sendTo(ctx, it, d, dests, kind)
	var perm *PermanentError
	if errors.As(err, &perm) {
		// Refused for good by one destination, perhaps after others took
		// it: they keep it, and the dead letter names them and the rest,
		// so that the item is re-delivered to the rest alone.
		return r.deadLetter(ctx, it, nil, d, perm.Error(), rt.Destinations, rt.Undelivered)
	}
	if err != nil {
		// Not durably handled (the caller does not ack the source), but
		// these hold the item: the pipeline records them, and sends the
		// item to the others alone when the source offers it again or
		// its finisher gets to it.
		return minsheng.Routing{Destinations: rt.Destinations}, err
	}
	return rt, nil
}

// sendTo delivers an item to dests, some of those its decision names (of
// envelope kind, as DestinationsFor answers), as RouteExcept does (the
// same envelopes, identity policy and decision per destination), without
// a dead letter: it answers the destinations that took the item, and
// those that did not, with why (Routing.Undelivered): refused for good
// (Refused; the error a *PermanentError when every other answered), or
// not reached before ctx ended (the error says so). A re-delivery of a
// dead letter uses it, so that an item refused again is not dead-lettered
// a second time, and answers a 503 with why each lacks the item now.
func (r *Router) sendTo(ctx context.Context, it *minsheng.Item, d *minsheng.Decision, dests []string, kind string) (minsheng.Routing, error) {
	now := r.now().UTC()
	envs := make([]*minsheng.Envelope, 0, len(dests))
	for _, name := range dests {
		// Not entitled: redacted even without a name, phone or e-mail, since
		// attrs, raw_ref and attachment names may identify the complainant.
		view := it
		if !r.Entitled(name, it, d) {
			view = it.Redacted()
		}
		e := &minsheng.Envelope{SchemaVersion: minsheng.SchemaVersion, Destination: name, Kind: kind,
			ItemID: it.ID, TraceID: it.TraceID, RoutedAt: now, Item: view, Decision: r.decisionFor(name, d)}
		if kind == minsheng.KindRejected && len(d.Reasons) > 0 {
			e.Reason = d.Reasons[0].Code + ": " + d.Reasons[0].Detail
		}
		envs = append(envs, e)
	}
	errs, _, err := r.deliver(ctx, envs)
	if err == nil {
		return minsheng.Routing{Destinations: dests}, nil
	}
	var rt minsheng.Routing
	for i, e := range envs {
		var perm *PermanentError
		if errs[i] == nil {
			rt.Destinations = append(rt.Destinations, e.Destination)
		} else {
			rt.Undelivered = append(rt.Undelivered, minsheng.Undelivered{Destination: e.Destination, Reason: errs[i].Error(), Refused: errors.As(errs[i], &perm)})
		}
	}
	return rt, err
}

// RouteQuarantined delivers an unparseable input to the dead letter
// destination.
func (r *Router) RouteQuarantined(ctx context.Context, q *minsheng.Quarantined) ([]string, error) {
	rt, err := r.deadLetter(ctx, nil, q, nil, q.Reason, nil, nil)
	return rt.Destinations, err
}

// deadLetterTo names where an item that cannot be delivered goes. A
// discipline case or an item with a discipline lead goes whole to the
// discipline dead letter, which only the inspectors read; a lead on an
// item of another class goes to the dead letter too, as that class's desks
// would have had it (without the lead, and without the complainant where
// they are not entitled), so that it can be delivered to them again. A
// raw input nothing parsed has no decision and goes to the dead letter.
func (r *Router) deadLetterTo(d *minsheng.Decision) []string {
	dl, ddl := r.cfg.Routes.DeadLetter, r.cfg.Routes.DisciplineDeadLetter
	switch {
	case !hasLead(d) || ddl == "":
		return []string{dl}
	case d.Class == minsheng.ClassDiscipline:
		return []string{ddl}
	default:
		return []string{dl, ddl}
	}
}

// deadLetter sends an item (or a quarantined input) to the dead letters
// deadLetterTo names. For an item some of whose destinations took it
// before another refused it (undelivered not empty), each dead letter's
// envelope names the destinations that have it (reached) and those its
// reader is to re-deliver it to: the dead letter all but the inspectors'
// and none of theirs, which would tell of the lead; the discipline dead
// letter the inspectors' (all, when it is the only one). The dead letter
// is not sent an item it has nothing to re-deliver of: all it would be
// told is that the item went somewhere it does not know of. The
// discipline dead letter is sent every lead's item.
func (r *Router) deadLetter(ctx context.Context, it *minsheng.Item, q *minsheng.Quarantined, d *minsheng.Decision, reason string, reached []string, undelivered []minsheng.Undelivered) (minsheng.Routing, error) {
	names := r.deadLetterTo(d)
	now := r.now().UTC()
	envs := make([]*minsheng.Envelope, 0, len(names))
	for _, name := range names {
		e := &minsheng.Envelope{SchemaVersion: minsheng.SchemaVersion, Destination: name, Kind: minsheng.KindDeadLetter,
			RoutedAt: now, Decision: r.decisionFor(name, d.WithoutCase()), Reason: reason, Quarantine: q}
		if it != nil {
			e.ItemID, e.TraceID = it.ID, it.TraceID
			e.Item = it
			if !r.Entitled(name, it, d) {
				e.Item = it.Redacted()
			}
		} else {
			e.ItemID = q.ID()
		}
		if len(undelivered) > 0 {
			// Whose is a destination to re-deliver to: the inspectors'
			// are the discipline dead letter's when there are two.
			mine := func(dest string) bool { return len(names) == 1 || r.toldOfLead(dest) == r.toldOfLead(name) }
			for _, u := range undelivered {
				if mine(u.Destination) {
					e.Undelivered = append(e.Undelivered, u)
				}
			}
			if len(e.Undelivered) == 0 && !r.toldOfLead(name) {
				continue
			}
			// Why this dead letter has it: a refusal of its own
			// destinations where there is one.
			for _, u := range e.Undelivered {
				if u.Refused {
					e.Reason = u.Reason
					break
				}
			}
			for _, x := range reached {
				if r.toldOfLead(name) || !r.toldOfLead(x) {
					e.Reached = append(e.Reached, x)
				}
			}
		}
		envs = append(envs, e)
	}
	names = names[:0]
	for _, e := range envs {
		names = append(names, e.Destination)
	}
	errs, held, err := r.deliver(ctx, envs)
	if q != nil && len(q.Raw) > 0 {
		var perm *PermanentError
		if errors.As(err, &perm) {
			// Too large with its raw bytes inline: the raw reference must do.
			qq := *q
			qq.Raw = nil
			for _, e := range envs {
				e.Quarantine = &qq
				e.Reason += " (raw bytes left out of the envelope: " + perm.Error() + "; see raw_ref)"
			}
			errs, held, err = r.deliver(ctx, envs)
		}
	}
	if err != nil {
		var took []string
		for i, e := range envs {
			if errs[i] == nil {
				took = append(took, e.Destination)
			}
		}
		if len(reached) > 0 || len(took) > 0 {
			// The source will offer the item again: the pipeline records
			// reached (incomplete) and sends it to the others alone; a
			// dead letter that took it (took) gets it again, and its
			// reader drops the repeat by ID.
			r.log.Error("item reached some destinations, but not its dead letter: not acked", "id", envs[0].ItemID, "trace_id", envs[0].TraceID,
				"reached", append(slices.Clone(reached), took...), "err", err)
		}
		return minsheng.Routing{Destinations: slices.Clone(reached)}, fmt.Errorf("dead letter: %w", err)
	}
	// Counted, and named in the line, are the dead letters queued now:
	// what their desks have to handle. A dead letter's queue that held
	// the item already queued nothing (the inspectors' own queue as their
	// dead letter, holding the item whole as theirs): it still holds the
	// item, as the routing answers, but an item no dead letter queued is
	// not counted dead-lettered, and its line says so.
	var queued, already, notReached []string
	for i, e := range envs {
		if held[i] {
			already = append(already, e.Destination)
		} else {
			queued = append(queued, e.Destination)
		}
	}
	msg := "dead lettered"
	if len(queued) > 0 {
		r.deadLtr.Inc()
	} else {
		msg = "dead letter not queued: its queue holds the item already"
	}
	for _, u := range undelivered {
		notReached = append(notReached, u.Destination)
	}
	r.log.Warn(msg, "id", envs[0].ItemID, "trace_id", envs[0].TraceID, "destinations", queued, "held", already,
		"reached", reached, "undelivered", notReached, "reason", minsheng.LogReason(reason))
	return minsheng.Routing{Destinations: append(slices.Clone(reached), names...), Undelivered: undelivered}, nil
}

// deliver sends envelopes to their sinks in parallel, retrying transient
// failures with backoff until ctx ends; a retry sends only the envelopes
// not taken yet. It answers each envelope (nil when its destination took
// it), and which destinations took it without queuing it, as they held
// the item already (an embedded queue where it waits), and returns the
// first error: a *PermanentError when an envelope was refused for good,
// which ends every retry at once (the item goes to the dead letter,
// which names the destinations that took it).
func (r *Router) deliver(ctx context.Context, envs []*minsheng.Envelope) ([]error, []bool, error) {
	errs, held := make([]error, len(envs)), make([]bool, len(envs))
	bySink := map[string][]int{}
	for i, e := range envs {
		k := r.cfg.Destinations[e.Destination].Sink
		bySink[k] = append(bySink[k], i)
	}
	// Encoded and checked against batch_bytes first: a record refused
	// for its size is answered refused, and the item's other envelopes
	// go on as they would had the broker refused it (the dead letter
	// names the destinations that took them). Holding them back instead
	// would tell a dead letter's reader, by an item of its own
	// destinations dead-lettered with none refusing it, of a destination
	// it is not told of: the inspectors'.
	var msgs []kafka.Message
	if len(bySink[SinkKafka]) > 0 {
		msgs = make([]kafka.Message, len(envs))
	}
	for _, i := range bySink[SinkKafka] {
		m, err := r.kafka.message(envs[i])
		if err != nil {
			var perm *PermanentError
			if !errors.As(err, &perm) {
				err = &PermanentError{Err: err} // an envelope that cannot be encoded never will be
			}
			errs[i] = err
			r.failures.WithLabelValues(SinkKafka, "true").Inc()
			continue
		}
		msgs[i] = m
	}
	var wg sync.WaitGroup
	for k, idx := range bySink {
		idx = slices.DeleteFunc(idx, func(i int) bool { return errs[i] != nil })
		if len(idx) == 0 {
			continue
		}
		if len(bySink) == 1 {
			r.deliverSink(ctx, k, envs, msgs, idx, errs, held) // one sink (most items): no goroutine
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.deliverSink(ctx, k, envs, msgs, idx, errs, held)
		}()
	}
	wg.Wait()
	// A failure that may pass outranks a refusal: the item is then not
	// dead-lettered but offered again, once every destination has
	// answered for good.
	var first error
	for _, err := range errs {
		var perm *PermanentError
		if err != nil && (first == nil || !errors.As(err, &perm) && errors.As(first, &perm)) {
			first = err
		}
	}
	return errs, held, first
}

// deliverSink delivers the envelopes envs[idx] to one sink (msgs are their
// Kafka records, for the Kafka sink) and answers each in errs, and in held
// whether its queue took it as holding the item already. It retries
// those neither taken nor refused for good until ctx ends. idx is its own:
// it is reused for those left.
func (r *Router) deliverSink(ctx context.Context, kind string, envs []*minsheng.Envelope, msgs []kafka.Message, idx []int, errs []error, held []bool) {
	backoff := r.cfg.Retry.InitialBackoff
	left := idx
	for attempt := 1; ; attempt++ {
		start := time.Now()
		var answers []error
		switch kind {
		case SinkKafka:
			batch := make([]kafka.Message, len(left))
			for j, i := range left {
				batch[j] = msgs[i]
			}
			answers = r.kafka.send(ctx, batch)
		default:
			batch := make([]*minsheng.Envelope, len(left))
			for j, i := range left {
				batch[j] = envs[i]
			}
			queued, err := r.queues.Enqueue(ctx, batch) // one transaction: all or none
			answers = make([]error, len(left))
			for j, i := range left {
				answers[j] = err
				held[i] = err == nil && j < len(queued) && !queued[j]
			}
		}
		r.latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
		var last error
		perm := false
		next := left[:0]
		for j, i := range left {
			err := answers[j]
			errs[i] = err
			var p *PermanentError
			switch {
			case err == nil:
				r.routed.WithLabelValues(envs[i].Destination, envs[i].Kind).Inc()
			case errors.As(err, &p):
				perm = true
			default:
				last = err
				next = append(next, i)
			}
		}
		left = next
		if perm {
			r.failures.WithLabelValues(kind, "true").Inc()
		}
		if len(left) == 0 {
			if !perm {
				if attempt > 1 {
					r.log.Info("sink recovered", "sink", kind, "attempts", attempt)
				}
				r.sinkState.Store(kind, "")
			}
			return
		}
		r.failures.WithLabelValues(kind, "false").Inc()
		r.sinkState.Store(kind, last.Error())
		if attempt == 1 || attempt%20 == 0 {
			r.log.Warn("delivery failed, retrying", "sink", kind, "attempt", attempt, "err", last)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			for _, i := range left {
				errs[i] = fmt.Errorf("%s sink: %w (last error: %v)", kind, minsheng.ErrUnavailable, errs[i])
			}
			return
		case <-t.C:
		}
		backoff = min(backoff*2, r.cfg.Retry.MaxBackoff)
	}
}

// Health reports whether the sinks can take deliveries now, for readiness:
// a Kafka broker must answer. LastFailures tells what failed most recently.
func (r *Router) Health(ctx context.Context) error {
	if r.kafka != nil {
		return r.kafka.Ping(ctx)
	}
	return nil
}

// LastFailures maps each sink whose most recent delivery failed to the error.
func (r *Router) LastFailures() map[string]string {
	out := map[string]string{}
	r.sinkState.Range(func(k, v any) bool {
		if s := v.(string); s != "" {
			out[k.(string)] = s
		}
		return true
	})
	return out
}

// marshalEnvelope encodes an envelope as a Kafka record's value. It does
// not escape <, > and & as \u003c and the like (encoding/json's default,
// for JSON put inside HTML): a letter quoting markup would grow to six
// times its size and could be refused as over batch_bytes, dead-lettered
// for no fault of its own.
func marshalEnvelope(e *minsheng.Envelope) ([]byte, error) {
	b, err := minsheng.AppendEnvelopeJSON(nil, e, false)
	if err != nil {
		return nil, fmt.Errorf("envelope %s: %w", e.ItemID, err)
	}
	return b, nil
}
