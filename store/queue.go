package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

// The embedded queues: one nested bucket per destination under "queues",
// each holding
//
//	m: seq (8 bytes, big endian) → envelope JSON   — messages not yet acked
//	i: item ID → seq, or 0 once acked                — so an item is queued once
//
// Leases (who is reading what, until when) live in memory: after a restart
// every unacked message is visible again, which is what at-least-once needs.

var (
	bucketQueues = []byte("queues")
	subMessages  = []byte("m")
	subIndex     = []byte("i")
)

type lease struct {
	until      time.Time
	deliveries int
}

type queueState struct {
	mu     sync.Mutex
	leases map[uint64]*lease // seq → lease
	wake   chan struct{}     // closed and replaced when messages arrive
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
		q = &queueState{leases: map[uint64]*lease{}, wake: make(chan struct{})}
		s.qs.m[dest] = q
	}
	return q
}

func seqKey(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// Enqueue appends envelopes to their destinations' queues durably. An
// envelope whose item is already in (or was acked from) that queue is
// skipped, so a retried delivery does not queue an item twice. It returns
// how many envelopes were newly queued.
func (s *Store) Enqueue(ctx context.Context, envs []*minsheng.Envelope) (int, error) {
	type enc struct {
		dest, id string
		raw      []byte
	}
	encoded := make([]enc, 0, len(envs))
	for _, e := range envs {
		if e.Destination == "" || e.ItemID == "" {
			return 0, fmt.Errorf("store: enqueue: envelope without destination or id")
		}
		raw, err := json.Marshal(e)
		if err != nil {
			return 0, fmt.Errorf("store: enqueue %s: %w", e.ItemID, err)
		}
		encoded = append(encoded, enc{e.Destination, e.ItemID, raw})
	}
	added := 0
	touched := map[string]bool{}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		added = 0
		clear(touched)
		for _, e := range encoded {
			qb, err := tx.Bucket(bucketQueues).CreateBucketIfNotExists([]byte(e.dest))
			if err != nil {
				return err
			}
			mb, err := qb.CreateBucketIfNotExists(subMessages)
			if err != nil {
				return err
			}
			ib, err := qb.CreateBucketIfNotExists(subIndex)
			if err != nil {
				return err
			}
			if ib.Get([]byte(e.id)) != nil {
				continue
			}
			seq, err := mb.NextSequence()
			if err != nil {
				return err
			}
			if err := mb.Put(seqKey(seq), e.raw); err != nil {
				return err
			}
			if err := ib.Put([]byte(e.id), seqKey(seq)); err != nil {
				return err
			}
			added++
			touched[e.dest] = true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for d := range touched {
		q := s.queue(d)
		q.mu.Lock()
		close(q.wake)
		q.wake = make(chan struct{})
		q.mu.Unlock()
	}
	return added, nil
}

// Read leases up to max unacked, unleased messages of a destination, oldest
// first, for the lease duration. If none is ready it waits up to wait for
// one. Leased messages are handed out again once their lease runs out.
func (s *Store) Read(ctx context.Context, dest string, max int, leaseFor, wait time.Duration) ([]minsheng.QueuedMessage, error) {
	if max <= 0 {
		max = 1
	}
	q := s.queue(dest)
	deadline := time.Now().Add(wait)
	for {
		q.mu.Lock()
		wake := q.wake
		q.mu.Unlock()
		msgs, err := s.readOnce(q, dest, max, leaseFor)
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

func (s *Store) readOnce(q *queueState, dest string, max int, leaseFor time.Duration) ([]minsheng.QueuedMessage, error) {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []minsheng.QueuedMessage
	err := s.db.View(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if qb == nil {
			return nil
		}
		mb := qb.Bucket(subMessages)
		if mb == nil {
			return nil
		}
		c := mb.Cursor()
		for k, v := c.First(); k != nil && len(out) < max; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			l := q.leases[seq]
			if l != nil && l.until.After(now) {
				continue
			}
			var env minsheng.Envelope
			if err := json.Unmarshal(v, &env); err != nil {
				return fmt.Errorf("store: queue %s message %d: corrupt: %w", dest, seq, err)
			}
			if l == nil {
				l = &lease{}
				q.leases[seq] = l
			}
			l.until = now.Add(leaseFor)
			l.deliveries++
			out = append(out, minsheng.QueuedMessage{Seq: seq, Deliveries: l.deliveries, Envelope: &env})
		}
		return nil
	})
	return out, err
}

// Ack removes acknowledged messages (by item ID) from a destination's
// queue, durably. Unknown or already-acked IDs are not an error; it returns
// how many messages were removed.
func (s *Store) Ack(ctx context.Context, dest string, ids []string) (int, error) {
	removed := 0
	var seqs []uint64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		removed, seqs = 0, seqs[:0]
		qb := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if qb == nil {
			return nil
		}
		mb, ib := qb.Bucket(subMessages), qb.Bucket(subIndex)
		for _, id := range ids {
			v := ib.Get([]byte(id))
			if len(v) != 8 {
				continue
			}
			seq := binary.BigEndian.Uint64(v)
			if seq == 0 {
				continue
			}
			if err := mb.Delete(v); err != nil {
				return err
			}
			if err := ib.Put([]byte(id), seqKey(0)); err != nil {
				return err
			}
			removed++
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	q := s.queue(dest)
	q.mu.Lock()
	for _, seq := range seqs {
		delete(q.leases, seq)
	}
	q.mu.Unlock()
	return removed, nil
}

// Release gives leased messages back at once (a reader that cannot handle
// them now), by item ID.
func (s *Store) Release(dest string, ids []string) error {
	q := s.queue(dest)
	return s.db.View(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if qb == nil {
			return nil
		}
		ib := qb.Bucket(subIndex)
		q.mu.Lock()
		defer q.mu.Unlock()
		for _, id := range ids {
			if v := ib.Get([]byte(id)); len(v) == 8 {
				if l := q.leases[binary.BigEndian.Uint64(v)]; l != nil {
					l.until = time.Time{}
				}
			}
		}
		return nil
	})
}

// QueueDepth returns how many unacked messages a destination's queue holds.
func (s *Store) QueueDepth(dest string) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		qb := tx.Bucket(bucketQueues).Bucket([]byte(dest))
		if qb == nil {
			return nil
		}
		if mb := qb.Bucket(subMessages); mb != nil {
			n = mb.Stats().KeyN
		}
		return nil
	})
	return n, err
}
