// Package store is the gateway's embedded, pure-Go state store: item records
// and trails (the ledger), per-destination durable queues, connector
// checkpoints, and — in a plain directory beside it — content-addressed
// blobs.
//
// It is built on bbolt (go.etcd.io/bbolt): one file, ACID transactions, no
// cgo and no server, readers that never block the writer. All writes go
// through one committer goroutine that gathers every write waiting at that
// moment into a single transaction and a single fsync (group commit), so
// many concurrent callers share the cost of durability while a lone caller
// waits for nothing but its own fsync.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// Options tune the store.
type Options struct {
	// NoSync skips fsync at commit. Data then survives a crash of the
	// process (it is in the OS page cache) but not of the machine. Off by
	// default; benchmarks report which they used.
	NoSync bool
	// MaxBatch caps how many writes share one transaction (default 2000).
	MaxBatch int
	// Metrics, when set, receives the store's collectors.
	Metrics prometheus.Registerer
	// LedgerSyncInterval is how often the ledger is fsynced (default 200ms).
	LedgerSyncInterval time.Duration
	// Logger for the store's warnings; none when nil.
	Logger *slog.Logger
	// SkipCorruptLedger opens a ledger damaged in the middle of a segment
	// by skipping the damaged span (its records are lost, those after it
	// kept) rather than failing; see ledger.scan.
	SkipCorruptLedger bool
}

// Store is an open state store. It is safe for concurrent use.
type Store struct {
	db     *bolt.DB
	dir    string
	blobs  *Blobs
	writes chan *write
	stop   chan struct{}
	done   chan struct{}
	max    int
	qs     queues
	ledger *ledger

	closeOnce sync.Once
	gcRunning sync.Mutex // held by CollectBlobs
	closed    chan struct{}

	commitSeconds prometheus.Histogram
	batchSize     prometheus.Histogram
}

type write struct {
	fn   func(tx *bolt.Tx) error
	err  chan error
	next *write
}

var (
	bucketCheckpoints = []byte("checkpoints")
	bucketMeta        = []byte("meta")
)

// ErrClosed is returned for writes after Close.
var ErrClosed = errors.New("store: closed")

// Open opens (creating if needed) the store in dir: dir/state.db and
// dir/blobs/. Only one process may have it open; a second Open waits up to
// two seconds for the lock and then fails.
func Open(dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := checkBoltSize(filepath.Join(dir, "state.db")); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{
		Timeout:         2 * time.Second,
		NoSync:          opts.NoSync,
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w (is another minsheng running on this data directory?)", dir, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCheckpoints, bucketMeta, bucketQueues} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init: %w", err)
	}
	s := &Store{db: db, dir: dir}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LedgerSyncInterval <= 0 {
		opts.LedgerSyncInterval = 200 * time.Millisecond
	}
	if s.ledger, err = openLedger(filepath.Join(dir, "ledger"), opts.LedgerSyncInterval, opts.SkipCorruptLedger, opts.Logger); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.loadQueues(); err != nil {
		s.ledger.close()
		db.Close()
		return nil, fmt.Errorf("store: queues: %w", err)
	}
	blobs, err := OpenBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		s.ledger.close()
		db.Close()
		return nil, err
	}
	s.blobs = blobs
	s.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "minsheng_store_commit_seconds",
		Help: "Time to commit one group of writes durably.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)})
	s.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "minsheng_store_commit_writes",
		Help: "Writes sharing one commit.", Buckets: prometheus.ExponentialBuckets(1, 2, 12)})
	if opts.Metrics != nil {
		incomplete := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "minsheng_incomplete_items",
			Help: "Items whose latest ledger record is incomplete: some destinations hold them, others are yet to (the pipeline's finisher sends them on)."},
			func() float64 { return float64(s.IncompleteCount()) })
		for _, c := range []prometheus.Collector{s.commitSeconds, s.batchSize, incomplete} {
			if err := opts.Metrics.Register(c); err != nil {
				s.ledger.close()
				db.Close()
				return nil, fmt.Errorf("store: metrics: %w", err)
			}
		}
	}
	s.writes = make(chan *write, 4096)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	s.closed = make(chan struct{})
	s.max = opts.MaxBatch
	if s.max <= 0 {
		s.max = 2000
	}
	go s.commitLoop()
	return s, nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Blobs is the store's content-addressed blob directory.
func (s *Store) Blobs() *Blobs { return s.blobs }

// Close stops the committer after the writes already queued and closes the
// database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		close(s.stop)
		<-s.done
		err = errors.Join(s.ledger.close(), s.db.Close())
	})
	return err
}

// update runs fn in a write transaction shared with other writers waiting at
// the same moment, and returns after the transaction is durable. If fn
// returns an error only its own changes are undone: the batch is retried
// without it.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	w := &write{fn: fn, err: make(chan error, 1)}
	select {
	case <-s.closed:
		return ErrClosed
	default:
	}
	select {
	case s.writes <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	}
	// Once queued the write will be committed or refused; wait for the
	// verdict even if ctx ends, so the caller knows what happened.
	return <-w.err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*write, 0, s.max)
	for {
		select {
		case w := <-s.writes:
			batch = append(batch[:0], w)
		case <-s.stop:
			// drain what is queued, then stop
			for {
				select {
				case w := <-s.writes:
					s.commit([]*write{w})
				default:
					return
				}
			}
		}
	gather:
		for len(batch) < s.max {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break gather
			}
		}
		s.commit(batch)
	}
}

// commit runs a batch in one transaction. A write whose function fails is
// answered with its error and the rest of the batch is run again without it.
func (s *Store) commit(batch []*write) {
	start := time.Now()
	s.batchSize.Observe(float64(len(batch)))
	defer func() { s.commitSeconds.Observe(time.Since(start).Seconds()) }()
	for len(batch) > 0 {
		failed := -1
		var ferr error
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, w := range batch {
				if err := w.fn(tx); err != nil {
					failed, ferr = i, err
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].err <- ferr
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		}
		for _, w := range batch {
			w.err <- err
		}
		return
	}
}

// Get returns a checkpoint's value, or nil when absent.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// Put stores a checkpoint durably.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return errors.New("store: empty checkpoint key")
	}
	v := append([]byte(nil), value...)
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).Put([]byte(key), v)
	})
}
