package learn

import (
	"path/filepath"
	"testing"

	"github.com/minsheng/minsheng/triage"
)

// BenchmarkDecideReal measures the built-in engine on the 4,326 real
// messages of 附件3 (mean 1,069 bytes), one goroutine: the figure behind the
// triage throughput target. Sub-benchmarks split the cost: normalising and
// hashing, scoring the four heads, and the whole decision with its
// explanation. Run with MINSHENG_SHARED pointing at ../shared/data:
//
//	go test ./triage/learn -run - -bench DecideReal -cpu 1
func BenchmarkDecideReal(b *testing.B) {
	shared := sharedDir(b)
	recs, err := ReadTipdmCSV(filepath.Join(shared, FileUnlabelled), "")
	if err != nil {
		b.Fatal(err)
	}
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	m := e.Model()
	size := 0
	for _, r := range recs {
		size += len(r.Title) + len(r.Body)
	}
	run := func(b *testing.B, f func(r *Record)) {
		b.SetBytes(int64(size / len(recs)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			f(&recs[i%len(recs)])
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	}
	var ids []uint32
	b.Run("featurize", func(b *testing.B) {
		run(b, func(r *Record) { ids = m.Featurize(ids[:0], r.Title, r.Body) })
	})
	feats := make([][]uint32, len(recs))
	for i, r := range recs {
		feats[i] = m.Featurize(nil, r.Title, r.Body)
	}
	scores := make([]float32, m.Cols())
	b.Run("scores", func(b *testing.B) {
		i := 0
		run(b, func(*Record) { m.Scores(feats[i%len(feats)], scores); i++ })
	})
	b.Run("decide", func(b *testing.B) {
		run(b, func(r *Record) { e.DecideText(r.Title, r.Body) })
	})
}
