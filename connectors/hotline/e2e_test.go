package hotline_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/hotline"
	"github.com/minsheng/minsheng/connectors/internal/gwtest"
)

// The real gateway (pipeline, triage, router, embedded queues) behind the
// connector, the simulator cutting the connection and replaying: every
// order ends up routed exactly once in the ledger.
func TestEndToEndThroughGateway(t *testing.T) {
	ctx := context.Background()
	g := gwtest.Open(t)
	const token = "e2e-token"
	os.Setenv("MINSHENG_E2E_HOTLINE_TOKEN", token)
	sim := hotline.NewSim(hotline.SimOptions{Token: token, Stream: "e2e", DropAfter: 40, Drops: 2, Replay: 10})
	orders := hotline.Generate(150, 1, time.Date(2024, 5, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600)), 5)
	sim.Append(orders...)
	srv := httptest.NewServer(sim)
	defer srv.Close()
	h, err := hotline.New("qd-12345", hotline.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"),
		TokenEnv: "MINSHENG_E2E_HOTLINE_TOKEN", Window: 16, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		connectors.Env{Checkpoints: g.Store(), Blobs: g.Store().Blobs()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx, g.Emitter()) }()
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	werr := sim.WaitAcked(wctx, len(orders))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatalf("%v: %+v", werr, sim.Stats())
	}
	for _, o := range orders {
		r, err := g.Store().Lookup(ctx, minsheng.ItemID(minsheng.ChannelHotline, "qd-12345", o.OrderNo))
		if err != nil {
			t.Fatalf("order %s: %v", o.OrderNo, err)
		}
		if len(r.Destinations) == 0 || r.Decision == nil || r.Item.Attrs["category"] != o.Category {
			t.Errorf("order %s: destinations %v decision %v attrs %v", o.OrderNo, r.Destinations, r.Decision, r.Item.Attrs)
		}
	}
	if n, _ := g.Store().CountItems(); n != len(orders) {
		t.Errorf("ledger holds %d items, want %d", n, len(orders))
	}
	if s := sim.Stats(); s.Drops != 2 || s.Redelivered == 0 {
		t.Errorf("sim stats %+v", s)
	}
}
