package imap

import (
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestMoveRetriedAfterStop: mail acknowledged (the checkpoint past it) but
// not moved before a stop, here because the first run had after_ack none,
// is moved by the next run with after_ack: move, without being handled
// again; mail fetched but not acknowledged stays in the mailbox.
func TestMoveRetriedAfterStop(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	if err := cl.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "handled"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 3", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()

	appendMail(t, cl, "INBOX", testMail(4, "not acknowledged"))
	cfg.AfterAck, cfg.MoveTo = AfterAckMove, "Done"
	h := &holdAcks{}
	r = run(t, cfg, st, h)
	waitFor(t, "mail 4 fetched", 5*time.Second, func() bool { return h.count() == 1 })
	deadline := time.Now().Add(3 * time.Second)
	moved := func() uint32 {
		d, err := cl.Status("Done", &imapStatusMessages).Wait()
		if err != nil || d.NumMessages == nil {
			return 0
		}
		return *d.NumMessages
	}
	for time.Now().Before(deadline) && moved() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	if n := moved(); n != 3 {
		t.Fatalf("Done holds %d mails; want the 3 acknowledged before the stop", n)
	}
	in, err := cl.Status("INBOX", &imapStatusMessages).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *in.NumMessages != 1 {
		t.Errorf("INBOX holds %d; want the unacknowledged mail 4 alone", *in.NumMessages)
	}
	if len(em.Handled()) != 3 || h.count() != 1 {
		t.Errorf("handled %d in the first run, %d in the second; want 3 and mail 4 alone", len(em.Handled()), h.count())
	}
}
