package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

// The embedded queues: one bucket per destination under "queues", holding
//
//	seq (8 bytes, big endian) → len(id) (1 byte), id, envelope JSON
//
// for every message not yet acked, appended under sequential keys (cheap;
// see ledger.go). Which item IDs are queued, and leases (which desk is
// reading what, until when), live in memory; the IDs are rebuilt at Open
// from the keys' values. After a restart every unacked message is visible
// again, which is what at-least-once needs.
//
// An item already waiting in a queue is not queued again. One that was
// acked and is then delivered again (a source re-sent it after a crash
// between routing and recording) is queued again under the same ID:
// readers, like Kafka consumers, drop repeats by ID.
//
// Dead letter envelopes (KindDeadLetter) are the exception. An item can be
// dead-lettered again, for other destinations, while its first dead letter
// waits (re-delivered to review, then refused for the class a person
// chose): the newer one says what is to be done now, and skipped, it
// would be lost with the older one's ack. So a dead letter of an item
// takes the place of the item's messages that no desk holds (never read,
// or released), in one transaction, and is queued behind those a desk
// holds (read, and neither acked nor released, its lease live or run
// out): that desk's ack removes what it read, not the newer one. A retry
// of the same dead letter (a route retried, an item offered again after
// a crash, when no lease survives) replaces its copy and still leaves one
// message; only one a desk is reading meanwhile is queued twice. A queue
// holding the item otherwise (the discipline dead letter may be the
// inspectors' own destination, which took the item) keeps the strict
// rule: the item is waiting there, and its dead letter is not queued.

var bucketQueues = []byte("queues")

// A lease records its holder, the desk that read the message, and Ack and
// Release act only on messages the caller holds: under a live lease, or one
// that ran out while no other desk has read the message since. A message is
// handled by one desk at a time, and a desk whose lease ran out cannot take
// the message away from the desk that read it next.
//
// The holder is the desk's name rather than a token handed out with each
// read (like SQS receipt handles): desks already ack by item ID, the desk
// is what the gateway authenticates and entitles, and a desk that reads
// and acks as before keeps working unchanged. What a name cannot tell apart
// is two workers sharing one desk's token: to the gateway they are one
// reader, and either may settle what the other leased.
type lease struct {
	until      time.Time
	deliveries int
	holder     string // the desk that read it; "" once released
	acking     bool   // the holder's Ack is removing it: not handed out again
}

// live reports whether the lease keeps the message from other readers.
func (l *lease) live(now time.Time) bool {
	return l.acking || l.until.After(now)
}

type queueState struct {
	mu      sync.Mutex
	leases  map[uint64]*lease   // seq → lease
	pending map[string][]uint64 // item ID → seqs of its unacked messages
	// enqueuing: item IDs an Enqueue is writing to this queue now, closed
	// when it is done; another Enqueue of the same ID waits for it, then
	// finds the item waiting (or queues it, if that write failed).
	enqueuing map[string]chan struct{}
	count     int
	wake      chan struct{} // closed and replaced when messages arrive
}

type queues struct {
	mu sync.Mutex
	m  map[string]*queueState
}

func (s *Store) queue(dest string) *queueState {
	s.qs.mu.Lock()
	defer s.qs.mu.Unlock()
	if s.qs.m == nil {
		s.qs.m = map[string]*queueState{}
	}
	q := s.qs.m[dest]
	if q == nil {
		q = &queueState{leases: map[uint64]*lease{}, pending: map[string][]uint64{}, enqueuing: map[string]chan struct{}{}, wake: make(chan struct{})}
		s.qs.m[dest] = q
	}
	return q
}

func seqKey(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func seqOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// appendMessageID appends a message's start: len(id), id.
func appendMessageID(b []byte, id string) []byte {
	return append(append(b, byte(len(id))), id...)
}

func decodeMessage(v []byte) (string, []byte, error) {
	if len(v) < 1 || len(v) < 1+int(v[0]) {
		return "", nil, errors.New("short message")
	}
	n := int(v[0])
	return string(v[1 : 1+n]), v[1+n:], nil
}

// loadQueues rebuilds the in-memory IDs of queued messages.
func (s *Store) loadQueues() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueues).ForEachBucket(func(name []byte) error {
			q := s.queue(string(name))
			c := tx.Bucket(bucketQueues).Bucket(name).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				id, _, err := decodeMessage(v)
				if err != nil {
					return fmt.Errorf("queue %s message %d: %w", name, seqOf(k), err)
				}
				q.pending[id] = append(q.pending[id], seqOf(k))
				q.count++
			}
			return nil
		})
	})
}

