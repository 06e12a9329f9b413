package store

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	minsheng "github.com/minsheng/minsheng"
)

// Ledger writes of ~1.5 KB records from 64 concurrent writers, as the
// pipeline makes them: ns/op is wall time per record with group commit;
// ms/commit is the latency a writer sees.
//
//	go test ./store -run XXX -bench . -benchtime 40000x
//
// BenchmarkLedgerCommit is the layout in use (sequential keys + ID index in
// memory); BenchmarkRandomKeyInsert is the layout it replaced (records
// under their random hash IDs), kept to show why.
func BenchmarkLedgerCommit(b *testing.B) {
	benchWrites(b, func(s *Store, id string, rec *minsheng.Record) error {
		return s.Commit(context.Background(), rec)
	})
}

func BenchmarkRandomKeyInsert(b *testing.B) {
	benchWrites(b, func(s *Store, id string, rec *minsheng.Record) error {
		raw := []byte(rec.Item.Body)
		return s.update(context.Background(), func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("bench-random"))
			if err != nil {
				return err
			}
			return bk.Put([]byte(id), raw)
		})
	})
}

func benchWrites(b *testing.B, write func(*Store, string, *minsheng.Record) error) {
	for _, nosync := range []bool{false, true} {
		b.Run(fmt.Sprintf("nosync=%v", nosync), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{NoSync: nosync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			body := strings.Repeat("市民反映小区道路塌陷问题，", 40)
			var n, lat atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					id := minsheng.ItemID(minsheng.ChannelHotline, "bench", fmt.Sprint(i))
					rec := &minsheng.Record{ID: id, Item: &minsheng.Item{ID: id, Body: body}, Destinations: []string{"gov_service"}}
					t := time.Now()
					if err := write(s, id, rec); err != nil {
						b.Fatal(err)
					}
					lat.Add(int64(time.Since(t)))
				}
			})
			b.ReportMetric(float64(lat.Load())/float64(n.Load())/1e6, "ms/commit")
		})
	}
}

// BenchmarkLedgerOpen is the scan of the ledger at Open (indexing every
// record's ID, and finding the incomplete ones, without decoding): ns/op
// per open of 20,000 records of ~1.5 KB, one in a hundred incomplete.
//
//	go test ./store -run XXX -bench LedgerOpen -benchtime 20x
func BenchmarkLedgerOpen(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("市民反映小区道路塌陷问题，", 40)
	const n = 20000
	for i := range n {
		id := minsheng.ItemID(minsheng.ChannelHotline, "bench", fmt.Sprint(i))
		rec := &minsheng.Record{ID: id, Item: &minsheng.Item{ID: id, Body: body}, Destinations: []string{"gov_service"}, Incomplete: i%100 == 0}
		if err := s.Commit(context.Background(), rec); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/record")
}
