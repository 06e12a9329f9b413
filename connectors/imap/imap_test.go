package imap

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// Ingest against the in-memory server: charset fixtures, an attachment, an
// auto-reply and an unparseable mail; acks out of order.
func TestIngest(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	names := []string{"gb2312_base64", "big5_8bit", "rfc2231_filename", "autoreply", "not_a_mail", "split_encoded_word"}
	for _, n := range names {
		appendMail(t, cl, "INBOX", fixture(t, n))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 30 * time.Millisecond}
	r := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "checkpoint at UID 6", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 6 })
	r.stop()
	em.Wait()
	if inv := em.Invalid(); len(inv) > 0 {
		t.Fatalf("invalid items: %v", inv)
	}
	items := em.Emitted()
	if len(items) != 5 || len(em.Quarantined()) != 1 {
		t.Fatalf("%d items, %d quarantined; want 5 and 1", len(items), len(em.Quarantined()))
	}
	by := map[string]*minsheng.Item{}
	for _, it := range items {
		by[it.Attrs["message_id"]] = it
		if it.Channel != minsheng.ChannelMayorMailbox || it.RawRef == "" {
			t.Errorf("item %+v", it)
		}
	}
	if it := by["gb2312_base64@example.cn"]; it == nil || it.Title != "小区门口道路塌陷多日无人修复" || it.Complainant.Name != "张三" || it.Complainant.Email != "zhang.san@example.cn" {
		t.Errorf("gb2312 item: %+v", it)
	} else if !bytes.Equal(blobBytes(t, st, it.RawRef), fixture(t, "gb2312_base64")) {
		t.Errorf("raw blob differs from the mail")
	}
	if it := by["rfc2231_filename@example.cn"]; it == nil || len(it.Attachments) != 1 || it.Attachments[0].Name != "现场照片.pdf" {
		t.Errorf("attachment item: %+v", it)
	} else if got := blobBytes(t, st, it.Attachments[0].Ref); !bytes.HasPrefix(got, []byte("%PDF")) {
		t.Errorf("attachment blob %q", got)
	}
	if it := by["autoreply@example.cn"]; it == nil || !strings.Contains(it.Automated, "auto-replied") {
		t.Errorf("auto-reply not marked: %+v", it)
	}
	q := em.Quarantined()[0]
	if q.RawRef == "" || !bytes.Equal(q.Raw, fixture(t, "not_a_mail")) || !strings.Contains(q.Reason, "unparseable") {
		t.Errorf("quarantined %+v", q)
	}
}

// A failed ack holds the checkpoint back until the message has been offered
// again and handled; repeats carry the same item ID and are deduped.
func TestOutOfOrderAcksAndFailure(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	for i := 1; i <= 40; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "路灯"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	var mu sync.Mutex
	failed := false
	var maxCP uint32
	em := &conntest.Emitter{Ledger: st, MaxDelay: 20 * time.Millisecond, Fail: func(it *minsheng.Item) error {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(it.Title, "路灯") && strings.Contains(it.Body, "第7封") && !failed {
			failed = true
			// While message 7 is not durably handled the checkpoint
			// must stay below it.
			maxCP = readCheckpoint(t, st, "INBOX").UID
			return minsheng.ErrUnavailable
		}
		return nil
	}}
	r := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "all 40 handled", 15*time.Second, func() bool { return handledTotal(em) == 40 })
	waitFor(t, "checkpoint at 40", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 40 })
	r.stop()
	em.Wait()
	if !failed || maxCP >= 7 {
		t.Errorf("failed=%v checkpoint at failure %d", failed, maxCP)
	}
	for id, n := range em.Handled() {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

// A restarted connector resumes after its checkpoint.
func TestRestartResumes(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	for i := 1; i <= 3; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "first"))
	}
	dir := t.TempDir()
	st := conntest.OpenStore(t, dir)
	em := &conntest.Emitter{Ledger: st}
	r := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "checkpoint 3", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()
	for i := 4; i <= 5; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "second"))
	}
	em2 := &conntest.Emitter{Ledger: st}
	r2 := run(t, testConfig(srv.addr), st, em2)
	waitFor(t, "checkpoint 5", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 5 })
	r2.stop()
	if got := em2.Emitted(); len(got) != 2 || got[0].Title != "second" {
		t.Fatalf("after restart emitted %d items", len(got))
	}
}

