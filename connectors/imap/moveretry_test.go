package imap

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// linesWith is how many lines of log hold every one of parts.
func linesWith(log *conntest.LogBuffer, parts ...string) int {
	n := 0
	for _, line := range strings.Split(log.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// TestFailedMoveRetriedAtNextWake: with after_ack: move into a mailbox
// that does not exist yet, handled mail stays in INBOX; the session tries
// the move again as it wakes (here at each poll, every 100 ms), backing
// off, and logs the failure at warn once however often it is repeated.
// Once the mailbox is created, a later wake of the same session moves the
// mail, with no new session and no mail handled again.
func TestFailedMoveRetriedAtNextWake(t *testing.T) {
	srv := startMemServer(t)
	failedMoveRetried(t, srv.addr, testClient(t, srv.addr))
}

// TestDovecotFailedMoveRetriedAtNextWake is TestFailedMoveRetriedAtNextWake
// on Dovecot.
func TestDovecotFailedMoveRetriedAtNextWake(t *testing.T) {
	s, cl := startDovecot(t)
	failedMoveRetried(t, s.Addr, cl)
}

func failedMoveRetried(t *testing.T, addr string, cl *imapclient.Client) {
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(addr)
	cfg.AfterAck, cfg.MoveTo = AfterAckMove, "Done"
	// Woken by the poll, not by IDLE: imapmemserver does not report in
	// IDLE mail that came just before it, so mail appended then would
	// wait for the poll anyway.
	cfg.PollInterval = 100 * time.Millisecond
	var logs conntest.LogBuffer
	r := runLogged(t, cfg, st, em, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	count := func(mailbox string) uint32 {
		d, err := cl.Status(mailbox, &imapStatusMessages).Wait()
		if err != nil || d.NumMessages == nil {
			return 0
		}
		return *d.NumMessages
	}
	for i := 1; i <= 3; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "handled"))
	}
	waitFor(t, "the mail handled and its checkpoint written", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	waitFor(t, "the move tried again and failed again", 10*time.Second, func() bool { return linesWith(&logs, "level=DEBUG", "not moved, again") >= 2 })
	if n := count("INBOX"); n != 3 {
		t.Fatalf("INBOX holds %d with Done missing; want the 3 mails", n)
	}
	if err := cl.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the handled mail moved by the session that failed to move it", 10*time.Second, func() bool { return count("INBOX") == 0 })
	r.stop()
	if n := count("Done"); n != 3 || handledTotal(em) != 3 {
		t.Errorf("Done holds %d, %d mails handled; want 3 and 3", n, handledTotal(em))
	}
	if w, s := linesWith(&logs, "level=WARN", "not moved"), linesWith(&logs, "session ended"); w != 1 || s != 0 {
		t.Errorf("%d warnings of mail not moved, %d sessions ended; want the failure logged once, in one session:\n%s", w, s, logs.String())
	}
	if linesWith(&logs, "level=INFO", "move works again") != 1 {
		t.Errorf("the move's recovery is not logged:\n%s", logs.String())
	}
}
