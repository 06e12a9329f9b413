package gateway

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
)

// TestDrainTimeoutWithinShutdown: an input whose drain_timeout (the
// hotline's wait for acks owed when stopping) is longer than the gateway's
// shutdown_timeout is refused at start and by check-config's CheckInputs,
// naming the field, its line and both values; one at shutdown_timeout is
// taken, and one left out (30s by default) is shortened to
// shutdown_timeout rather than refused.
func TestDrainTimeoutWithinShutdown(t *testing.T) {
	t.Setenv("MINSHENG_TEST_HOTLINE_TOKEN", "not-a-secret")
	const want = "line 7: inputs[0].hotline.drain_timeout: is 45s, longer than shutdown_timeout (20s), which bounds the whole stop; set it at most 20s, or raise shutdown_timeout"
	for _, c := range []struct{ drain, want string }{{"45s", want}, {"20s", ""}, {"", ""}} {
		dir := t.TempDir()
		f := dir + "/minsheng.yaml"
		yaml := "shutdown_timeout: 20s\ninputs:\n  - name: qd-12345\n    hotline:\n      url: ws://127.0.0.1:1/feed\n      token_env: MINSHENG_TEST_HOTLINE_TOKEN\n"
		if c.drain != "" {
			yaml += "      drain_timeout: " + c.drain + "\n"
		}
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Data = dir + "/data"
		checked := cfg.CheckInputs()
		g, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			if _, wait, _ := g.sources["qd-12345"].(connectors.Drainer).DrainTimeout(); wait != 20*time.Second {
				t.Errorf("drain_timeout %q: the hotline waits %s to drain; want shutdown_timeout's 20s", c.drain, wait)
			}
			g.Close()
		}
		var fes minsheng.FieldErrors
		switch {
		case c.want == "" && (err != nil || checked != nil):
			t.Errorf("drain_timeout %s: start %v, check-config %v; want both to take it", c.drain, err, checked)
		case c.want != "" && (!errors.As(err, &fes) || err.Error() != c.want || checked == nil || checked.Error() != c.want):
			t.Errorf("drain_timeout %s: start %v, check-config %v; want both %s", c.drain, err, checked, c.want)
		}
	}
}