// IDLE: new mail is picked up at once although the poll interval is an hour.
func TestIdleWakeUp(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, testConfig(srv.addr), st, em)
	time.Sleep(200 * time.Millisecond) // connected and idling
	start := time.Now()
	appendMail(t, cl, "INBOX", testMail(1, "idle"))
	waitFor(t, "the new mail", 5*time.Second, func() bool { return len(em.Emitted()) == 1 })
	t.Logf("IDLE wake-up to emit: %s", time.Since(start))
	r.stop()
}

// A message over max_message_bytes is quarantined without being fetched,
// and mail after it still arrives; so does mail after an unparseable one.
func TestQuarantineDoesNotStall(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	big := append(testMail(1, "big"), bytes.Repeat([]byte("x"), 8192)...)
	appendMail(t, cl, "INBOX", big)
	appendMail(t, cl, "INBOX", fixture(t, "not_a_mail"))
	appendMail(t, cl, "INBOX", testMail(3, "after"))
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	cfg.MaxMessageBytes = 4096
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 3", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()
	qs := em.Quarantined()
	if len(qs) != 2 || !strings.Contains(qs[0].Reason+qs[1].Reason, "max_message_bytes") {
		t.Fatalf("quarantined %+v", qs)
	}
	if items := em.Emitted(); len(items) != 1 || items[0].Title != "after" {
		t.Fatalf("emitted %+v", items)
	}
}

// UIDVALIDITY change (mailbox deleted and re-created): the mailbox is read
// again from the start and repeats keep their item IDs.
func TestUIDValidityChange(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	m1, m2 := testMail(1, "one"), testMail(2, "two")
	appendMail(t, cl, "INBOX", m1)
	appendMail(t, cl, "INBOX", m2)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "checkpoint 2", 5*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 2 })
	r.stop()
	before := readCheckpoint(t, st, "INBOX").UIDValidity
	recreateInbox(t, srv)
	appendMail(t, cl, "INBOX", m1)
	appendMail(t, cl, "INBOX", m2)
	appendMail(t, cl, "INBOX", testMail(3, "three"))
	r2 := run(t, testConfig(srv.addr), st, em)
	waitFor(t, "new checkpoint at 3", 5*time.Second, func() bool {
		cp := readCheckpoint(t, st, "INBOX")
		return cp.UIDValidity != before && cp.UID == 3
	})
	r2.stop()
	em.Wait()
	if len(em.Handled()) != 3 || em.Duplicates() != 2 {
		t.Fatalf("handled %v, duplicates %d; want 3 distinct and 2 repeats", em.Handled(), em.Duplicates())
	}
}

