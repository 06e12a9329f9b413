package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/hotline"
	"github.com/minsheng/minsheng/gateway"
	"github.com/minsheng/minsheng/store"
)

func init() {
	register(&command{name: "hotline-bench", summary: "measure hotline feed throughput: simulator → connector → gateway (prints work orders/s)", run: runHotlineBench})
}

func runHotlineBench(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hotline-bench", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	orders := fs.Int("orders", 20000, "generated work orders to send")
	window := fs.Int("window", 256, "connector window (orders in flight)")
	connectorOnly := fs.Bool("connector-only", false, "ack each order at once instead of running the gateway (measures simulator + WebSocket + connector)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if gf.data == "" {
		dir, err := os.MkdirTemp("", "minsheng-hotline-bench")
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-bench:", err)
			return exitFail
		}
		defer os.RemoveAll(dir)
		gf.data = dir
	}
	opts := hotline.BenchOptions{Orders: *orders, Window: *window}
	var res hotline.BenchResult
	var what string
	if *connectorOnly {
		st, err := store.Open(gf.data, store.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-bench:", err)
			return exitFail
		}
		defer st.Close()
		what = "connector only (orders acked on arrival; checkpoints in the real store)"
		res, err = hotline.Bench(ctx, opts, ackAtOnce{}, connectors.Env{Checkpoints: st, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-bench:", err)
			return exitFail
		}
	} else {
		c, err := gf.load()
		if err != nil {
			return configError(err)
		}
		log := gateway.NewLogger(c, os.Stderr)
		g, err := gateway.Open(ctx, c, slog.New(slog.DiscardHandler))
		if err != nil {
			log.Error("cannot open the gateway", "err", err)
			return exitFail
		}
		what = "end to end (pipeline, triage, router, destinations as configured)"
		res, err = hotline.Bench(ctx, opts, g.Emitter(), connectors.Env{Checkpoints: g.Store(), Blobs: g.Store().Blobs(), Logger: slog.New(slog.DiscardHandler)})
		g.Pipeline().Stop(context.Background())
		g.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-bench:", err)
			return exitFail
		}
	}
	fmt.Printf("hotline-bench: %s\n", what)
	fmt.Printf("hotline-bench: %d work orders in %s, window %d, %d connection(s), simulator and gateway in one process\n",
		res.Orders, res.Elapsed.Round(1e6), *window, res.Stats.Connections)
	fmt.Printf("orders_per_second=%.0f\n", res.PerSecond())
	return exitOK
}

// ackAtOnce is an emitter that acknowledges every item on arrival.
type ackAtOnce struct{}

func (ackAtOnce) Emit(_ context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	ack(minsheng.Outcome{ItemID: it.ID}, nil)
	return nil
}

func (ackAtOnce) Quarantine(_ context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	ack(minsheng.Outcome{ItemID: q.ID()}, nil)
	return nil
}