// Enqueue appends envelopes to their destinations' queues durably, except
// those whose item is already waiting in that queue (or given twice in
// envs). A dead letter envelope is queued even so, in place of the item's
// messages there that no desk holds (see above). It answers for each
// envelope whether it was queued (false: its queue held the item
// already, or envs gave it before), so that a caller tells and counts
// only what it queued. Two Enqueues of one item to one queue at once
// queue it once: the later waits for the earlier's write (a dead letter
// then takes the earlier's place).
func (s *Store) Enqueue(ctx context.Context, envs []*minsheng.Envelope) ([]bool, error) {
	type enc struct {
		q        *queueState
		dest, id string
		raw      []byte
		seq      uint64
		at       int      // its envelope's place in envs
		old      []uint64 // the item's messages this one replaces
		done     chan struct{}
	}
	var todo []*enc
	written := false
	// Whatever happens, the IDs claimed are given up and their waiters
	// woken; those written are registered first (below), and the messages
	// to be replaced are waiting again if nothing was. The transaction is
	// over by then, committed or not: the messages' buffers are free.
	defer func() {
		for _, e := range todo {
			putBuf(e.raw)
			e.q.mu.Lock()
			if !written && len(e.old) > 0 {
				e.q.pending[e.id] = append(e.q.pending[e.id], e.old...)
				slices.Sort(e.q.pending[e.id])
			}
			delete(e.q.enqueuing, e.id)
			e.q.mu.Unlock()
			close(e.done)
		}
	}()
	for _, e := range envs {
		if e.Destination == "" || e.ItemID == "" || len(e.ItemID) > 255 {
			return nil, fmt.Errorf("store: enqueue: envelope without destination or valid id")
		}
	}
	// Claimed in one order by every caller, so that two Enqueues of the
	// same items to the same queues never wait for each other's claims.
	order := make([]int, len(envs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(envs[a].Destination, envs[b].Destination), cmp.Compare(envs[a].ItemID, envs[b].ItemID))
	})
	queued := make([]bool, len(envs))
	for _, at := range order {
		e := envs[at]
		if slices.ContainsFunc(todo, func(x *enc) bool { return x.dest == e.Destination && x.id == e.ItemID }) {
			continue
		}
		q := s.queue(e.Destination)
		var deadOnly func([]uint64) (bool, error)
		if e.Kind == minsheng.KindDeadLetter {
			deadOnly = func(seqs []uint64) (bool, error) { return s.deadLettersOnly(e.Destination, seqs) }
		}
		done, old, err := q.claim(ctx, e.ItemID, deadOnly)
		if err != nil {
			return nil, err
		}
		if done == nil {
			continue // waiting already
		}
		en := &enc{q: q, dest: e.Destination, id: e.ItemID, at: at, old: old, done: done}
		todo = append(todo, en)
		// The envelope is encoded in place after the ID (json.Marshal's bytes).
		raw, err := minsheng.AppendEnvelopeJSON(appendMessageID(getBuf(), e.ItemID), e, true)
		if err != nil {
			return nil, fmt.Errorf("store: enqueue %s: %w", e.ItemID, err)
		}
		en.raw = raw
	}
	if len(todo) == 0 {
		return queued, nil
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, e := range todo {
			b, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists([]byte(e.dest))
			if err != nil {
				return err
			}
			b.FillPercent = 1.0
			for _, seq := range e.old {
				if err := b.Delete(seqKey(seq)); err != nil {
					return err
				}
			}
			if e.seq, err = b.NextSequence(); err != nil {
				return err
			}
			if err := b.Put(seqKey(e.seq), e.raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	written = true
	woken := map[string]bool{}
	for _, e := range todo {
		q := e.q
		q.mu.Lock()
		for _, seq := range e.old {
			delete(q.leases, seq) // a released one has an entry
		}
		q.pending[e.id] = append(q.pending[e.id], e.seq)
		q.count += 1 - len(e.old)
		if !woken[e.dest] {
			close(q.wake)
			q.wake = make(chan struct{})
			woken[e.dest] = true
		}
		q.mu.Unlock()
		queued[e.at] = true
	}
	return queued, nil
}

// claim makes the caller the one Enqueue writing item id to this queue:
// it returns the channel to close when done, or nil when the item is
// waiting in the queue already. If another Enqueue is writing it, claim
// waits for that one first. For a dead letter (deadOnly not nil, telling
// whether the messages of given seqs are all dead letters) it claims the
// item even so, unless one of the item's messages waiting is not a dead
// letter, and returns the seqs of those no desk holds, to be replaced:
// they leave pending now, so that no reader is handed one meanwhile
// (Enqueue puts them back if it writes nothing).
func (q *queueState) claim(ctx context.Context, id string, deadOnly func([]uint64) (bool, error)) (chan struct{}, []uint64, error) {
	for {
		q.mu.Lock()
		if len(q.pending[id]) > 0 {
			replace := false
			if deadOnly != nil {
				var err error
				if replace, err = deadOnly(q.pending[id]); err != nil {
					q.mu.Unlock()
					return nil, nil, err
				}
			}
			if !replace {
				q.mu.Unlock()
				return nil, nil, nil
			}
		}
		other, busy := q.enqueuing[id]
		if !busy {
			done := make(chan struct{})
			q.enqueuing[id] = done
			var old, keep []uint64
			for _, seq := range q.pending[id] {
				if l := q.leases[seq]; l == nil || l.holder == "" && !l.acking {
					old = append(old, seq)
				} else {
					keep = append(keep, seq)
				}
			}
			if len(old) > 0 {
				if len(keep) == 0 {
					delete(q.pending, id)
				} else {
					q.pending[id] = keep
				}
			}
			q.mu.Unlock()
			return done, old, nil
		}
		q.mu.Unlock()
		select {
		case <-other:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// deadLettersOnly reports whether the messages of seqs in a destination's
// queue are all dead letters: the discipline dead letter may be the
// inspectors' own destination, where an item's class envelope must not
// give way to its dead letter. A message acked meanwhile is passed over.
func (s *Store) deadLettersOnly(dest string, seqs []uint64) (bool, error) {
	only := true
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		for _, seq := range seqs {
			v := b.Get(seqKey(seq))
			if v == nil {
				continue
			}
			_, raw, err := decodeMessage(v)
			var env struct {
				Kind string `json:"kind"`
			}
			if err == nil {
				err = json.Unmarshal(raw, &env)
			}
			if err != nil {
				return fmt.Errorf("store: queue %s message %d: corrupt: %w", dest, seq, err)
			}
			if env.Kind != minsheng.KindDeadLetter {
				only = false
				return nil
			}
		}
		return nil
	})
	return only, err
}

// Read leases up to max unacked, unleased messages of a destination, oldest
// first, to holder (the reading desk) for the lease duration. If none is
// ready it waits up to wait for one. Leased messages are handed out again
// once their lease runs out.
func (s *Store) Read(ctx context.Context, dest, holder string, max int, leaseFor, wait time.Duration) ([]minsheng.QueuedMessage, error) {
	if holder == "" {
		return nil, errors.New("store: read: holder: empty (name the reading desk)")
	}
	if max <= 0 {
		max = 1
	}
	q := s.queue(dest)
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		wake := q.wake
		q.mu.Unlock()
		msgs, err := s.readOnce(q, dest, holder, max, leaseFor)
		if err != nil || len(msgs) > 0 || wait <= 0 {
			return msgs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		// Wake on new messages, on a lease expiring (checked once a second),
		// on the deadline, or when the caller leaves.
		t := time.NewTimer(min(left, time.Second))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.closed:
			t.Stop()
			return nil, ErrClosed
		}
		t.Stop()
	}
}

func (s *Store) readOnce(q *queueState, dest, holder string, max int, leaseFor time.Duration) ([]minsheng.QueuedMessage, error) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []minsheng.QueuedMessage
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			seq := seqOf(k)
			l := q.leases[seq]
			if l != nil && l.live(now) {
				continue
			}
			id, raw, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("store: queue %s message %d: %w", dest, seq, err)
			}
			if !slices.Contains(q.pending[id], seq) {
				// Written, but its Enqueue has not registered it yet: were
				// it handed out now, its reader's ack would be refused as
				// unknown and the message handed out again. Enqueue wakes
				// the readers once it has.
				continue
			}
			var env minsheng.Envelope
			if err := json.Unmarshal(raw, &env); err != nil {
				return fmt.Errorf("store: queue %s message %d: corrupt: %w", dest, seq, err)
			}
			if l == nil {
				l = &lease{}
				q.leases[seq] = l
			}
			l.until = now.Add(leaseFor)
			l.holder = holder
			l.deliveries++
			out = append(out, minsheng.QueuedMessage{Seq: seq, Deliveries: l.deliveries, Envelope: &env})
		}
		return nil
	})
	return out, err
}

