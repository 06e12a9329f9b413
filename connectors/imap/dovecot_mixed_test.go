package imap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestDovecotMixedBatchRestartExpunge: a batch where every third mail is
// bad (not a mail, over the cap, a raw 8-bit header), read with after_ack:
// move while another client expunges two, the gateway restarted mid-batch,
// then the mailbox renamed away (Letters → Old) and re-created with a new
// mail: every mail is handled once (an item or a quarantine with its
// reason), the mail with a 330 KB header keeps its body, every handled mail
// is moved (those acknowledged before the stop by the next run), and the
// re-created Letters is read. (From the audit's probe; its rename came at a
// time of luck, during IDLE or not, and poll_interval was an hour: here the
// test waits for the moves before renaming, and the re-check is 1 s.)
func TestDovecotMixedBatchRestartExpunge(t *testing.T) {
	s, cl := startDovecot(t)
	for _, mb := range []string{"Done", "Letters"} {
		if err := cl.Create(mb, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var raws [][]byte
	for i := range 60 {
		switch i % 10 {
		case 3:
			raws = append(raws, fixture(t, "not_a_mail"))
		case 5:
			raws = append(raws, append(testMail(i, "huge"), bytes.Repeat([]byte("x"), 500<<10)...)) // over the cap
		case 7:
			raws = append(raws, []byte(strings.Replace(string(testMail(i, "big header")), "\r\n\r\n", "\r\n"+strings.Repeat("X-Relay: from a by b; Tue, 5 Mar 2024 09:30:00 +0800\r\n", 6000)+"\r\n", 1)))
		case 9:
			raws = append(raws, fixture(t, "raw8bit_header"))
		default:
			raws = append(raws, testMail(i, "ok"))
		}
	}
	for _, r := range raws {
		appendMail(t, cl, "Letters", r)
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 30 * time.Millisecond}
	cfg := dovecotConfig(s)
	cfg.Mailboxes = []string{"Letters"}
	cfg.AfterAck, cfg.MoveTo, cfg.FetchBatch, cfg.Workers, cfg.MaxMessageBytes = AfterAckMove, "Done", 7, 4, 400<<10
	cfg.PollInterval = time.Second
	r := run(t, cfg, st, em)
	// another client expunges UIDs 41-42 while the connector works
	if _, err := cl.Select("Letters", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Store(imap.UIDSetNum(41, 42), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Log("store:", err)
	}
	if err := cl.Expunge().Close(); err != nil {
		t.Log("expunge:", err)
	}
	time.Sleep(150 * time.Millisecond)
	r.stop() // restart mid-batch
	r = run(t, cfg, st, em)
	waitFor(t, "checkpoint 60", 30*time.Second, func() bool { return readCheckpoint(t, st, "Letters").UID == 60 })
	count := func(mb string) uint32 {
		d, err := cl.Status(mb, &imapStatusMessages).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return *d.NumMessages
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every mail moved", 10*time.Second, func() bool { return count("Letters") == 0 })
	if n := count("Done"); n < 58 {
		t.Errorf("Done holds %d; want every mail not expunged (58 or more)", n)
	}
	if err := cl.Rename("Letters", "Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create("Letters", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMail(t, cl, "Letters", testMail(100, "after rename"))
	waitFor(t, "mail of the re-created Letters", 15*time.Second, func() bool { return emittedTitle(em, "after rename") })
	waitFor(t, "it moved", 10*time.Second, func() bool { return count("Letters") == 0 })
	r.stop()
	if n := count("Done"); n < 59 {
		t.Errorf("Done holds %d; want 59 or more", n)
	}
	h := em.Handled()
	for id, n := range h {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
	for _, q := range em.Quarantined() {
		if q.Reason == "" {
			t.Errorf("quarantined %s without a reason", q.Ref)
		}
	}
	big := 0
	for _, it := range em.Emitted() {
		if strings.Contains(it.Title, "big header") {
			big++
		}
		if strings.Contains(it.Title, "big header") && !strings.Contains(it.Body, "路灯坏了") {
			t.Errorf("big header mail lost its body: %q", it.Body)
		}
	}
	if big == 0 {
		t.Error("no mail with a big header was emitted")
	}
}
