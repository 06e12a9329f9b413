package imap

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/imap/internal/dovetest"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// startDovecot starts a private Dovecot for one test, or skips (fails under
// MINSHENG_REQUIRE_DOVECOT=1) when Dovecot is not installed.
func startDovecot(t *testing.T) (*dovetest.Server, *imapclient.Client) {
	t.Helper()
	if _, err := dovetest.Binary(); err != nil {
		if os.Getenv("MINSHENG_REQUIRE_DOVECOT") == "1" {
			t.Fatalf("MINSHENG_REQUIRE_DOVECOT=1 but %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	s, err := dovetest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	cl := testClient(t, s.Addr)
	return s, cl
}

func dovecotConfig(s *dovetest.Server) Config {
	return testConfig(s.Addr)
}

func TestDovecotIngest(t *testing.T) {
	s, cl := startDovecot(t)
	names := []string{"gb2312_base64", "big5_8bit", "rfc2231_filename", "bounce", "raw8bit_header", "split_encoded_word", "iso2022cn", "iso2022kr"}
	for _, n := range names {
		appendMail(t, cl, "INBOX", fixture(t, n))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 20 * time.Millisecond}
	r := run(t, dovecotConfig(s), st, em)
	waitFor(t, "checkpoint at 8", 15*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 8 })
	r.stop()
	// The 7-bit ones would pass the U+FFFD check below as escape codes.
	sevenBit := map[string][2]string{"iso2022cn": {"中山路路燈壞了", "已經壞了一個月"}, "iso2022kr": {"도로 파손 신고", "파손되어 있습니다"}}
	if len(em.Emitted()) != 8 || len(em.Invalid()) > 0 {
		t.Fatalf("emitted %d, invalid %v", len(em.Emitted()), em.Invalid())
	}
	for _, it := range em.Emitted() {
		n := strings.TrimSuffix(it.Attrs["message_id"], "@example.cn")
		// BODY[] comes back as appended, but for bare LF line ends, which
		// Dovecot returns as CRLF.
		crlf := bytes.ReplaceAll(bytes.ReplaceAll(fixture(t, n), []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		if !bytes.Equal(blobBytes(t, st, it.RawRef), crlf) {
			t.Errorf("%s: stored raw differs", n)
		}
		m, _ := Parse(crlf)
		if it.Title != m.Subject || strings.ContainsRune(it.Title+it.Body, '\uFFFD') {
			t.Errorf("%s: title %q", n, it.Title)
		}
		if want, ok := sevenBit[n]; ok && (it.Title != want[0] || !strings.Contains(it.Body, want[1])) {
			t.Errorf("%s: title %q body %q", n, it.Title, it.Body)
		}
		if n == "bounce" && it.Automated == "" {
			t.Errorf("bounce not marked automated")
		}
	}
}

// holdAcks is an emitter that takes items and never acknowledges them: a
// gateway killed after the fetch and before the ack.
type holdAcks struct {
	mu  sync.Mutex
	ids []string
}

func (h *holdAcks) Emit(_ context.Context, it *minsheng.Item, _ minsheng.AckFunc) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, minsheng.ItemID(it.Channel, it.Source, it.Ref))
	return nil
}

func (h *holdAcks) Quarantine(_ context.Context, q *minsheng.Quarantined, _ minsheng.AckFunc) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, q.ID())
	return nil
}

func (h *holdAcks) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// Killed between fetch and ack: nothing is lost, the mail is fetched again
// and the repeats carry the same item IDs.
func TestDovecotKilledBeforeAck(t *testing.T) {
	s, cl := startDovecot(t)
	for i := 1; i <= 10; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "kill"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	h := &holdAcks{}
	r := run(t, dovecotConfig(s), st, h)
	waitFor(t, "10 fetched", 10*time.Second, func() bool { return h.count() == 10 })
	r.stop() // the acks never came
	if cp := readCheckpoint(t, st, "INBOX"); cp.UID != 0 {
		t.Fatalf("checkpoint advanced to %d without acks", cp.UID)
	}
	em := &conntest.Emitter{Ledger: st, MaxDelay: 10 * time.Millisecond}
	r2 := run(t, dovecotConfig(s), st, em)
	waitFor(t, "checkpoint 10", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 10 })
	r2.stop()
	got := map[string]bool{}
	for _, it := range em.Emitted() {
		got[it.ID] = true
	}
	for _, id := range h.ids {
		if !got[id] {
			t.Errorf("item %s of the first run not re-fetched under the same ID", id)
		}
	}
	if len(got) != 10 {
		t.Errorf("%d distinct items after restart, want 10", len(got))
	}
}

// Dovecot restarted while mail is being ingested: the connector reconnects
// and every mail is handled, none twice.
func TestDovecotRestartMidStream(t *testing.T) {
	s, cl := startDovecot(t)
	const n = 300
	for i := 1; i <= n; i++ {
		appendMail(t, cl, "INBOX", testMail(i, "restart"))
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 5 * time.Millisecond, MaxInFlight: 8}
	cfg := dovecotConfig(s)
	cfg.FetchBatch = 20
	r := run(t, cfg, st, em)
	waitFor(t, "some handled", 10*time.Second, func() bool { return handledTotal(em) >= 30 })
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	at := handledTotal(em)
	waitFor(t, "checkpoint at n", 30*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == n })
	r.stop()
	em.Wait()
	if handledTotal(em) != n {
		t.Fatalf("handled %d distinct, want %d", handledTotal(em), n)
	}
	for id, c := range em.Handled() {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
	t.Logf("restarted after %d handled; %d repeats deduped", at, em.Duplicates())
}