// after_ack seen and move.
func TestAfterAck(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	if err := cl.Create("Done", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "move me"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	cfg.AfterAck, cfg.MoveTo = AfterAckMove, "Done"
	r := run(t, cfg, st, em)
	waitFor(t, "messages moved", 5*time.Second, func() bool {
		d, err := cl.Status("Done", &imapStatusMessages).Wait()
		return err == nil && d.NumMessages != nil && *d.NumMessages == 3
	})
	r.stop()
}

func TestConfig(t *testing.T) {
	t.Setenv(pwEnv, "x")
	env := connectors.Env{}
	if _, err := New("a", Config{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv}, env); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	bad := []Config{
		{Username: "u", PasswordEnv: pwEnv},
		{Address: "imap.example.cn:993", Username: "u"},
		{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv, TLS: "sometimes"},
		{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv, AfterAck: "move"},
		{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv, PasswordFile: "/x"},
	}
	for _, c := range bad {
		if _, err := New("a", c, env); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	// Moving acknowledged mail into a mailbox it reads: the server refuses
	// the move (NO Source and destination mailboxes are identical) after
	// every ack, or the mail comes back under a new UID. INBOX is INBOX in
	// any case (RFC 3501), other names only as written.
	for _, tc := range []struct {
		mailboxes []string
		moveTo    string
		refused   bool
	}{
		{nil, "INBOX", true},
		{nil, "inbox", true},
		{[]string{"INBOX", "Petitions"}, "Petitions", true},
		{[]string{"INBOX", "Petitions"}, "Done", false},
		{[]string{"Petitions"}, "petitions", false},
	} {
		_, err := New("a", Config{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv, Mailboxes: tc.mailboxes, AfterAck: AfterAckMove, MoveTo: tc.moveTo}, env)
		fes, _ := err.(minsheng.FieldErrors)
		if refused := len(fes) > 0 && fes[0].Path == "move_to"; refused != tc.refused || err != nil && !refused {
			t.Errorf("mailboxes %v, move_to %q: err %v, want refused on move_to %v", tc.mailboxes, tc.moveTo, err, tc.refused)
		}
	}
	c, _ := New("a", Config{Address: "imap.example.cn:993", Username: "u", PasswordEnv: pwEnv}, env)
	if c.cfg.TLS != TLSImplicit || c.cfg.InsecureSkipVerify || c.cfg.MaxMessageBytes != 25<<20 || c.cfg.AfterAck != "none" || !c.idle || c.cfg.Mailboxes[0] != "INBOX" {
		t.Errorf("defaults: %+v", c.cfg)
	}
}

// Run without stores is a configuration error, not a panic.
func TestRunNeedsStores(t *testing.T) {
	t.Setenv(pwEnv, "x")
	c, _ := New("a", Config{Address: "127.0.0.1:1", Username: "u", PasswordEnv: pwEnv}, connectors.Env{})
	if err := c.Run(context.Background(), &conntest.Emitter{}); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// Without IDLE the mailbox is polled.
func TestPollWithoutIdle(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	off := false
	cfg.Idle, cfg.PollInterval = &off, 100*time.Millisecond
	r := run(t, cfg, st, em)
	time.Sleep(150 * time.Millisecond)
	appendMail(t, cl, "INBOX", testMail(1, "polled"))
	waitFor(t, "the polled mail", 5*time.Second, func() bool { return len(em.Emitted()) == 1 })
	r.stop()
}

// stallProxy forwards to addr, but stops passing server data on a
// connection once it carries marker: a server that stalls mid-message.
func stallProxy(t *testing.T, addr, marker string) string {
	return proxy(t, addr, func(c, s net.Conn) {
		go func() { io.Copy(s, c); s.Close() }()
		go func() {
			defer c.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if i := bytes.Index(buf[:n], []byte(marker)); i >= 0 {
					c.Write(buf[:i])
					io.Copy(io.Discard, s) // hold the rest back
					return
				}
				if _, werr := c.Write(buf[:n]); werr != nil || err != nil {
					return
				}
			}
		}()
	})
}

// A message whose fetch stalls is retried, then quarantined unread after
// fetch_attempts; the mailbox goes on.
func TestFetchTimeoutQuarantines(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	appendMail(t, cl, "INBOX", testMail(1, "before"))
	appendMail(t, cl, "INBOX", append(testMail(2, "stalls"), []byte("STALL-HERE\r\n")...))
	appendMail(t, cl, "INBOX", testMail(3, "after"))
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(stallProxy(t, srv.addr, "STALL-HERE"))
	cfg.FetchTimeout, cfg.FetchAttempts, cfg.FetchBatch = 300*time.Millisecond, 2, 1
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 3", 15*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()
	q := em.Quarantined()
	if len(q) != 1 || !strings.Contains(q[0].Reason, "failed 2 times") {
		t.Fatalf("quarantined %+v", q)
	}
	if !strings.HasPrefix(q[0].Ref, "unread:INBOX:m2.") {
		t.Errorf("quarantined as %q; want the mailbox and the Message-ID", q[0].Ref)
	}
	if len(em.Handled()) != 3 {
		t.Fatalf("handled %v", em.Handled())
	}
}

// slowEmitter is a pipeline that takes d to accept each item (back-pressure:
// its destinations are slow or down).
type slowEmitter struct {
	*conntest.Emitter
	d time.Duration
}

func (s slowEmitter) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Emitter.Emit(ctx, it, ack)
}

// A pipeline slower than fetch_timeout is not a stalled server: waiting for
// the workers must not count as a broken fetch, or a good mail is
// quarantined unread (fetch_failed) for the pipeline's slowness.
func TestSlowPipelineIsNotAFetchTimeout(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	for i := range 3 {
		// Large enough that the server's answer is still on the wire while
		// the connector waits for its one worker.
		appendMail(t, cl, "INBOX", append(testMail(i, "slow pipeline"), bytes.Repeat([]byte("路灯坏了\r\n"), 60000)...))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	// The timeout leaves the server (under -race, on a loaded machine) time
	// to send each mail; the pipeline waits well past it.
	cfg.FetchTimeout, cfg.FetchAttempts, cfg.Workers = 1500*time.Millisecond, 1, 1
	r := run(t, cfg, st, slowEmitter{em, 2500 * time.Millisecond})
	waitFor(t, "checkpoint 3", 60*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()
	for _, q := range em.Quarantined() {
		t.Errorf("quarantined %s: %s", q.Ref, q.Reason)
	}
	if n := len(em.Handled()); n != 3 {
		t.Errorf("%d items handled; want 3", n)
	}
}
