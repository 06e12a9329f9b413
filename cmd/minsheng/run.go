package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/minsheng/minsheng/gateway"
)

func init() {
	register(&command{name: "run", summary: "run the gateway (the embedded default when no --config is given)", run: runGateway})
}

func runGateway(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var gf gatewayFlags
	gf.register(fs)
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	c, err := gf.load()
	if err != nil {
		return configError(err)
	}
	log := gateway.NewLogger(c, os.Stderr)
	g, err := gateway.Open(ctx, c, log)
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
