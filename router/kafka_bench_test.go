package router

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/testkafka"
)

// BenchmarkKafkaSink delivers one ~1.5 KB envelope per call from 64
// goroutines to an in-process kfake broker, as the desk API does under load.
//
//	go test ./router -run XXX -bench KafkaSink -benchtime 20000x
func BenchmarkKafkaSink(b *testing.B) {
	{
		b.Run("producer", func(b *testing.B) {
			k, err := testkafka.Start(1, 6, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer k.Stop()
			cfg := DefaultKafkaConfig()
			cfg.Brokers = k.Addrs()
			k.CreateTopics("minsheng.gov_service")
			s, err := NewKafkaSink(cfg, func(d string) string { return "minsheng." + d })
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			it := testItem("bench")
			it.Body = string(make([]byte, 1200))
			var n, lat atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					e := &minsheng.Envelope{SchemaVersion: "1", Destination: "gov_service", Kind: minsheng.KindItem,
						ItemID: fmt.Sprint("id-", i), Item: it}
					t := time.Now()
					if err := s.Deliver(context.Background(), []*minsheng.Envelope{e}); err != nil {
						b.Fatal(err)
					}
					lat.Add(int64(time.Since(t)))
				}
			})
			b.ReportMetric(float64(lat.Load())/float64(n.Load())/1e6, "ms/delivery")
		})
	}
}
