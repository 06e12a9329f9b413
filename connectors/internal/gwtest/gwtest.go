// Package gwtest opens the real gateway (pipeline, triage, router, embedded
// queues, store without fsync) for connectors' end-to-end tests. It is
// imported by external test packages (board_test, ...) only: the gateway
// imports every connector.
package gwtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/minsheng/minsheng/config"
	"github.com/minsheng/minsheng/gateway"
)

// Open opens a gateway with the default configuration in a temporary data
// directory and stops it at the test's end.
func Open(t testing.TB) *gateway.Gateway {
	t.Helper()
	c := gateway.DefaultConfig()
	if err := config.Decode(nil, c); err != nil {
		t.Fatal(err)
	}
	c.Data = t.TempDir()
	c.Store.NoSync = true
	g, err := gateway.Open(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Pipeline().Stop(context.Background())
		g.Close()
	})
	return g
}
