package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/minsheng/minsheng/store"
)

// blobGC collects unreferenced blobs in the running gateway
// (store.blob_gc.interval), and counts what it did.
type blobGC struct {
	cfg     BlobGCConfig
	st      *store.Store
	log     *slog.Logger
	runs    *prometheus.CounterVec
	removed prometheus.Counter
	bytes   prometheus.Counter
}

func newBlobGC(c BlobGCConfig, st *store.Store, log *slog.Logger, reg prometheus.Registerer) *blobGC {
	g := &blobGC{cfg: c, st: st, log: log,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "minsheng_blob_gc_runs_total",
			Help: "Collections of unreferenced blobs (store.blob_gc.interval), by result (ok, failed)."}, []string{"result"}),
		removed: prometheus.NewCounter(prometheus.CounterOpts{Name: "minsheng_blob_gc_removed_total",
			Help: "Blobs no record or queued message referred to, removed after the grace period."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "minsheng_blob_gc_removed_bytes_total",
			Help: "Bytes of the blobs removed."}),
	}
	reg.MustRegister(g.runs, g.removed, g.bytes)
	return g
}

// run collects at once and then every interval until ctx ends.
func (g *blobGC) run(ctx context.Context) {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	for {
		g.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *blobGC) once(ctx context.Context) {
	rep, err := g.st.CollectBlobs(ctx, store.BlobGCOptions{Grace: g.cfg.Grace})
	g.removed.Add(float64(rep.Removed))
	g.bytes.Add(float64(rep.RemovedBytes))
	if err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		g.runs.WithLabelValues("failed").Inc()
		g.log.Error("blobs not collected", "removed", rep.Removed, "removed_bytes", rep.RemovedBytes, "err", err)
		return
	}
	g.runs.WithLabelValues("ok").Inc()
	// Counts and bytes only: no blob's name or content, no attachment's name.
	g.log.Info("unreferenced blobs collected", "records", rep.Records, "queued_messages", rep.Messages,
		"blobs", rep.Blobs, "bytes", rep.Bytes, "referenced", rep.Referenced, "referenced_bytes", rep.ReferencedBytes,
		"recent", rep.Recent, "recent_bytes", rep.RecentBytes, "grace", g.cfg.Grace.String(),
		"removed", rep.Removed, "removed_bytes", rep.RemovedBytes, "took", rep.Took.Round(time.Millisecond).String())
}
