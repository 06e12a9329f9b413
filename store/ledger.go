package store

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

var bucketItems = []byte("items")

var _ minsheng.Ledger = (*Store)(nil)
var _ minsheng.Checkpoints = (*Store)(nil)

// Lookup returns the record of a handled item, or an error wrapping
// minsheng.ErrNotFound.
func (s *Store) Lookup(_ context.Context, id string) (*minsheng.Record, error) {
	var raw []byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketItems).Get([]byte(id)); v != nil {
			raw = append([]byte(nil), v...)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: lookup %s: %w", id, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("store: item %s: %w", id, minsheng.ErrNotFound)
	}
	var r minsheng.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("store: item %s: corrupt record: %w", id, err)
	}
	return &r, nil
}

// Commit stores the record durably (group-committed with other writers).
func (s *Store) Commit(ctx context.Context, r *minsheng.Record) error {
	if r.ID == "" {
		return fmt.Errorf("store: commit: record without id")
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: commit %s: %w", r.ID, err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).Put([]byte(r.ID), raw)
	})
}

// CountItems returns how many item records the ledger holds.
func (s *Store) CountItems() (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketItems).Stats().KeyN
		return nil
	})
	return n, err
}
