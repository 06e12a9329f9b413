package store

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

// The ledger keeps one record per handled item. Records are appended under
// sequential keys, which bbolt writes cheaply (the right edge of the tree);
// B+tree inserts under the items' random hash IDs cost 3-15 times more CPU
// (store/bench_test.go measures both). Lookups by ID go through an index in
// memory, rebuilt at Open from a compact side bucket:
//
//	ledger:      seq (8 bytes, big endian) → record JSON
//	ledger-ids:  seq → item ID
//
// The index costs about 40 bytes of memory per record.

var (
	bucketLedger    = []byte("ledger")
	bucketLedgerIDs = []byte("ledger-ids")
)

var _ minsheng.Ledger = (*Store)(nil)
var _ minsheng.Checkpoints = (*Store)(nil)

// idKey is an item ID in 17 bytes: its 26 base32 characters decoded.
type idKey [17]byte

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func keyOf(id string) (idKey, bool) {
	var k idKey
	if !minsheng.ValidItemID(id) {
		return k, false
	}
	// 26 characters are 130 bits; pad to 28 (whole bytes) for the decoder.
	b, err := keyEncoding.DecodeString(id[3:] + "aa")
	if err != nil || len(b) < 17 {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

type ledgerIndex struct {
	mu sync.RWMutex
	m  map[idKey]uint64 // item ID → seq of its newest record
	// other holds IDs not of ItemID's form (there should be none).
	other map[string]uint64
}

func (x *ledgerIndex) get(id string) (uint64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if k, ok := keyOf(id); ok {
		seq, found := x.m[k]
		return seq, found
	}
	seq, found := x.other[id]
	return seq, found
}

func (x *ledgerIndex) put(id string, seq uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if k, ok := keyOf(id); ok {
		x.m[k] = seq
		return
	}
	x.other[id] = seq
}

func (x *ledgerIndex) len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.m) + len(x.other)
}

// loadLedgerIndex rebuilds the index from the ledger-ids bucket.
func (s *Store) loadLedgerIndex() error {
	s.ledger = &ledgerIndex{m: map[idKey]uint64{}, other: map[string]uint64{}}
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLedgerIDs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			s.ledger.put(string(v), seqOf(k))
		}
		return nil
	})
}

// Lookup returns the record of a handled item, or an error wrapping
// minsheng.ErrNotFound.
func (s *Store) Lookup(_ context.Context, id string) (*minsheng.Record, error) {
	seq, ok := s.ledger.get(id)
	if !ok {
		return nil, fmt.Errorf("store: item %s: %w", id, minsheng.ErrNotFound)
	}
	var raw []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketLedger).Get(seqKey(seq)); v != nil {
			raw = append([]byte(nil), v...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: lookup %s: %w", id, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("store: item %s: indexed but missing: %w", id, minsheng.ErrNotFound)
	}
	var r minsheng.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("store: item %s: corrupt record: %w", id, err)
	}
	return &r, nil
}

// Seen reports whether the ledger holds a record for the item, without
// reading it.
func (s *Store) Seen(id string) bool {
	_, ok := s.ledger.get(id)
	return ok
}

// Commit stores the record durably (group-committed with other writers).
// Committing an ID again supersedes the earlier record.
func (s *Store) Commit(ctx context.Context, r *minsheng.Record) error {
	if r.ID == "" {
		return fmt.Errorf("store: commit: record without id")
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: commit %s: %w", r.ID, err)
	}
	var seq uint64
	if err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLedger)
		b.FillPercent = 1.0 // appends only: pack pages full
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		if err := b.Put(seqKey(seq), raw); err != nil {
			return err
		}
		ids := tx.Bucket(bucketLedgerIDs)
		ids.FillPercent = 1.0
		return ids.Put(seqKey(seq), []byte(r.ID))
	}); err != nil {
		return err
	}
	s.ledger.put(r.ID, seq)
	return nil
}

// CountItems returns how many items the ledger holds.
func (s *Store) CountItems() (int, error) {
	return s.ledger.len(), nil
}
