package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"

	minsheng "github.com/minsheng/minsheng"
)

// producer writes records to Kafka over kafka-go's protocol layer with at
// most MaxInFlight produce requests out per broker. Records that arrive while
// every request is out wait and go out together in the next one, whatever
// their topic and partition — so a lone record is sent at once (no linger
// timer), and under load each request carries as many records as arrived
// during a round trip. Records of one partition in different requests may
// land out of order; items are independent, and a retry could reorder them
// anyway. kafka-go's Writer sends one request per partition
// batch and waits its BatchTimeout; on this workload that cost several times
// the latency and broker CPU (docs/benchmarks.md).
//
// Every request asks acks from all in-sync replicas. A record is answered
// once: nil when its partition acked, or the error. The caller retries
// failures (with backoff, in the router) under the same key; a request that
// failed in transit may have landed, so a retry can repeat a record.
type producer struct {
	cfg    KafkaConfig
	tr     *kafka.Transport
	client *kafka.Client
	hash   kafka.Hash

	mu      sync.Mutex
	topics  map[string]*topicMeta
	brokers map[int]*brokerQueue
	closed  bool
	wg      sync.WaitGroup
}

type topicMeta struct {
	partitions []int       // partition IDs, sorted
	leaders    map[int]int // partition → broker ID
	fetched    time.Time
	stale      bool
}

type brokerQueue struct {
	p       *producer
	id      int
	addr    net.Addr
	mu      sync.Mutex
	pending []*record
	wake    chan struct{}
	stop    chan struct{}
}

type record struct {
	topic     string
	partition int
	msg       kafka.Message // its key, value and headers are read anew for each request
	size      int
	i         int // its place in its call to send
	done      chan<- reply
	// gone is closed when the caller's context ended: a record not yet
	// sent then is dropped, not sent late.
	gone <-chan struct{}
	// state says whether the record is queued, in a request (sent) or
	// dropped unsent; the caller and the sender each move it on from
	// queued, once, so that a record is either sent (and its caller
	// waits for the answer) or dropped (and its caller does not).
	state atomic.Int32
}

// A record's states.
const (
	recQueued int32 = iota
	recSent
	recDropped
)

// reply is a record's answer: nil when its partition acked it.
type reply struct {
	i   int
	err error
}

const metadataTTL = 30 * time.Second

// errGone answers a record dropped unsent because its caller stopped
// waiting for it.
var errGone = fmt.Errorf("kafka: not sent, its caller stopped waiting: %w", minsheng.ErrUnavailable)

func newProducer(cfg KafkaConfig, tr *kafka.Transport) *producer {
	return &producer{
		cfg: cfg, tr: tr,
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr, Timeout: cfg.WriteTimeout},
		topics:  map[string]*topicMeta{},
		brokers: map[int]*brokerQueue{},
	}
}

// meta returns a topic's partitions and leaders, from cache or the cluster.
func (p *producer) meta(ctx context.Context, topic string) (*topicMeta, error) {
	p.mu.Lock()
	m := p.topics[topic]
	fresh := m != nil && !m.stale && time.Since(m.fetched) < metadataTTL // stale is written under p.mu (invalidate)
	p.mu.Unlock()
	if fresh {
		return m, nil
	}
	resp, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("kafka metadata: %w: %w", minsheng.ErrUnavailable, err)
	}
	nm := &topicMeta{leaders: map[int]int{}, fetched: time.Now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range resp.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafka topic %s: %w: %w", topic, minsheng.ErrUnavailable, t.Error)
		}
		for _, part := range t.Partitions {
			nm.partitions = append(nm.partitions, part.ID)
			nm.leaders[part.ID] = part.Leader.ID
			if _, ok := p.brokers[part.Leader.ID]; !ok && part.Leader.Host != "" && !p.closed {
				p.startBroker(part.Leader)
			}
		}
	}
	if len(nm.partitions) == 0 {
		return nil, fmt.Errorf("kafka topic %s: no partitions: %w", topic, minsheng.ErrUnavailable)
	}
	sort.Ints(nm.partitions)
	p.topics[topic] = nm
	return nm, nil
}

