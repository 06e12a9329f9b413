// Package router sends decided items to their destinations: the route table
// from class and flags to destinations, fan-out (一信多转), the identity
// policy, the Kafka and embedded-queue sinks, retries with backoff, the
// rejected, review and dead letter destinations, and the HTTP API through
// which desks read the embedded queues.
package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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
	Enqueue(ctx context.Context, envs []*minsheng.Envelope) (int, error)
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
	discipline map[string]bool
	now        func() time.Time

	routed    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	deadLtr   prometheus.Counter
	latency   *prometheus.HistogramVec
	sinkState sync.Map // sink kind → error string of the last failure, "" when healthy
}

var _ minsheng.Router = (*Router)(nil)

// Options are the router's collaborators.
type Options struct {
	Logger  *slog.Logger
	Queues  Queues // required when a destination uses the queue sink
	Metrics prometheus.Registerer
}

// New builds a router. cfg must have passed Validate. It creates Kafka topics
// when the configuration asks for it.
func New(ctx context.Context, cfg Config, o Options) (*Router, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	r := &Router{cfg: cfg, log: o.Logger, queues: o.Queues, discipline: cfg.disciplineDestinations(), now: time.Now}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
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
		if cfg.Kafka.CreateTopics {
			sort.Strings(topics)
			if err := ks.EnsureTopics(ctx, topics); err != nil {
				ks.Close()
				return nil, err
			}
		}
	}
	r.routed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_routed_total", Help: "Envelopes durably accepted, by destination and kind."}, []string{"destination", "kind"})
	r.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_delivery_failures_total", Help: "Failed delivery attempts, by sink and whether the error was permanent."}, []string{"sink", "permanent"})
	r.deadLtr = prometheus.NewCounter(prometheus.CounterOpts{Name: "minsheng_dead_lettered_total", Help: "Items sent to the dead letter destination."})
	r.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "minsheng_delivery_seconds", Help: "Time for a sink to accept a delivery.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}, []string{"sink"})
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{r.routed, r.failures, r.deadLtr, r.latency} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("router: metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Close flushes and closes the sinks.
func (r *Router) Close() error {
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
// triage.identity_lead_threshold).
func (r *Router) Entitled(dest string, it *minsheng.Item, d *minsheng.Decision) bool {
	if it.Complainant.Anonymous || r.cfg.Destinations[dest].Identity == IdentityRedacted {
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
// the item also went to the inspectors.
func (r *Router) decisionFor(dest string, d *minsheng.Decision) *minsheng.Decision {
	if hasLead(d) && !r.toldOfLead(dest) {
		return withoutLead(d)
	}
	return d
}

// Route delivers an item to the destinations its decision names.
func (r *Router) Route(ctx context.Context, it *minsheng.Item, d *minsheng.Decision) ([]string, error) {
	return r.RouteExcept(ctx, it, d, nil)
}

// RouteExcept is Route to the destinations its decision names but those in
// reached, which the item went to before (a reviewed item: the inspectors
// had a possible discipline case at once). It returns the destinations it
// delivered to, none when reached holds them all.
func (r *Router) RouteExcept(ctx context.Context, it *minsheng.Item, d *minsheng.Decision, reached []string) ([]string, error) {
	if !d.Class.Valid() {
		return r.deadLetter(ctx, it, nil, d, fmt.Sprintf("triage returned unknown class %q", d.Class))
	}
	dests, kind := r.DestinationsFor(d)
	if len(dests) == 0 {
		return r.deadLetter(ctx, it, nil, d, "no route for class "+string(d.Class))
	}
	if len(reached) > 0 {
		dests = slices.DeleteFunc(dests, func(x string) bool { return slices.Contains(reached, x) })
		if len(dests) == 0 {
			return nil, nil
		}
	}
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
	err := r.deliver(ctx, envs)
	var perm *PermanentError
	if errors.As(err, &perm) {
		return r.deadLetter(ctx, it, nil, d, perm.Error())
	}
	if err != nil {
		return nil, err
	}
	return dests, nil
}

// RouteQuarantined delivers an unparseable input to the dead letter
// destination.
func (r *Router) RouteQuarantined(ctx context.Context, q *minsheng.Quarantined) ([]string, error) {
	return r.deadLetter(ctx, nil, q, nil, q.Reason)
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

func (r *Router) deadLetter(ctx context.Context, it *minsheng.Item, q *minsheng.Quarantined, d *minsheng.Decision, reason string) ([]string, error) {
	names := r.deadLetterTo(d)
	now := r.now().UTC()
	envs := make([]*minsheng.Envelope, len(names))
	for i, name := range names {
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
		envs[i] = e
	}
	err := r.deliver(ctx, envs)
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
			err = r.deliver(ctx, envs)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter: %w", err)
	}
	r.deadLtr.Inc()
	r.log.Warn("dead lettered", "id", envs[0].ItemID, "trace_id", envs[0].TraceID, "destinations", names, "reason", minsheng.LogReason(reason))
	return names, nil
}

// deliver sends envelopes to their sinks in parallel, retrying transient
// failures with backoff until ctx ends. A permanent failure of any envelope
// is returned as *PermanentError at once.
func (r *Router) deliver(ctx context.Context, envs []*minsheng.Envelope) error {
	bySink := map[string][]*minsheng.Envelope{}
	for _, e := range envs {
		k := r.cfg.Destinations[e.Destination].Sink
		bySink[k] = append(bySink[k], e)
	}
	// Encoded and checked against batch_bytes before any sink is handed
	// the item: one Kafka refuses for its size goes to the dead letter
	// only, not also to the queues that would have taken it at once.
	var msgs []kafka.Message
	if es := bySink[SinkKafka]; len(es) > 0 {
		var err error
		if msgs, err = r.kafka.messages(es); err != nil {
			return err
		}
	}
	if len(bySink) == 1 {
		for k, es := range bySink {
			return r.deliverSink(ctx, k, es, msgs)
		}
	}
	errs := make(chan error, len(bySink))
	for k, es := range bySink {
		go func() { errs <- r.deliverSink(ctx, k, es, msgs) }()
	}
	var first error
	for range bySink {
		if err := <-errs; err != nil {
			var perm *PermanentError
			if first == nil || errors.As(err, &perm) {
				first = err
			}
		}
	}
	return first
}

// deliverSink delivers envs to one sink; msgs are the Kafka records of
// envs, for the Kafka sink.
func (r *Router) deliverSink(ctx context.Context, kind string, envs []*minsheng.Envelope, msgs []kafka.Message) error {
	backoff := r.cfg.Retry.InitialBackoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		var err error
		switch kind {
		case SinkKafka:
			err = r.kafka.send(ctx, msgs)
		default:
			_, err = r.queues.Enqueue(ctx, envs)
		}
		r.latency.WithLabelValues(kind).Observe(time.Since(start).Seconds())
		if err == nil {
			if attempt > 1 {
				r.log.Info("sink recovered", "sink", kind, "attempts", attempt)
			}
			r.sinkState.Store(kind, "")
			for _, e := range envs {
				r.routed.WithLabelValues(e.Destination, e.Kind).Inc()
			}
			return nil
		}
		var perm *PermanentError
		if errors.As(err, &perm) {
			r.failures.WithLabelValues(kind, "true").Inc()
			return err
		}
		r.failures.WithLabelValues(kind, "false").Inc()
		r.sinkState.Store(kind, err.Error())
		if attempt == 1 || attempt%20 == 0 {
			r.log.Warn("delivery failed, retrying", "sink", kind, "attempt", attempt, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s sink: %w (last error: %v)", kind, minsheng.ErrUnavailable, err)
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
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("envelope %s: %w", e.ItemID, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
