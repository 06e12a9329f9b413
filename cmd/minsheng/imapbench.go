package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/imap"
	"github.com/minsheng/minsheng/gateway"
	"github.com/minsheng/minsheng/internal/testkafka"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/store"
)

func init() {
	register(&command{name: "imap-bench", summary: "measure mailbox ingest throughput: private Dovecot → imap connector → gateway → Kafka (kfake), and mbsync as the reference (prints messages/s)", run: runIMAPBench})
}

func runIMAPBench(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("imap-bench", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	shared := os.Getenv("MINSHENG_SHARED")
	if shared == "" {
		shared = "/work/shared/data"
	}
	messages := fs.Int("messages", 10000, "messages to load into Dovecot (the corpus cycled, unique Message-IDs)")
	corpus := fs.String("corpus", filepath.Join(shared, "trec06c-ccert-subset"), "folder of mails to load")
	workers := fs.Int("workers", 0, "connector workers (0: the default)")
	batch := fs.Int("batch", 0, "connector UID FETCH batch (0: the default)")
	kafka := fs.Bool("kafka", true, "route every destination to an in-process Kafka broker (kfake) instead of the configured sinks")
	connectorOnly := fs.Bool("connector-only", false, "ack each message at once instead of running the gateway (measures Dovecot + connector + blob store)")
	mbsync := fs.Bool("mbsync", true, "also run mbsync (isync) on the same mailbox as the reference")
	serverDir := fs.String("server-dir", defaultServerDir(), "where Dovecot keeps its mail (default /dev/shm when present: the server stands for a remote one, so its disk writes do not compete with the gateway's or mbsync's)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the ingest to this file")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "imap-bench:", err)
		return exitFail
	}
	dir, err := os.MkdirTemp("", "minsheng-imap-bench")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	if gf.data == "" {
		gf.data = filepath.Join(dir, "gateway")
	}
	sdir, err := os.MkdirTemp(*serverDir, "minsheng-imap-bench-dovecot")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(sdir)
	opts := imap.BenchOptions{Messages: *messages, Corpus: *corpus, Dir: sdir, Workers: *workers, FetchBatch: *batch}
	srv, err := imap.LoadBench(opts)
	if err != nil {
		return fail(err)
	}
	defer srv.Stop()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("imap-bench: loaded %d messages (%.1f MB) into a private Dovecot in %s\n", srv.Messages, float64(srv.Bytes)/1e6, srv.LoadTime.Round(1e6))

	if *connectorOnly {
		st, err := store.Open(gf.data, store.Options{})
		if err != nil {
			return fail(err)
		}
		defer st.Close()
		res, err := srv.Bench(ctx, opts, ackAtOnce{}, connectors.Env{Checkpoints: st, Blobs: st.Blobs()})
		if err != nil {
			return fail(err)
		}
		fmt.Printf("imap-bench: connector only (acked on arrival; raw mail and attachments in the real, durable blob store): %d messages in %s\n", res.Messages, res.Elapsed.Round(1e6))
		fmt.Printf("connector_messages_per_second=%.0f\n", res.PerSecond())
		return exitOK
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	what := "destinations as configured"
	if *kafka {
		k, err := testkafka.Start(1, 6, filepath.Join(dir, "kafka"))
		if err != nil {
			return fail(err)
		}
		defer k.Stop()
		for name := range c.Destinations {
			c.Destinations[name] = router.Destination{Sink: router.SinkKafka, Identity: router.IdentityAuto}
		}
		c.Kafka.Brokers = k.Addrs()
		c.Kafka.CreateTopics = true
		what = "every destination on Kafka (in-process kfake broker, acks=all)"
	}
	g, err := gateway.Open(ctx, c, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail(err)
	}
	res, err := srv.Bench(ctx, opts, g.Emitter(), connectors.Env{Checkpoints: g.Store(), Blobs: g.Store().Blobs()})
	g.Pipeline().Stop(context.Background())
	g.Close()
	if err != nil {
		return fail(err)
	}
	fmt.Printf("imap-bench: end to end (Dovecot → connector → pipeline, triage, router → %s), durable store\n", what)
	fmt.Printf("imap-bench: %d messages in %s\n", res.Messages, res.Elapsed.Round(1e6))
	fmt.Printf("gateway_messages_per_second=%.0f\n", res.PerSecond())
	if *mbsync {
		ref, err := srv.Mbsync(ctx, filepath.Join(dir, "mbsync"))
		if err != nil {
			return fail(err)
		}
		fmt.Printf("imap-bench: mbsync (isync, default settings: FSync yes) to a local maildir: %d messages in %s\n", ref.Messages, ref.Elapsed.Round(1e6))
		fmt.Printf("mbsync_messages_per_second=%.0f\n", ref.PerSecond())
		fmt.Printf("ratio=%.2f\n", res.PerSecond()/ref.PerSecond())
	}
	return exitOK
}

func defaultServerDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
