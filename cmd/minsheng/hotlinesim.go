package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minsheng/minsheng/connectors/hotline"
)

func init() {
	register(&command{name: "hotline-sim", summary: "serve a simulated 12345 work-order feed (the hotline protocol) for demos and tests", run: runHotlineSim})
}

func runHotlineSim(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("hotline-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8765", "address to serve the feed on (ws://ADDR/feed)")
	tokenEnv := fs.String("token-env", "HOTLINE_FEED_TOKEN", "environment variable holding the token the gateway must present")
	tokenFile := fs.String("token-file", "", "file holding the token (instead of --token-env)")
	generate := fs.Int("generate", 1000, "generated work orders to serve (0 with --file)")
	file := fs.String("file", "", "JSON Lines file of work orders to serve (after the generated ones)")
	seed := fs.Uint64("seed", 1, "seed of the generated orders")
	stream := fs.String("stream", "sim", "stream ID")
	rate := fs.Float64("rate", 0, "orders per second per connection (0: as fast as the window allows)")
	dropAfter := fs.Int("drop-after", 0, "cut each connection after this many orders (a network cut), to show recovery")
	drops := fs.Int("drops", 0, "with --drop-after: cut this many connections in all (0: every one)")
	replay := fs.Int("replay", 0, "on a resume, send this many already-acked orders again")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	token := os.Getenv(*tokenEnv)
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-sim: --token-file:", err)
			return exitConfig
		}
		token = strings.TrimSpace(string(b))
	}
	if token == "" {
		fmt.Fprintf(os.Stderr, "hotline-sim: no token: set %s or give --token-file\n", *tokenEnv)
		return exitConfig
	}
	sim := hotline.NewSim(hotline.SimOptions{Token: token, Stream: *stream, Rate: *rate,
		DropAfter: *dropAfter, Drops: *drops, Replay: *replay})
	if *generate > 0 {
		sim.Append(hotline.Generate(*generate, 1, time.Now().Add(-time.Duration(*generate)*time.Minute), *seed)...)
	}
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-sim:", err)
			return exitConfig
		}
		n, err := sim.LoadJSONLines(f)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "hotline-sim:", *file+":", err)
			return exitConfig
		}
		fmt.Fprintf(os.Stderr, "hotline-sim: %d orders from %s\n", n, *file)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hotline-sim:", err)
		return exitFail
	}
	mux := http.NewServeMux()
	mux.Handle("/feed", sim)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "hotline-sim: serving %d orders on ws://%s/feed (stream %q)\n", sim.Stats().Orders, ln.Addr(), *stream)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			srv.Close()
			printSimStats(sim.Stats())
			return exitOK
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "hotline-sim:", err)
				return exitFail
			}
			return exitOK
		case <-tick.C:
			printSimStats(sim.Stats())
		}
	}
}

func printSimStats(s hotline.SimStats) {
	fmt.Fprintf(os.Stderr, "hotline-sim: orders=%d acked=%d sent=%d redelivered=%d connections=%d drops=%d\n",
		s.Orders, s.Acked, s.Sent, s.Redelivered, s.Connections, s.Drops)
}
