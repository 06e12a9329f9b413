package imap

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// responseProxy forwards to addr. Each whole response the server sends (a
// line, with its literals) goes through rewrite first, which may change it;
// each chunk the client sends goes to onClient (which may block) before it
// is forwarded. Either may be nil.
func responseProxy(t *testing.T, addr string, rewrite func(resp []byte) []byte, onClient func(b []byte)) string {
	t.Helper()
	literal := regexp.MustCompile(`\{(\d+)\}\r\n$`)
	return proxy(t, addr, func(c, s net.Conn) {
		go func() {
			defer s.Close()
			buf := make([]byte, 32<<10)
			for {
				k, err := c.Read(buf)
				if k > 0 {
					if onClient != nil {
						onClient(buf[:k])
					}
					if _, werr := s.Write(buf[:k]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer c.Close()
			r := bufio.NewReader(s)
			for {
				resp, err := r.ReadBytes('\n')
				for err == nil {
					m := literal.FindSubmatch(resp)
					if m == nil {
						break
					}
					n := 0
					for _, d := range m[1] {
						n = n*10 + int(d-'0')
					}
					lit := make([]byte, n)
					if _, err = io.ReadFull(r, lit); err != nil {
						break
					}
					resp = append(resp, lit...)
					var rest []byte
					rest, err = r.ReadBytes('\n')
					resp = append(resp, rest...)
				}
				if err != nil {
					return
				}
				if rewrite != nil {
					resp = rewrite(resp)
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}()
	})
}

// bodyResponse is a FETCH response carrying a message's BODY[] as a literal.
var bodyResponse = regexp.MustCompile(`^\* (\d+) FETCH \(UID (\d+) [^\r\n]*BODY\[\] \{\d+\}\r\n`)

// rewriteBody rewrites the FETCH responses carrying the body of UID uid
// with fn(seq), which gets the response's sequence number; other responses
// pass as they are.
func rewriteBody(uid string, fn func(seq string, resp []byte) []byte) func([]byte) []byte {
	return func(resp []byte) []byte {
		m := bodyResponse.FindSubmatch(resp)
		if m == nil || string(m[2]) != uid {
			return resp
		}
		return fn(string(m[1]), resp)
	}
}

// TestFetchResponsesWithoutBody: what the connector makes of FETCH
// responses that do not carry the body it asked for, or carry an empty one. Mail 1 is the one the
// server plays tricks with; mail 2 is ordinary. No mail is passed by
// unhandled: each is emitted, or quarantined with a reason, or was really
// expunged.
func TestFetchResponsesWithoutBody(t *testing.T) {
	cases := []struct {
		name string
		// rewrite of the responses carrying mail 1's body (seq, response)
		rewrite func(seq string, resp []byte) []byte
		// expunge mail 1 when the connector first asks for bodies
		expunge bool
		// titles emitted, and a word the quarantine reason must hold
		// (empty: nothing quarantined)
		emitted    []string
		quarantine string
	}{
		{
			// RFC 3501 §7: unilateral FETCH data may come at any time, e.g.
			// another client set \Seen; a response with only the flags is
			// not the message (the body after it is routed elsewhere by
			// go-imap, so the message is asked for again).
			name: "flags-only FETCH before the body",
			rewrite: once(func(seq string, resp []byte) []byte {
				return append([]byte("* "+seq+" FETCH (UID 1 FLAGS (\\Seen))\r\n"), resp...)
			}),
			emitted: []string{"first", "second"},
		},
		{
			name: "body never returned",
			rewrite: func(seq string, resp []byte) []byte {
				return []byte("* " + seq + " FETCH (UID 1 FLAGS ())\r\n")
			},
			emitted:    []string{"second"},
			quarantine: "returned no body",
		},
		{
			name: "body response dropped once",
			rewrite: once(func(seq string, resp []byte) []byte {
				return nil
			}),
			emitted: []string{"first", "second"},
		},
		{
			name: "BODY[] NIL",
			rewrite: func(seq string, resp []byte) []byte {
				return []byte("* " + seq + " FETCH (UID 1 BODY[] NIL)\r\n")
			},
			emitted:    []string{"second"},
			quarantine: "empty message",
		},
		{
			name: "empty BODY[] literal",
			rewrite: func(seq string, resp []byte) []byte {
				return []byte("* " + seq + " FETCH (UID 1 BODY[] {0}\r\n)\r\n")
			},
			emitted:    []string{"second"},
			quarantine: "empty message",
		},
		{
			name:    "expunged between listing and fetch",
			expunge: true,
			emitted: []string{"second"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startMemServer(t)
			cl := testClient(t, srv.addr)
			appendMail(t, cl, "INBOX", testMail(1, "first"))
			appendMail(t, cl, "INBOX", testMail(2, "second"))
			var rewrite func([]byte) []byte
			if tc.rewrite != nil {
				rewrite = rewriteBody("1", tc.rewrite)
			}
			var onClient func([]byte)
			if tc.expunge {
				if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
					t.Fatal(err)
				}
				var done atomic.Bool
				onClient = func(b []byte) {
					if !bytes.Contains(b, []byte("BODY.PEEK[]")) || done.Swap(true) {
						return
					}
					// Runs before the command reaches the server.
					if err := cl.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
						t.Error(err)
					}
					if err := cl.Expunge().Close(); err != nil {
						t.Error(err)
					}
				}
			}
			st := conntest.OpenStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			r := run(t, testConfig(responseProxy(t, srv.addr, rewrite, onClient)), st, em)
			waitFor(t, "checkpoint 2", 30*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 2 })
			r.stop()
			em.Wait()
			var titles []string
			for _, it := range em.Emitted() {
				titles = append(titles, it.Title)
			}
			sort.Strings(titles)
			if strings.Join(titles, ",") != strings.Join(tc.emitted, ",") {
				t.Errorf("emitted %q; want %q", titles, tc.emitted)
			}
			qs := em.Quarantined()
			switch {
			case tc.quarantine == "" && len(qs) > 0:
				t.Errorf("quarantined %d (first: ref %q reason %q); want none", len(qs), qs[0].Ref, qs[0].Reason)
			case tc.quarantine != "" && (len(qs) != 1 || !strings.Contains(qs[0].Reason, tc.quarantine)):
				for _, q := range qs {
					t.Logf("quarantined ref %q reason %q", q.Ref, q.Reason)
				}
				t.Errorf("quarantined %d; want 1 with a reason saying %q", len(qs), tc.quarantine)
			case tc.quarantine != "" && !strings.HasPrefix(qs[0].Ref, "unread:INBOX:m1."):
				t.Errorf("quarantined as %q; want the mailbox and mail 1's Message-ID", qs[0].Ref)
			}
		})
	}
}

// once applies fn to the first response only.
func once(fn func(seq string, resp []byte) []byte) func(string, []byte) []byte {
	var mu sync.Mutex
	done := false
	return func(seq string, resp []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return resp
		}
		done = true
		return fn(seq, resp)
	}
}

// bigMail is a mail over the 4096-byte cap the quarantine tests set.
func bigMail(i int, subject string) []byte {
	return append(testMail(i, subject), bytes.Repeat([]byte("x"), 8192)...)
}

// TestUnreadQuarantineSurvivesUIDValidityChange: mail quarantined without
// being read (here: too large) is dead-lettered once, not again when the
// mailbox is re-created and read from the start (README: "Nothing is
// routed twice").
func TestUnreadQuarantineSurvivesUIDValidityChange(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	big, small := bigMail(1, "big"), testMail(2, "small")
	appendMail(t, cl, "INBOX", big)
	appendMail(t, cl, "INBOX", small)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	cfg.MaxMessageBytes = 4096
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoint 2", 30*time.Second, func() bool { return readCheckpoint(t, st, "INBOX").UID == 2 })
	r.stop()
	before := readCheckpoint(t, st, "INBOX").UIDValidity
	recreateInbox(t, srv)
	appendMail(t, cl, "INBOX", big)
	appendMail(t, cl, "INBOX", small)
	r2 := run(t, cfg, st, em)
	waitFor(t, "checkpoint 2 under the new UIDVALIDITY", 5*time.Second, func() bool {
		cp := readCheckpoint(t, st, "INBOX")
		return cp.UIDValidity != before && cp.UID == 2
	})
	r2.stop()
	em.Wait()
	var refs []string
	for _, q := range em.Quarantined() {
		refs = append(refs, q.Ref)
	}
	if len(em.Handled()) != 2 || em.Duplicates() != 2 {
		t.Errorf("%d distinct IDs handled, %d duplicates; want 2 and 2 (quarantined refs %q)", len(em.Handled()), em.Duplicates(), refs)
	}
}

// TestUnreadQuarantineRefs: the reference of mail quarantined unread names
// the mailbox, and is the Message-ID with the size when the mail has one,
// else UIDVALIDITY/UID; the same mail in two mailboxes gets two IDs.
func TestUnreadQuarantineRefs(t *testing.T) {
	srv := startMemServer(t)
	cl := testClient(t, srv.addr)
	if err := cl.Create("Other", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	withID := bigMail(1, "big")
	noID := regexp.MustCompile(`^Message-ID: [^\r\n]*\r\n`).ReplaceAll(bigMail(2, "big, no Message-ID"), nil)
	appendMail(t, cl, "INBOX", withID)
	appendMail(t, cl, "INBOX", noID)
	appendMail(t, cl, "Other", withID)
	st := conntest.OpenStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := testConfig(srv.addr)
	cfg.MaxMessageBytes = 4096
	cfg.Mailboxes = []string{"INBOX", "Other"}
	r := run(t, cfg, st, em)
	waitFor(t, "checkpoints", 5*time.Second, func() bool {
		return readCheckpoint(t, st, "INBOX").UID == 2 && readCheckpoint(t, st, "Other").UID == 1
	})
	r.stop()
	em.Wait()
	mid := regexp.MustCompile(`Message-ID: <([^>]*)>`).FindSubmatch(withID)[1]
	uv := readCheckpoint(t, st, "INBOX").UIDValidity
	want := []string{
		"uid:INBOX:" + strconv.FormatUint(uint64(uv), 10) + "/2",
		"unread:INBOX:" + string(mid) + "#" + strconv.Itoa(len(withID)),
		"unread:Other:" + string(mid) + "#" + strconv.Itoa(len(withID)),
	}
	var refs []string
	for _, q := range em.Quarantined() {
		refs = append(refs, q.Ref)
		if !strings.Contains(q.Reason, "max_message_bytes") {
			t.Errorf("ref %q: reason %q", q.Ref, q.Reason)
		}
	}
	sort.Strings(refs)
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("quarantined refs %q; want %q", refs, want)
	}
	if len(em.Handled()) != 3 || em.Duplicates() != 0 {
		t.Errorf("%d distinct IDs handled, %d duplicates; want 3 and 0", len(em.Handled()), em.Duplicates())
	}
}