// UIDVALIDITY change: the mailbox is deleted and re-created with the same
// mail; it is read again and nothing is routed twice.
func TestDovecotUIDValidityChange(t *testing.T) {
	s, cl := startDovecot(t)
	if err := cl.Create("citizens", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	mails := [][]byte{testMail(1, "uv"), testMail(2, "uv")}
	for _, m := range mails {
		appendMail(t, cl, "citizens", m)
	}
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := dovecotConfig(s)
	cfg.Mailboxes = []string{"citizens"}
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 2", 10*time.Second, func() bool { return readCheckpoint(t, st, "citizens").UID == 2 })
	r.stop()
	old := readCheckpoint(t, st, "citizens").UIDValidity
	if err := cl.Delete("citizens").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Dovecot's UIDVALIDITY is a time in seconds
	if err := cl.Create("citizens", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, m := range append(mails, testMail(3, "uv")) {
		appendMail(t, cl, "citizens", m)
	}
	r2 := run(t, cfg, st, em)
	waitFor(t, "re-read", 10*time.Second, func() bool {
		cp := readCheckpoint(t, st, "citizens")
		return cp.UIDValidity != old && cp.UID == 3
	})
	r2.stop()
	em.Wait()
	if len(em.Handled()) != 3 || em.Duplicates() != 2 {
		t.Fatalf("handled %v, %d duplicates; want 3 and 2", em.Handled(), em.Duplicates())
	}
}

func TestDovecotIdleWakeUp(t *testing.T) {
	s, cl := startDovecot(t)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, dovecotConfig(s), st, em) // poll interval: an hour
	time.Sleep(500 * time.Millisecond)
	for i := 1; i <= 3; i++ {
		start := time.Now()
		appendMail(t, cl, "INBOX", testMail(i, "idle"))
		waitFor(t, "IDLE wake-up", 10*time.Second, func() bool { return len(em.Emitted()) == i })
		t.Logf("IDLE: append to emit %s", time.Since(start).Round(time.Millisecond))
	}
	r.stop()
}

// A 20 MB attachment: over the default cap when base64-encoded (about
// 27 MB), so quarantined unread there; ingested whole under a 40 MiB cap.
func TestDovecotLargeAttachment(t *testing.T) {
	s, cl := startDovecot(t)
	data := make([]byte, 20_000_000)
	rand.Read(data)
	sum := sha256.Sum256(data)
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <big@example.cn>\r\nFrom: <photo@example.cn>\r\nSubject: 现场视频\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n视频见附件。\r\n--BB\r\nContent-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"scene.mp4\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--BB--\r\n")
	appendMail(t, cl, "INBOX", b.Bytes())
	appendMail(t, cl, "INBOX", testMail(2, "after the big one"))

	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, dovecotConfig(s), st, em)
	waitFor(t, "checkpoint 2", 120*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 2 })
	r.stop()
	if q := em.Quarantined(); len(q) != 1 || !strings.Contains(q[0].Reason, "max_message_bytes") || len(em.Emitted()) != 1 {
		t.Fatalf("default cap: quarantined %v, emitted %d", q, len(em.Emitted()))
	}

	st2 := conntest.OpenStore(t, t.TempDir())
	em2 := &conntest.Emitter{Ledger: st2}
	cfg := dovecotConfig(s)
	cfg.MaxMessageBytes = 40 << 20
	start := time.Now()
	r2 := run(t, cfg, st2, em2)
	waitFor(t, "checkpoint 2", 120*time.Second, func() bool { return readCheckpoint(t, st2, "INBOX").UID == 2 })
	t.Logf("message of %d bytes ingested in %s", b.Len(), time.Since(start).Round(time.Millisecond))
	r2.stop()
	var big *minsheng.Item
	for _, it := range em2.Emitted() {
		if it.Ref != "" && len(it.Attachments) == 1 {
			big = it
		}
	}
	if big == nil || big.Attachments[0].SHA256 != hex.EncodeToString(sum[:]) || big.Attachments[0].Size != int64(len(data)) || big.Attachments[0].Name != "scene.mp4" {
		t.Fatalf("big item %+v", big)
	}
}

// An unparseable mail is quarantined with its raw bytes; mail after it
// still arrives.
func TestDovecotUnparseable(t *testing.T) {
	s, cl := startDovecot(t)
	appendMail(t, cl, "INBOX", fixture(t, "unparseable"))
	appendMail(t, cl, "INBOX", testMail(2, "after"))
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	r := run(t, dovecotConfig(s), st, em)
	waitFor(t, "checkpoint 2", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 2 })
	time.Sleep(100 * time.Millisecond)
	appendMail(t, cl, "INBOX", testMail(3, "later"))
	waitFor(t, "checkpoint 3", 10*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 3 })
	r.stop()
	q := em.Quarantined()
	if len(q) != 1 || !bytes.Equal(q[0].Raw, fixture(t, "unparseable")) || q[0].RawRef == "" {
		t.Fatalf("quarantined %+v", q)
	}
	if !bytes.Equal(blobBytes(t, st, q[0].RawRef), fixture(t, "unparseable")) {
		t.Errorf("raw blob differs")
	}
	if len(em.Emitted()) != 2 {
		t.Fatalf("emitted %d, want 2", len(em.Emitted()))
	}
}
