package imap

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestDovecotMixedBatchRestartExpungeRename: a batch where every third mail
// is bad (not a mail, over the cap, a raw 8-bit header), read with
// after_ack: move while another client expunges two mails, the gateway
// restarted mid-batch: every mail is handled once (an item or a quarantine
// with its reason), and the mail with a 330 KB header keeps its body. (How
// many were moved is not checked: a move not done before a stop is not
// retried, README "after_ack".)
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
	r.stop()
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
