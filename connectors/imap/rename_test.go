package imap

import (
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// emittedTitle reports whether an item with title was emitted.
func emittedTitle(em *conntest.Emitter, title string) bool {
	for _, it := range em.Emitted() {
		if it.Title == title {
			return true
		}
	}
	return false
}

// TestMailboxRenamedAway: another client renames the mailbox being read
// (Letters → Old), re-creates Letters and appends to both. imapmemserver,
// like any server where the selection follows the rename, keeps reporting
// the renamed mailbox (new mail in Old wakes the IDLE): the connector must
// notice that Letters names another mailbox, select it again and read it as
// a UIDVALIDITY change, and never read Old's mail.
func TestMailboxRenamedAway(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	if err := cl.Create("Letters", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		appendMail(t, cl, "Letters", testMail(i, "before"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	cfg.Mailboxes = []string{"Letters"}
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 3", 5*time.Second, func() bool { return readCheckpoint(t, st, "Letters").UID == 3 })
	old := readCheckpoint(t, st, "Letters").UIDValidity
	if err := srv.user.Rename("Letters", "Old", nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.user.Create("Letters", nil); err != nil {
		t.Fatal(err)
	}
	appendMail(t, cl, "Letters", testMail(10, "after rename"))
	appendMail(t, cl, "Old", testMail(11, "into the renamed mailbox"))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !emittedTitle(em, "after rename") {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	r.stop()
	if !emittedTitle(em, "after rename") {
		t.Fatalf("mail of the re-created Letters not read within 5s; read: %d items", len(em.Emitted()))
	}
	if emittedTitle(em, "into the renamed mailbox") {
		t.Errorf("mail of the renamed mailbox Old was read as Letters'")
	}
	for id, n := range em.Handled() {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
	if cp := readCheckpoint(t, st, "Letters"); cp.UIDValidity == old || cp.UID != 1 {
		t.Errorf("checkpoint %+v; want the re-created mailbox's UIDVALIDITY (not %d) at UID 1", cp, old)
	}
}

// TestDovecotMailboxRenamedAway: the same against Dovecot, which reports
// nothing of the rename in IDLE: the connector finds it at its next
// re-check (poll_interval, 1 s here), whether the rename came during IDLE
// or between commands, and reads the re-created Letters from the start
// without reading Old's mail again.
func TestDovecotMailboxRenamedAway(t *testing.T) {
	s, cl := startDovecot(t)
	if err := cl.Create("Letters", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		appendMail(t, cl, "Letters", testMail(i, "before"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 20 * time.Millisecond}
	cfg := dovecotConfig(s)
	cfg.Mailboxes, cfg.PollInterval = []string{"Letters"}, time.Second
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 5", 15*time.Second, func() bool { return readCheckpoint(t, st, "Letters").UID == 5 })
	old := readCheckpoint(t, st, "Letters").UIDValidity
	if err := cl.Rename("Letters", "Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create("Letters", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMail(t, cl, "Letters", testMail(10, "after rename"))
	waitFor(t, "mail of the re-created Letters", 15*time.Second, func() bool { return emittedTitle(em, "after rename") })
	waitFor(t, "checkpoint of the re-created Letters", 5*time.Second, func() bool {
		cp := readCheckpoint(t, st, "Letters")
		return cp.UIDValidity != old && cp.UID == 1
	})
	r.stop()
	if n := len(em.Emitted()); n != 6 {
		t.Errorf("%d items emitted, want 6", n)
	}
	for id, n := range em.Handled() {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}
