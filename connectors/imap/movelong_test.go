package imap

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// TestDovecotMoveHandledManyGaps: a mailbox read for long with after_ack
// seen (or none), from which people deleted mail here and there, is
// switched to after_ack: move. The first session moves the handled mail
// (every UID up to the checkpoint) to move_to; that many UIDs with gaps
// between them were one UID MOVE whose line Dovecot refused ('BAD ... Too
// long argument'), at every session, so the handled mail stayed in the
// inbox for good. The mail is written into the Maildir, the checkpoint
// into the store, as years of reading would have left them.
func TestDovecotMoveHandledManyGaps(t *testing.T) {
	const kept = 12000 // every other one of 24,000: "2,4,…,24000", over 64 KiB
	s, cl := startDovecot(t)
	if err := cl.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(s.Dir, "home", "mayor", "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(md, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 2*kept; i++ {
		if err := os.WriteFile(filepath.Join(md, "new", fmt.Sprintf("%d.M%dP1.minsheng-test", 1700000000+i, i)), testMail(i, "handled long ago"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() == 0 { // Dovecot's mail processes run as nobody (dovetest)
		if out, err := exec.Command("chown", "-R", "nobody:nogroup", md).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for lo := 1; lo <= 2*kept; lo += 2000 {
		var odd imap.UIDSet
		for u := lo; u < lo+2000; u += 2 {
			odd.AddNum(imap.UID(u))
		}
		if err := cl.Store(odd, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Unselect().Wait(); err != nil { // STATUS of a selected mailbox answers this client's view of it
		t.Fatal(err)
	}
	in, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *in.NumMessages != kept {
		t.Fatalf("INBOX holds %d; want %d", *in.NumMessages, kept)
	}
	st := conntest.OpenStore(t, t.TempDir())
	cp := fmt.Sprintf(`{"v":1,"uidvalidity":%d,"uid":%d}`, in.UIDValidity, 2*kept)
	if err := st.Put(context.Background(), "imap/mayor-mailbox/INBOX", []byte(cp)); err != nil {
		t.Fatal(err)
	}
	appendMail(t, cl, "INBOX", testMail(2*kept+1, "new, not acknowledged"))

	cfg := dovecotConfig(s)
	cfg.AfterAck, cfg.MoveTo = AfterAckMove, "Done"
	h := &holdAcks{}
	r := run(t, cfg, st, h)
	moved := func() uint32 {
		d, err := cl.Status("Done", &imapStatusMessages).Wait()
		if err != nil || d.NumMessages == nil {
			return 0
		}
		return *d.NumMessages
	}
	waitFor(t, "the new mail fetched", 30*time.Second, func() bool { return h.count() == 1 })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && moved() < kept {
		time.Sleep(100 * time.Millisecond)
	}
	r.stop()
	if n := moved(); n != kept {
		t.Fatalf("Done holds %d mails; want the %d handled before", n, kept)
	}
	in, err = cl.Status("INBOX", &imapStatusMessages).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *in.NumMessages != 1 {
		t.Errorf("INBOX holds %d; want the unacknowledged new mail alone", *in.NumMessages)
	}
}
