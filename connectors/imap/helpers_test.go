package imap

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/imap/internal/dovetest"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/store"
)

const (
	testUser = dovetest.User // the memory server uses the same account
	testPass = dovetest.Password
	pwEnv    = "MINSHENG_IMAP_TEST_PASSWORD"
)

// memServer is go-imap's in-memory server on a loopback port.
type memServer struct {
	addr string
	user *imapmemserver.User
}

func startMemServer(t *testing.T) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(testUser, testPass)
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &memServer{addr: ln.Addr().String(), user: u}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// testClient is the test's own IMAP session (APPEND, CREATE, DELETE).
func testClient(t testing.TB, addr string) *imapclient.Client {
	t.Helper()
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Login(testUser, testPass).Wait(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func appendMail(t testing.TB, cl *imapclient.Client, mailbox string, raw []byte) {
	t.Helper()
	if err := appendRaw(cl, mailbox, raw); err != nil {
		t.Fatal(err)
	}
}

// testMail is a small valid message, unique by i.
func testMail(i int, subject string) []byte {
	return []byte(fmt.Sprintf("Message-ID: <m%d.%d@example.cn>\r\nFrom: \"Citizen %d\" <c%d@example.cn>\r\nTo: mayor@city.gov.cn\r\nSubject: %s\r\nDate: Tue, 5 Mar 2024 09:30:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n第%d封来信：路灯坏了，请修理。\r\n",
		i, time.Now().UnixNano(), i, i, subject, i))
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".eml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testConfig(addr string) Config {
	return Config{
		Address: addr, TLS: TLSNone, Username: testUser, PasswordEnv: pwEnv,
		PollInterval: time.Hour, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		CheckpointEvery: 20 * time.Millisecond, FetchTimeout: 10 * time.Second,
	}
}

// running is a connector running in the background.
type running struct {
	c    *Connector
	stop func()
}

func run(t testing.TB, cfg Config, st *store.Store, out minsheng.Emitter) *running {
	t.Helper()
	return runLogged(t, cfg, st, out, nil)
}

// runLogged is run with the connector logging to log (nil: nowhere).
func runLogged(t testing.TB, cfg Config, st *store.Store, out minsheng.Emitter, log *slog.Logger) *running {
	t.Helper()
	os.Setenv(pwEnv, testPass)
	c, err := New("mayor-mailbox", cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, out) }()
	stopped := false
	r := &running{c: c, stop: func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("connector did not stop")
		}
	}}
	t.Cleanup(r.stop)
	return r
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readCheckpoint(t testing.TB, st *store.Store, mailbox string) checkpoint {
	t.Helper()
	raw, err := st.Get(context.Background(), "imap/mayor-mailbox/"+mailbox)
	if err != nil {
		t.Fatal(err)
	}
	var cp checkpoint
	if raw != nil {
		if err := json.Unmarshal(raw, &cp); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

func handledTotal(em *conntest.Emitter) int {
	n := 0
	for _, c := range em.Handled() {
		n += c
	}
	return n
}

func blobBytes(t testing.TB, st *store.Store, ref string) []byte {
	t.Helper()
	r, err := st.Blobs().Open(context.Background(), ref)
	if err != nil {
		t.Fatalf("blob %s: %v", ref, err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.ReadFrom(r)
	return b.Bytes()
}

var imapStatusMessages = imap.StatusOptions{NumMessages: true}

// recreateInbox deletes and re-creates INBOX, which gives it a new
// UIDVALIDITY and starts its UIDs again.
func recreateInbox(t *testing.T, srv *memServer) {
	t.Helper()
	if err := srv.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := srv.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
}

// proxy listens on a loopback port and, for each connection to it, dials
// addr and hands both ends to serve (client, server), which forwards as it
// likes. It returns the port's address.
func proxy(t *testing.T, addr string, serve func(client, server net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			serve(c, s)
		}
	}()
	return ln.Addr().String()
}