// Ack removes the messages of the given item IDs that holder leased, and
// no one has read since, from a destination's queue, durably, and returns
// how many it removed and the IDs it refused, with why (unknown, not
// leased, leased by another desk). A refusal is not an error.
func (s *Store) Ack(ctx context.Context, dest, holder string, ids []string) (int, []minsheng.Refusal, error) {
	q := s.queue(dest)
	q.mu.Lock()
	seqs, refused := q.held(holder, ids, time.Now())
	for _, seq := range seqs {
		// Until the removal is written, the lease may run out: acking keeps
		// the message from being handed to another reader meanwhile.
		q.leases[seq].acking = true
	}
	q.mu.Unlock()
	if len(seqs) == 0 {
		return 0, refused, nil
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		for _, seq := range seqs {
			if err := b.Delete(seqKey(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	q.mu.Lock()
	defer q.mu.Unlock()
	if err != nil {
		for _, seq := range seqs {
			q.leases[seq].acking = false
		}
		return 0, nil, err
	}
	acked := map[uint64]bool{}
	for _, seq := range seqs {
		acked[seq] = true
	}
	removed := 0
	for _, id := range ids {
		var keep []uint64
		for _, seq := range q.pending[id] {
			if acked[seq] {
				delete(q.leases, seq)
				removed++
				q.count--
			} else {
				keep = append(keep, seq) // not held, or queued again after our snapshot
			}
		}
		if len(keep) == 0 {
			delete(q.pending, id)
		} else {
			q.pending[id] = keep
		}
	}
	return removed, refused, nil
}

// Release gives the messages of the given item IDs that holder holds
// back at once (a reader that cannot handle them now), and returns how many
// it gave back and the IDs it refused, with why, as Ack does.
func (s *Store) Release(dest, holder string, ids []string) (int, []minsheng.Refusal) {
	q := s.queue(dest)
	q.mu.Lock()
	defer q.mu.Unlock()
	seqs, refused := q.held(holder, ids, time.Now())
	for _, seq := range seqs {
		l := q.leases[seq]
		l.until, l.holder = time.Time{}, ""
	}
	return len(seqs), refused
}

// refusalRank orders the reasons an ID's messages are not held, least
// telling first: an ID with several messages is refused for the most
// telling.
var refusalRank = []string{minsheng.RefusedUnknown, minsheng.RefusedNotLeased, minsheng.RefusedLeasedByOther}

// held sorts ids into the seqs of the messages holder leases at now and the
// IDs none of whose messages it leases, with why. Repeated IDs count once.
// q.mu must be held.
func (q *queueState) held(holder string, ids []string, now time.Time) ([]uint64, []minsheng.Refusal) {
	var seqs []uint64
	var refused []minsheng.Refusal
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		mine, why := 0, minsheng.RefusedUnknown
		for _, seq := range q.pending[id] {
			l := q.leases[seq]
			reason := minsheng.RefusedNotLeased
			switch {
			case l == nil:
			case l.acking:
				reason = minsheng.RefusedUnknown // being removed
			case holder == "": // no one: a released lease's holder is "" too
			case l.holder == holder:
				// Its lease may have run out: while no one else has read
				// it since, the holder's ack still settles it, which spares
				// the message a second handling.
				seqs = append(seqs, seq)
				mine++
				continue
			case l.until.After(now):
				reason = minsheng.RefusedLeasedByOther
			}
			if slices.Index(refusalRank, reason) > slices.Index(refusalRank, why) {
				why = reason
			}
		}
		if mine == 0 {
			refused = append(refused, minsheng.Refusal{ID: id, Reason: why})
		}
	}
	return seqs, refused
}

// QueueDepth returns how many unacked messages a destination's queue holds.
func (s *Store) QueueDepth(dest string) (int, error) {
	q := s.queue(dest)
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count, nil
}