// startBroker starts the sender for a broker; p.mu is held.
func (p *producer) startBroker(b kafka.Broker) {
	// The transport routes a produce request to the leader of its
	// partitions by its own view of the cluster, reached through the
	// bootstrap addresses.
	q := &brokerQueue{p: p, id: b.ID, addr: p.client.Addr, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	p.brokers[b.ID] = q
	p.wg.Add(1)
	go q.run()
}

// send hands records to their leaders' queues and waits for every answer:
// one per record, nil for a record its partition acked. Every record is
// checked (size, topic, leader) before any is handed over, so that a call
// refused for one record sends none (each record is answered that error).
// When ctx ends, a record not sent yet is dropped and answered ctx's
// error; one in a request already out is waited for up to answer_grace
// more, since the broker may take it: answered then, it is recorded as
// taken (or refused) and not sent again by the next attempt. One still
// unanswered after the grace is answered ctx's error: it may yet land.
func (p *producer) send(ctx context.Context, msgs []kafka.Message) []error {
	errs := make([]error, len(msgs))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	done := make(chan reply, len(msgs))
	type queued struct {
		q *brokerQueue
		r *record
	}
	out := make([]queued, 0, len(msgs))
	for i, m := range msgs {
		if err := p.checkSize(m); err != nil {
			return all(err)
		}
		size := recordSize(m)
		tm, err := p.meta(ctx, m.Topic)
		if err != nil {
			return all(err)
		}
		part := p.hash.Balance(m, tm.partitions...)
		p.mu.Lock()
		q := p.brokers[tm.leaders[part]]
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return all(minsheng.ErrStopping)
		}
		if q == nil {
			p.invalidate(m.Topic)
			return all(fmt.Errorf("kafka: no leader for %s/%d: %w", m.Topic, part, minsheng.ErrUnavailable))
		}
		out = append(out, queued{q, &record{topic: m.Topic, partition: part, size: size, i: i, done: done, gone: ctx.Done(), msg: m}})
	}
	// Handed over under the lock close takes: a sender stopped by close
	// answers what it holds, and a record added after it stopped would be
	// answered never.
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return all(minsheng.ErrStopping)
	}
	for _, x := range out {
		x.q.add(x.r)
	}
	p.mu.Unlock()
	answered := make([]bool, len(msgs))
	for left := len(msgs); left > 0; left-- {
		select {
		case a := <-done:
			errs[a.i], answered[a.i] = a.err, true
		case <-ctx.Done():
			recs := make([]*record, len(out))
			for j, x := range out {
				recs[j] = x.r
			}
			return p.await(ctx, recs, done, errs, answered, left)
		}
	}
	return errs
}

// await answers the records of a send whose ctx ended with left of them
// unanswered: those still queued are dropped (the sender will not send
// them) and answered ctx's error; those in a request already out are
// waited for up to answer_grace, and answered ctx's error if the broker
// has not answered by then (they may yet land; the caller's next attempt
// sends them again under the same keys).
func (p *producer) await(ctx context.Context, recs []*record, done <-chan reply, errs []error, answered []bool, left int) []error {
	for _, r := range recs {
		if !answered[r.i] && r.state.CompareAndSwap(recQueued, recDropped) {
			errs[r.i], answered[r.i] = ctx.Err(), true
			left--
		}
	}
	if left > 0 {
		grace := time.NewTimer(p.cfg.AnswerGrace)
		defer grace.Stop()
		// Once the grace is over, the answers already in are still taken:
		// select picks at random among ready cases, and a grace of 0 is
		// ready at once, so one the broker gave would be called
		// unanswered and sent again.
		over := false
	wait:
		for left > 0 {
			var a reply
			if over {
				select {
				case a = <-done:
				default:
					break wait
				}
			} else {
				select {
				case a = <-done:
				case <-grace.C:
					over = true
					continue
				}
			}
			errs[a.i], answered[a.i] = a.err, true
			left--
		}
	}
	for i := range errs {
		if !answered[i] {
			errs[i] = fmt.Errorf("kafka: sent, and not answered within answer_grace %v after the deadline (it may yet land): %w", p.cfg.AnswerGrace, ctx.Err())
		}
	}
	return errs
}

// recordSize is what a record counts against batch_bytes: its key, value
// and headers, and an allowance for their framing.
func recordSize(m kafka.Message) int {
	size := len(m.Key) + len(m.Value) + 64
	for _, h := range m.Headers {
		size += len(h.Key) + len(h.Value) + 8
	}
	return size
}

// checkSize refuses a record over batch_bytes, which no request may carry.
func (p *producer) checkSize(m kafka.Message) error {
	if size := recordSize(m); int64(size) > p.cfg.BatchBytes {
		return &PermanentError{Err: fmt.Errorf("kafka: message of %d bytes is over batch_bytes %d", size, p.cfg.BatchBytes)}
	}
	return nil
}

