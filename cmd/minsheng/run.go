package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime/debug"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "run", summary: "run the gateway (the embedded default when no --config is given)", run: runGateway})
}

func runGateway(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	debugAddr := fs.String("debug-listen", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	skipCorrupt := fs.Bool("skip-corrupt-ledger", false, "start even if the ledger (the items' records) is damaged in mid-file: skip the damaged span, losing its records, and keep those after it (logged); for one start after the gateway refused to")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	// A file given as check-config takes it would be left unread, with
	// every flag after it, and the embedded default run instead.
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "run: unexpected arguments %q (the configuration file is given with --config FILE)\n", fs.Args())
		return exitConfig
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	c.Store.SkipCorruptLedger = *skipCorrupt
	if os.Getenv("GOGC") == "" {
		// The gateway's heap is small and its garbage short-lived: collect
		// half as often as Go's default (GOGC=100) for less CPU. GOGC set in
		// the environment wins.
		debug.SetGCPercent(200)
	}
	log := gateway.NewLogger(c, os.Stderr)
	if *debugAddr != "" {
		go func() {
			// net/http/pprof registers on http.DefaultServeMux, which the
			// gateway's own server does not use.
			if err := http.ListenAndServe(*debugAddr, nil); err != nil {
				log.Error("debug listener", "err", err)
			}
		}()
	}
	g, err := gateway.Open(ctx, c, log)
	if errors.As(err, new(minsheng.FieldErrors)) { // a secret that cannot be read, a connector's own checks
		return configError(err)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// SIGINT/SIGTERM while starting (kafka.create_topics' first try
		// waits up to 5 s for brokers that do not answer) is a stop asked
		// for, not a failure: Open has closed what it opened.
		log.Info("stopped", "while", "starting", "err", err)
		return exitOK
	}
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		g.Close()
		log.Error("cannot listen", "listen", c.Listen, "err", err)
		return exitFail
	}
	if err := g.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "minsheng:", err)
		return exitFail
	}
	return exitOK
}
