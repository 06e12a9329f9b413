package imap

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// mailDuringAckWait appends mail 2 while the connector, having drained the
// mailbox, waits for the ack of mail 1, and returns how long mail 2 took to
// be emitted after it was appended (the poll interval is an hour). With
// after_ack seen or move, the server reports mail 2 (EXISTS) in its answer
// to the STORE or MOVE sent just before IDLE, and not again in IDLE.
func mailDuringAckWait(t *testing.T, cfg Config, cl *imapclient.Client) (time.Duration, bool) {
	t.Helper()
	if err := cl.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMail(t, cl, "INBOX", testMail(1, "first"))
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	var once sync.Once
	var appended atomic.Int64 // UnixNano
	em.Fail = func(*minsheng.Item) error {
		once.Do(func() {
			time.Sleep(300 * time.Millisecond) // the connector has drained and waits for this ack
			appendMail(t, cl, "INBOX", testMail(2, "second"))
			appended.Store(time.Now().UnixNano())
		})
		return nil
	}
	cfg.MoveTo = "Done"
	r := run(t, cfg, st, em)
	defer r.stop()
	waitFor(t, "mail 2 appended", 5*time.Second, func() bool { return appended.Load() != 0 })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(em.Emitted()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(time.Unix(0, appended.Load())), len(em.Emitted()) == 2
}

// TestNewMailReportedBeforeIdle: mail reported in the answer to after_ack's
// STORE or MOVE is fetched at once, not after poll_interval. (after_ack:
// none is left out here: imapmemserver's IDLE never reports updates queued
// before it, which Dovecot does; TestDovecotNewMailReportedBeforeIdle runs
// all three modes.)
func TestNewMailReportedBeforeIdle(t *testing.T) {
	for _, mode := range []string{AfterAckSeen, AfterAckMove} {
		t.Run(mode, func(t *testing.T) {
			srv := startMemServer(t)
			cfg := testConfig(srv.addr)
			cfg.AfterAck = mode
			d, ok := mailDuringAckWait(t, cfg, testClient(t, srv.addr))
			if !ok {
				t.Fatalf("after_ack=%s: mail appended during the ack wait not emitted within %s; it waits for poll_interval", mode, d.Round(time.Millisecond))
			}
			t.Logf("after_ack=%s: emitted %s after the append", mode, d.Round(time.Millisecond))
		})
	}
}

func TestDovecotNewMailReportedBeforeIdle(t *testing.T) {
	for _, mode := range []string{AfterAckNone, AfterAckSeen, AfterAckMove} {
		t.Run(mode, func(t *testing.T) {
			s, cl := startDovecot(t)
			cfg := dovecotConfig(s)
			cfg.AfterAck = mode
			d, ok := mailDuringAckWait(t, cfg, cl)
			if !ok {
				t.Fatalf("after_ack=%s: mail appended during the ack wait not emitted within %s; it waits for poll_interval", mode, d.Round(time.Millisecond))
			}
			t.Logf("after_ack=%s: emitted %s after the append", mode, d.Round(time.Millisecond))
		})
	}
}

// TestIdleDoesNotSpin: a wake-up kept for the next wait costs at most one
// fetch; once drained and idle, the connector sends no more fetches.
func TestIdleDoesNotSpin(t *testing.T) {
	for _, mode := range []string{AfterAckNone, AfterAckSeen, AfterAckMove} {
		t.Run(mode, func(t *testing.T) {
			srv := startMemServer(t)
			cl := testClient(t, srv.addr)
			if err := cl.Create("Done", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				appendMail(t, cl, "INBOX", testMail(i, "mail"))
			}
			var fetches atomic.Int32
			addr := responseProxy(t, srv.addr, nil, func(b []byte) {
				fetches.Add(int32(bytes.Count(b, []byte(" FETCH "))))
			})
			st := conntest.OpenStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := testConfig(addr)
			cfg.AfterAck, cfg.MoveTo = mode, "Done"
			r := run(t, cfg, st, em)
			waitFor(t, "checkpoint 3", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
			time.Sleep(300 * time.Millisecond)
			before := fetches.Load()
			time.Sleep(500 * time.Millisecond)
			r.stop()
			if after := fetches.Load(); after != before {
				t.Fatalf("%d fetches while idle with nothing new", after-before)
			}
			t.Logf("%d fetch commands in all", before)
		})
	}
}
