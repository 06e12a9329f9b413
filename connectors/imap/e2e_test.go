package imap_test

import (
	"context"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/imap"
	"github.com/minsheng/minsheng/connectors/internal/gwtest"
)

// The real gateway behind the connector (embedded queues): a citizen's
// mail is routed, the auto-reply is rejected by triage (never answered, so
// no loop), the unparseable mail reaches the dead letter queue, and the
// checkpoint and metrics follow.
func TestEndToEndThroughGateway(t *testing.T) {
	ctx := context.Background()
	g := gwtest.Open(t)
	addr := imap.StartMemServerAddr(t)
	imap.AppendFixtures(t, addr, "gb2312_base64", "autoreply", "not_a_mail")
	conn, err := imap.New("mayor-mailbox", imap.ConfigFor(t, addr), connectors.Env{Checkpoints: g.Store(), Blobs: g.Store().Blobs()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- conn.Run(rctx, g.Emitter()) }()
	imap.WaitFor(t, "checkpoint 3", 20*time.Second, func() bool { return imap.CheckpointUID(t, g.Store()) == 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec, err := g.Store().Lookup(ctx, imap.FixtureItemID(t, "mayor-mailbox", "gb2312_base64"))
	if err != nil || len(rec.Destinations) == 0 || rec.Item.Title != "小区门口道路塌陷多日无人修复" || rec.Item.RawRef == "" {
		t.Fatalf("citizen's mail: %+v, %v", rec, err)
	}
	rec, err = g.Store().Lookup(ctx, imap.FixtureItemID(t, "mayor-mailbox", "autoreply"))
	if err != nil || rec.Decision == nil || len(rec.Decision.Reasons) == 0 || rec.Decision.Reasons[0].Code != "auto_reply" {
		t.Fatalf("auto-reply: %+v, %v", rec, err)
	}
	if d, err := g.Store().QueueDepth("dead_letter"); err != nil || d != 1 {
		t.Errorf("dead letter depth %d, %v; want the unparseable mail", d, err)
	}
	if d, err := g.Store().QueueDepth("rejected"); err != nil || d != 1 {
		t.Errorf("rejected depth %d, %v; want the auto-reply", d, err)
	}
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{{"fetched", nil, 3}, {"parsed", nil, 2}, {"quarantined", []string{"unparseable"}, 1}, {"lag", nil, 0}} {
		if got := conn.Metric(m.name, m.labels...); got != m.want {
			t.Errorf("metric %s = %v, want %v", m.name, got, m.want)
		}
	}
}
