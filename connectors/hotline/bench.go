package hotline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
)

// BenchOptions configure a feed throughput run.
type BenchOptions struct {
	Orders int // generated work orders to send
	Window int // connector window
	// Rate caps the simulator (orders/s); 0: as fast as acks allow.
	Rate float64
}

// BenchResult is what a throughput run measured.
type BenchResult struct {
	Orders  int
	Elapsed time.Duration
	Stats   SimStats
}

// PerSecond is the measured throughput in work orders per second.
func (r BenchResult) PerSecond() float64 { return float64(r.Orders) / r.Elapsed.Seconds() }

// Bench serves o.Orders generated orders from a simulator on a loopback
// port, runs a connector against it into out (with env's checkpoints), and
// measures the time from the connector's start until the simulator has an
// ack for every order: simulator → WebSocket → connector → out → ack.
func Bench(ctx context.Context, o BenchOptions, out minsheng.Emitter, env connectors.Env) (BenchResult, error) {
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	const envVar = "MINSHENG_HOTLINE_BENCH_TOKEN"
	os.Setenv(envVar, token)
	defer os.Unsetenv(envVar)

	sim := NewSim(SimOptions{Token: token, Stream: "bench", Rate: o.Rate})
	sim.Append(Generate(o.Orders, 1, time.Date(2024, 1, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)), 1)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return BenchResult{}, err
	}
	srv := &http.Server{Handler: sim}
	go srv.Serve(ln)
	defer srv.Close()

	h, err := New("bench", Config{URL: "ws://" + ln.Addr().String() + "/feed", TokenEnv: envVar, Window: o.Window}, env)
	if err != nil {
		return BenchResult{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- h.Run(rctx, out) }()
	werr := sim.WaitAcked(ctx, o.Orders)
	elapsed := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return BenchResult{}, err
	}
	if werr != nil {
		return BenchResult{}, fmt.Errorf("waiting for acks: %w (%+v)", werr, sim.Stats())
	}
	return BenchResult{Orders: o.Orders, Elapsed: elapsed, Stats: sim.Stats()}, nil
}