func toProtocolHeaders(hs []kafka.Header) []protocol.Header {
	out := make([]protocol.Header, len(hs))
	for i, h := range hs {
		out[i] = protocol.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

func (p *producer) invalidate(topic string) {
	p.mu.Lock()
	if m := p.topics[topic]; m != nil {
		m.stale = true
	}
	p.mu.Unlock()
}

func (q *brokerQueue) add(r *record) {
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes up to one request's worth of records: at most BatchBytes per
// partition and MaxBatch records per partition.
func (q *brokerQueue) take() []*record {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil
	}
	type key struct {
		t string
		p int
	}
	bytes := map[key]int64{}
	count := map[key]int{}
	var out, keep []*record
	full := map[key]bool{}
	for _, r := range q.pending {
		select {
		case <-r.gone:
			// Its caller is telling, or told, the item was not delivered
			// (and its source will offer it again): sent now, it would
			// land unrecorded and come again, and a stopping gateway
			// would wait for a slow broker to take it. Answered here
			// unless its caller dropped it first.
			if r.state.CompareAndSwap(recQueued, recDropped) {
				r.done <- reply{r.i, errGone}
			}
			continue
		default:
		}
		k := key{r.topic, r.partition}
		// Once a partition is full, its later records wait (keeping order).
		if full[k] || (count[k] > 0 && (bytes[k]+int64(r.size) > q.p.cfg.BatchBytes || count[k] >= q.p.cfg.MaxBatch)) {
			full[k] = true
			keep = append(keep, r)
			continue
		}
		if !r.state.CompareAndSwap(recQueued, recSent) {
			continue // its caller dropped it, and answered it itself
		}
		bytes[k] += int64(r.size)
		count[k]++
		out = append(out, r)
	}
	q.pending = keep
	return out
}

// run sends the queue's records, with up to MaxInFlight requests out at
// once. A batch is taken only when a place is free, so that records keep
// gathering while every request is out; a finishing request wakes the loop.
func (q *brokerQueue) run() {
	defer q.p.wg.Done()
	slots := make(chan struct{}, q.p.cfg.MaxInFlight)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	stopping := false
	for {
		select {
		case <-q.wake:
		case <-q.stop:
			stopping = true
		}
	fill:
		for {
			select {
			case slots <- struct{}{}:
			default:
				if !stopping {
					break fill // all places taken
				}
				slots <- struct{}{} // stopping: wait for a place
			}
			recs := q.take()
			if recs == nil {
				<-slots
				break fill
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				q.write(recs)
				<-slots
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}()
		}
		if stopping {
			return
		}
	}
}

// write sends one produce request and answers its records.
func (q *brokerQueue) write(recs []*record) {
	type key struct {
		t string
		p int
	}
	groups := map[key][]*record{}
	var order []key
	for _, r := range recs {
		k := key{r.topic, r.partition}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	byTopic := map[string]*produce.RequestTopic{}
	var topics []string
	for _, k := range order {
		t := byTopic[k.t]
		if t == nil {
			t = &produce.RequestTopic{Topic: k.t}
			byTopic[k.t] = t
			topics = append(topics, k.t)
		}
		rs := make([]kafka.Record, len(groups[k]))
		for i, r := range groups[k] {
			// Fresh readers: a record sent again (alone, below) must not
			// find its key and value read by the request before.
			m := r.msg
			rs[i] = kafka.Record{Time: m.Time, Key: protocol.NewBytes(m.Key), Value: protocol.NewBytes(m.Value), Headers: toProtocolHeaders(m.Headers)}
		}
		t.Partitions = append(t.Partitions, produce.RequestPartition{
			Partition: int32(k.p),
			RecordSet: protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(q.p.cfg.compression()) & 7, Records: protocol.NewRecordReader(rs...)},
		})
	}
	req := &produce.Request{Acks: -1, Timeout: int32(q.p.cfg.WriteTimeout / time.Millisecond)}
	for _, t := range topics {
		req.Topics = append(req.Topics, *byTopic[t])
	}
	ctx, cancel := context.WithTimeout(context.Background(), q.p.cfg.WriteTimeout)
	resp, err := q.p.tr.RoundTrip(ctx, q.addr, req)
	cancel()
	answer := func(rs []*record, err error) {
		for _, r := range rs {
			r.done <- reply{r.i, err}
		}
	}
	if err != nil {
		for _, t := range topics {
			q.p.invalidate(t)
		}
		answer(recs, fmt.Errorf("kafka produce: %w: %w", minsheng.ErrUnavailable, err))
		return
	}
	pr, ok := resp.(*produce.Response)
	if !ok {
		answer(recs, fmt.Errorf("kafka produce: unexpected response %T: %w", resp, minsheng.ErrUnavailable))
		return
	}
	answered := map[key]bool{}
	var alone []*record
	for _, t := range pr.Topics {
		for _, part := range t.Partitions {
			k := key{t.Topic, int(part.Partition)}
			rs, ok := groups[k]
			if !ok || answered[k] {
				continue
			}
			answered[k] = true
			if part.ErrorCode == 0 {
				answer(rs, nil)
				continue
			}
			kerr := kafka.Error(part.ErrorCode)
			if kerr.Temporary() || errors.Is(kerr, kafka.NotLeaderForPartition) {
				q.p.invalidate(t.Topic)
			}
			err := wrapKafka(kerr)
			var perm *PermanentError
			if len(rs) > 1 && errors.As(err, &perm) {
				// Refused for good (too large, an invalid record) is said
				// of the partition's whole batch, which holds other items'
				// records too: each is sent alone, so that only the one at
				// fault goes to the dead letter.
				alone = append(alone, rs...)
				continue
			}
			answer(rs, err)
		}
	}
	for k, rs := range groups {
		if !answered[k] {
			answer(rs, fmt.Errorf("kafka produce: no answer for %s/%d: %w", k.t, k.p, minsheng.ErrUnavailable))
		}
	}
	for _, r := range alone {
		// One request after another: by its turn, a record's caller may
		// have stopped waiting, and then it is dropped as take drops one.
		select {
		case <-r.gone:
			r.done <- reply{r.i, errGone}
			continue
		default:
		}
		q.write([]*record{r})
	}
}

// close stops the senders after they answered what they hold.
func (p *producer) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, q := range p.brokers {
		close(q.stop)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
