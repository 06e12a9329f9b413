package hotline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/text/encoding/simplifiedchinese"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/store"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

var cst = time.FixedZone("CST", 8*3600)

const testToken = "test-feed-token-不要外传"

func init() {
	os.Setenv("MINSHENG_TEST_HOTLINE_TOKEN", testToken)
}

func openStore(t *testing.T, dir string) *store.Store { return conntest.OpenStore(t, dir) }

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testConfig(url string) Config {
	return Config{URL: url, TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN", Window: 8,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		PingInterval: 50 * time.Millisecond, IdleTimeout: 2 * time.Second, CheckpointEvery: 10 * time.Millisecond}
}

type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, name string, cfg Config, st *store.Store, em minsheng.Emitter) *running {
	t.Helper()
	return startLogged(t, name, cfg, st, em, tWriter{t})
}

// startLogged is start with the connector's log written to log.
func startLogged(t *testing.T, name string, cfg Config, st *store.Store, em minsheng.Emitter, log io.Writer) *running {
	t.Helper()
	h, err := New(name, cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(),
		Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(ctx, em) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("connector did not stop within 10s of cancel")
		}
	})
}

func serveSim(t *testing.T, sim *Sim) string {
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/feed"
}

func waitAcked(t *testing.T, sim *Sim, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.WaitAcked(ctx, n); err != nil {
		t.Fatalf("waiting for %d acks: %v (stats %+v)", n, err, sim.Stats())
	}
}

func readCheckpoint(t *testing.T, st *store.Store, name string) checkpoint {
	raw, err := st.Get(context.Background(), "hotline/"+name)
	if err != nil || raw == nil {
		t.Fatalf("checkpoint: %q %v", raw, err)
	}
	var ck checkpoint
	if err := json.Unmarshal(raw, &ck); err != nil {
		t.Fatal(err)
	}
	return ck
}

// The feed cuts the connection three times mid-stream, replays orders the
// gateway already acked after each resume, sends one order again under a
// new seq, and paces itself slower than the gateway. Every order is handled
// exactly once, repeats come only under the same item ID, and in-flight
// orders stay within the window.
func TestDropsReplaysAndDuplicates(t *testing.T) {
	sim := NewSim(SimOptions{Token: testToken, Stream: "qd-2024", Rate: 400, DropAfter: 7, Drops: 3, Replay: 5})
	orders := Generate(40, 1, time.Date(2024, 3, 6, 8, 0, 0, 0, cst), 7)
	sim.Append(orders...)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 8 * time.Millisecond}
	cfg := testConfig(serveSim(t, sim))
	r := start(t, "12345", cfg, st, em)
	waitAcked(t, sim, 40)
	sim.Append(orders[3]) // the call centre sends order 4 again, as seq 41
	waitAcked(t, sim, 41)
	r.stop(t)
	em.Wait()

	want := map[string]bool{}
	for _, o := range orders {
		want[minsheng.ItemID(minsheng.ChannelHotline, "12345", o.OrderNo)] = true
	}
	handled := em.Handled()
	for id := range want {
		if handled[id] != 1 {
			t.Errorf("order %s handled %d times", id, handled[id])
		}
	}
	for _, it := range em.Emitted() {
		if !want[it.ID] {
			t.Errorf("emitted unexpected ID %s (ref %s)", it.ID, it.Ref)
		}
	}
	if em.Duplicates() < 1 {
		t.Error("the re-sent order was not recognised as a repeat")
	}
	s := sim.Stats()
	if s.Drops != 3 || s.Connections < 4 || s.Redelivered == 0 {
		t.Errorf("sim stats %+v: want 3 drops, ≥4 connections, redeliveries", s)
	}
	if s.MaxUnacked > cfg.Window || em.MaxInFlightSeen() > cfg.Window {
		t.Errorf("in flight: sim saw %d unacked, pipeline %d; window %d", s.MaxUnacked, em.MaxInFlightSeen(), cfg.Window)
	}
	if ck := readCheckpoint(t, st, "12345"); ck.Stream != "qd-2024" || ck.Acked != 41 {
		t.Errorf("checkpoint %+v, want stream qd-2024 acked 41", ck)
	}
	if inv := em.Invalid(); len(inv) > 0 {
		t.Errorf("invalid items: %v", inv)
	}
}

// Stop the connector while orders are in flight and start it again on the
// reopened store, twice: nothing is lost, repeats carry the same item ID.
func TestKillAndRestart(t *testing.T) {
	sim := NewSim(SimOptions{Token: testToken, Rate: 300})
	orders := Generate(30, 500, time.Date(2024, 3, 7, 8, 0, 0, 0, cst), 11)
	sim.Append(orders...)
	url := serveSim(t, sim)
	dir := t.TempDir()
	want := map[string]bool{}
	for _, o := range orders {
		want[minsheng.ItemID(minsheng.ChannelHotline, "12345", o.OrderNo)] = true
	}
	handled := map[string]int{}
	for run := 0; run < 3; run++ {
		st := openStore(t, dir)
		em := &conntest.Emitter{Ledger: st, MaxDelay: 15 * time.Millisecond}
		r := start(t, "12345", testConfig(url), st, em)
		if run < 2 {
			deadline := time.Now().Add(20 * time.Second)
			for em.Acked() < 5 && sim.Stats().Acked < 30 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		} else {
			waitAcked(t, sim, 30)
		}
		r.stop(t)
		em.Wait()
		for id, n := range em.Handled() {
			handled[id] += n
		}
		for _, it := range em.Emitted() {
			if !want[it.ID] {
				t.Errorf("run %d emitted unexpected ID %s", run, it.ID)
			}
		}
		st.Close()
	}
	for id := range want {
		if handled[id] != 1 {
			t.Errorf("order %s handled %d times over three runs", id, handled[id])
		}
	}
}

// A feed that ignores the window cannot push the gateway past it: the
// connector holds at most Window orders in flight while the pipeline is slow.
func TestBackPressureBoundedAgainstGreedyFeed(t *testing.T) {
	sim := NewSim(SimOptions{Token: testToken, IgnoreWindow: true})
	sim.Append(Generate(60, 1, time.Date(2024, 3, 8, 8, 0, 0, 0, cst), 3)...)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st, MaxDelay: 10 * time.Millisecond}
	cfg := testConfig(serveSim(t, sim))
	cfg.Window = 4
	start(t, "12345", cfg, st, em)
	waitAcked(t, sim, 60)
	if got := em.MaxInFlightSeen(); got > 4 {
		t.Errorf("%d orders in flight at once, window 4", got)
	}
	if s := sim.Stats(); s.MaxUnacked <= 4 {
		t.Errorf("the greedy feed never got ahead (max unacked %d): the bound was not exercised", s.MaxUnacked)
	}
}

// Orders that cannot become items are quarantined with their reason and
// acked (the dead letter is their durable handling); the feed goes on.
func TestInvalidOrdersQuarantined(t *testing.T) {
	sim := NewSim(SimOptions{Token: testToken})
	badFile, _ := os.ReadFile("testdata/order_bad.json")
	var buf bytes.Buffer
	json.Compact(&buf, badFile) // as it travels inside the order message
	bad := buf.Bytes()
	good, _ := os.ReadFile("testdata/order.json")
	long := Generate(1, 9, time.Now(), 1)[0]
	long.Title = strings.Repeat("很长的标题", 120) // over the schema's 500 characters
	sim.AppendRaw(bad, good)
	sim.Append(long)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	var logs conntest.LogBuffer
	startLogged(t, "12345", testConfig(serveSim(t, sim)), st, em, io.MultiWriter(&logs, tWriter{t}))
	waitAcked(t, sim, 3)
	qs := em.Quarantined()
	if len(qs) != 2 || len(em.Emitted()) != 1 {
		t.Fatalf("%d quarantined, %d emitted; want 2 and 1", len(qs), len(em.Emitted()))
	}
	if !strings.Contains(qs[0].Reason, "order_no is required") || !strings.Contains(qs[0].Reason, "received_at") ||
		!bytes.Equal(qs[0].Raw, bad) || !strings.HasPrefix(qs[0].Ref, "seq:") {
		t.Errorf("quarantined bad order: ref %q reason %q", qs[0].Ref, qs[0].Reason)
	}
	if !strings.Contains(qs[1].Reason, "title") || !strings.HasPrefix(qs[1].Ref, "order:"+long.OrderNo) {
		t.Errorf("quarantined long order: ref %q reason %q", qs[1].Ref, qs[1].Reason)
	}
	// The reasons, which quote the order ("上周三"), are for the record:
	// the log names the kind and the ref.
	out := logs.String()
	if strings.Contains(out, "上周三") || strings.Contains(out, "order_no is required") {
		t.Errorf("the log quotes a quarantine reason:\n%s", out)
	}
	for _, want := range []string{"ref=" + qs[0].Ref + " reason_code=order_undecodable", "reason_code=order_invalid_item"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
}

// A frame that is not a protocol message is quarantined, reported to the
// server as bad_message, and the orders after it still flow. This feed is
// hand-written so it can send what the simulator never would.
func TestUnreadableFrameQuarantined(t *testing.T) {
	good, _ := os.ReadFile("testdata/order.json")
	notes := make(chan Message, 8)
	url := handServer(t, func(c *websocket.Conn, hello Message) {
		if hello.ResumeAfter == 0 {
			c.WriteMessage(websocket.TextMessage, []byte("工单推送失败 <html>"))
			c.WriteJSON(Message{Type: TypeOrder, Seq: 1, Order: good})
		}
		for {
			var m Message
			if c.ReadJSON(&m) != nil {
				return
			}
			notes <- m
		}
	})
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "12345", testConfig(url), st, em)
	var gotErr, gotAck bool
	for !gotErr || !gotAck {
		select {
		case m := <-notes:
			gotErr = gotErr || m.Type == TypeError && m.Code == CodeBadMessage
			gotAck = gotAck || m.Type == TypeAck && len(m.Seqs) == 1 && m.Seqs[0] == 1
		case <-time.After(10 * time.Second):
			t.Fatalf("error note %v, ack of seq 1 %v", gotErr, gotAck)
		}
	}
	if qs := em.Quarantined(); len(qs) != 1 || string(qs[0].Raw) != "工单推送失败 <html>" || !strings.HasPrefix(qs[0].Ref, "frame:") {
		t.Errorf("quarantined: %+v", qs)
	}
	if len(em.Emitted()) != 1 {
		t.Errorf("%d emitted, want the order after the bad frame", len(em.Emitted()))
	}
}

// A wrong token gets an unauthorized error; the connector keeps retrying
// and emits nothing.
func TestWrongTokenRefused(t *testing.T) {
	sim := NewSim(SimOptions{Token: "another-token"})
	sim.Append(Generate(3, 1, time.Now(), 1)...)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{}
	r := start(t, "12345", testConfig(serveSim(t, sim)), st, em)
	deadline := time.Now().Add(10 * time.Second)
	for sim.Stats().Connections < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if s := sim.Stats(); s.Connections < 2 || s.Sent != 0 || len(em.Emitted()) != 0 {
		t.Errorf("stats %+v, %d emitted: want retries and nothing sent", s, len(em.Emitted()))
	}
}

func TestOrderToItemGolden(t *testing.T) {
	now := time.Date(2024, 3, 6, 9, 16, 0, 0, time.UTC)
	for _, f := range []string{"order.json", "order_revision.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		o, at, err := DecodeOrder(b, cst)
		if err != nil {
			t.Fatal(err)
		}
		it := o.Item(minsheng.ChannelHotline, "12345", at, now)
		if errs := validate(it); len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		got, _ := json.MarshalIndent(it, "", "  ")
		golden := filepath.Join("testdata", strings.TrimSuffix(f, ".json")+".item.golden.json")
		if *update {
			os.WriteFile(golden, append(got, '\n'), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -update)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("%s: item differs from %s:\n%s", f, golden, got)
		}
	}
	rev, _ := os.ReadFile("testdata/order_revision.json")
	o, at, _ := DecodeOrder(rev, cst)
	it := o.Item(minsheng.ChannelHotline, "12345", at, now)
	if it.Ref != "QD20240306-0012345#r2" || it.RevisionOf != minsheng.ItemID(minsheng.ChannelHotline, "12345", "QD20240306-0012345") {
		t.Errorf("revision: ref %q revision_of %q", it.Ref, it.RevisionOf)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	st := openStore(t, t.TempDir())
	for _, tc := range []struct {
		cfg  Config
		path string
	}{
		{Config{TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
		{Config{URL: "https://cc.example/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
		{Config{URL: "wss://cc.example/feed"}, "token_env"},
		{Config{URL: "wss://cc.example/feed", TokenEnv: "MINSHENG_TEST_UNSET"}, "token_env"},
		{Config{URL: "wss://cc.example/feed", TokenFile: "/nonexistent/token"}, "token_file"},
		{Config{URL: "wss://cc.example/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN", PingInterval: time.Minute, IdleTimeout: time.Second}, "idle_timeout"},
		// URLs the WebSocket client refuses or cannot dial
		{Config{URL: "ws://user:SECRET-pw@cc.example/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
		{Config{URL: "wss://cc.example:99999/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
		{Config{URL: "wss://cc.example:/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
		{Config{URL: "wss://:443/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, "url"},
	} {
		_, err := New("h", tc.cfg, connectors.Env{Checkpoints: st})
		fes, ok := err.(minsheng.FieldErrors)
		if !ok || len(fes) == 0 || fes[0].Path != tc.path {
			t.Errorf("config %+v: err %v, want a field error on %s", tc.cfg, err, tc.path)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("config %+v: err %v shows the URL's password", tc.cfg, err)
		}
	}
	// An IPv6 literal is a host the client dials.
	if _, err := New("h", Config{URL: "wss://[::1]:8443/feed", TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, connectors.Env{Checkpoints: st}); err != nil {
		t.Errorf("IPv6 literal: %v", err)
	}
	// ws:// sends the token in clear: only to this machine, or when the
	// configuration says so.
	for _, c := range []struct {
		url   string
		allow bool
		ok    bool
	}{
		{"ws://cc.example.gov.cn/minsheng/feed", false, false},
		{"ws://10.0.0.8:8765/feed", false, false},
		{"ws://[2001:db8::1]/feed", false, false},
		{"ws://127.0.0.1.example/feed", false, false},
		{"ws://cc.example.gov.cn/minsheng/feed", true, true},
		{"ws://127.0.0.1:8765/feed", false, true},
		{"ws://127.8.9.10/feed", false, true},
		{"ws://[::1]:8765/feed", false, true},
		{"ws://localhost:8765/feed", false, true},
		{"ws://LocalHost/feed", false, true},
		{"wss://cc.example.gov.cn/minsheng/feed", false, true},
	} {
		_, err := New("h", Config{URL: c.url, AllowPlaintext: c.allow, TokenEnv: "MINSHENG_TEST_HOTLINE_TOKEN"}, connectors.Env{Checkpoints: st})
		var fes minsheng.FieldErrors
		switch {
		case c.ok && err != nil:
			t.Errorf("%s, allow_plaintext %v: %v; want it taken", c.url, c.allow, err)
		case !c.ok && (!errors.As(err, &fes) || fes[0].Path != "url" || !strings.Contains(fes[0].Msg, "allow_plaintext")):
			t.Errorf("%s: %v; want url refused, naming allow_plaintext", c.url, err)
		}
	}
	if _, ok := connectors.Lookup(Type); !ok {
		t.Error("hotline not registered")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	good, _ := os.ReadFile("testdata/order.json")
	m, _ := json.Marshal(Message{Type: TypeOrder, Seq: 7, Order: good})
	f.Add(m)
	f.Add([]byte(`{"type":"welcome","protocol":1,"stream":"s","next_seq":3}`))
	f.Add([]byte(`{"type":"order","seq":-1}`))
	f.Add([]byte(`{"type":"order","seq":"3","order":{}}`))
	f.Add([]byte(`{"type":"order","seq":3,"order":{}} trailing`))
	f.Add([]byte(`{"type":"order","Seq":3,"order":{"order_no":"A"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err == nil && (m.Type == "" || m.Type == TypeOrder && (m.Seq == 0 || len(m.Order) == 0)) {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		// The lenient read agrees with the strict one where that succeeds.
		seq, ok := FrameSeq(b)
		if ok && seq == 0 {
			t.Fatalf("FrameSeq(%q) = 0, true", b)
		}
		if m != nil && m.Type == TypeOrder && m.Seq != 0 && (!ok || seq != m.Seq) {
			t.Fatalf("FrameSeq(%q) = %d, %v; DecodeMessage read seq %d", b, seq, ok, m.Seq)
		}
	})
}

// TestFrameSeq: the seq of an order frame the gateway cannot otherwise
// read, or of the first bytes of one too large to read.
func TestFrameSeq(t *testing.T) {
	for _, c := range []struct {
		frame string
		seq   uint64 // 0: none
	}{
		{`{"type":"order","seq":7,"order":{"order_no":"A"}}`, 7},
		{`{"type":"order","seq":"7","order":{}}`, 7},
		{`{"TYPE":"order","Seq":7}`, 7},
		{`{"type":"order","seq":7,"order":{}} trailing bytes`, 7},
		{`{"type":"order","seq":7,"order":{"order_no":"A","descr`, 7}, // cut short
		{`{"seq":7,"type":"order"}`, 7},
		{`{"order":{"order_no":"A"},"type":"order","seq":18446744073709551615}`, 18446744073709551615},
		{`{"type":"order","order":{"order_no":"A","desc`, 0}, // cut before the seq
		{`{"type":"order","order":{},"seq":123`, 0},          // cut in the seq: 12345 read as 123?
		{`{"type":"order","order":{},"seq":123 `, 123},       // followed by something: whole
		{`{"type":"order","seq":7,"SEQ":8}`, 0},              // which one?
		{`{"type":"order","seq":7,"seq":7}`, 0},
		{`{"type":"order","type":"order","seq":7}`, 0},
		{`{"type":"ack","seq":7}`, 0},
		{`{"seq":7}`, 0},
		{`{"type":"order","seq":0}`, 0},
		{`{"type":"order","seq":-7}`, 0},
		{`{"type":"order","seq":7.0}`, 0},
		{`{"type":"order","seq":7e0}`, 0},
		{`{"type":"order","seq":" 7"}`, 0},
		{`{"type":"order","seq":"+7"}`, 0},
		{`{"type":"order","seq":18446744073709551616}`, 0},
		{`{"type":"order","seq":null}`, 0},
		{`[{"type":"order","seq":7}]`, 0},
		{`工单推送失败 <html>`, 0},
		{``, 0},
	} {
		seq, ok := FrameSeq([]byte(c.frame))
		if seq != c.seq || ok != (c.seq != 0) {
			t.Errorf("FrameSeq(%s) = %d, %v; want %d", c.frame, seq, ok, c.seq)
		}
	}
}

func FuzzDecodeOrder(f *testing.F) {
	for _, n := range []string{"order.json", "order_revision.json", "order_bad.json"} {
		b, _ := os.ReadFile(filepath.Join("testdata", n))
		f.Add(b)
	}
	f.Add([]byte("{\"order_no\":\"\xca\xd0\xc4\xcf\",\"received_at\":\"2024-03-06 09:15:27\",\"description\":\"x\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, at, err := DecodeOrder(b, cst)
		if err != nil {
			return
		}
		if !utf8.Valid(b) {
			t.Fatalf("accepted an order that is not UTF-8: %q", b)
		}
		if o.OrderNo == "" || at.IsZero() || strings.ContainsAny(o.Ref()[:len(o.OrderNo)], "#") {
			t.Fatalf("accepted order %+v at %v", o, at)
		}
		it := o.Item(minsheng.ChannelHotline, "f", at, time.Now())
		if !minsheng.ValidItemID(it.ID) || it.Ref == "" || it.Body == "" && it.Title == "" {
			t.Fatalf("item %+v", it)
		}
		if f := controlField(it); f != "" {
			t.Fatalf("%s holds a control character: item %+v", f, it)
		}
	})
}

// TestMessageFieldTwice: a frame giving a field twice, in any case, is
// malformed (and so quarantined with its bytes), not read as the last.
func TestMessageFieldTwice(t *testing.T) {
	for _, c := range []struct{ frame, want string }{
		{`{"type":"order","seq":1,"order":{"order_no":"A"},"Order":{"order_no":"B"}}`, `"Order" is given twice`},
		{`{"type":"order","seq":1,"SEQ":2,"order":{"order_no":"A"}}`, `"SEQ" is given twice`},
		{`{"type":"ack","seqs":[1,2]}`, ""},
	} {
		_, err := DecodeMessage([]byte(c.frame))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.frame, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.frame, err, c.want)
		}
	}
}

// TestOrderFieldTwice: an order giving a field twice, in any case, is
// refused naming it (and so quarantined whole, as every invalid order is);
// attrs keys differing in case are two keys.
func TestOrderFieldTwice(t *testing.T) {
	good, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"description":`, `"Description": "另一段描述",
  "description":`, "description is given twice"},
		{`"phone": "13800001234"`, `"phone": "13800001234", "Phone": "13900000000"`, "caller.Phone is given twice"},
		{`"operator": "0231"`, `"operator": "0231", "Operator": "0232"`, ""},
		{`"operator": "0231"`, `"operator": "0231", "operator": "0232"`, "attrs.operator is given twice"},
		// A field the order does not have is ignored, repeats inside it too,
		// and they do not hide a repeat of a field it has.
		{`"district":`, `"ext": {"k": "1", "K": "2"}, "extra": 1, "Extra": 2, "caller.x": 1, "caller.x": 2, "attrs[0]": {"a": 1, "a": 2},
  "district":`, ""},
		{`"description":`, `"ext": {` + strings.TrimSuffix(strings.Repeat(`"k": 1, `, 17), ", ") + `}, "Description": "另一段描述",
  "description":`, "description is given twice"},
	} {
		b := bytes.Replace(good, []byte(c.from), []byte(c.to), 1)
		_, _, err := DecodeOrder(b, cst)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.to, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.to, err, c.want)
		}
	}
}

// TestOrderNotUTF8Refused: an order whose bytes are not UTF-8 (GBK, as some
// call-centre systems write) is refused, not read with its text replaced
// by U+FFFD.
func TestOrderNotUTF8Refused(t *testing.T) {
	gbk := func(s string) string {
		b, err := simplifiedchinese.GBK.NewEncoder().String(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct{ name, order string }{
		{"GBK description", `{"order_no":"QD-1","received_at":"2024-03-06 09:15:27","description":"` + gbk("来电人反映花园路北段有六盏路灯不亮") + `"}`},
		{"GBK order number", `{"order_no":"` + gbk("市南区20240306-0001") + `","received_at":"2024-03-06 09:15:27","description":"路灯不亮"}`},
		{"GBK attribute", `{"order_no":"QD-1","received_at":"2024-03-06 09:15:27","description":"路灯不亮","attrs":{"operator":"` + gbk("张三") + `"}}`},
		{"GBK in a field the order does not have", `{"order_no":"QD-1","received_at":"2024-03-06 09:15:27","description":"路灯不亮","note":"` + gbk("备注") + `"}`},
		{"Latin-1 byte", "{\"order_no\":\"QD-1\",\"received_at\":\"2024-03-06 09:15:27\",\"description\":\"caf\xe9\"}"},
		{"cut UTF-8 sequence", "{\"order_no\":\"QD-1\",\"received_at\":\"2024-03-06 09:15:27\",\"description\":\"\xe8\xb7\"}"},
	} {
		o, _, err := DecodeOrder([]byte(c.order), cst)
		if err == nil || !strings.Contains(err.Error(), "text is not valid UTF-8") {
			t.Errorf("%s: err %v, order %+v; want it refused as not UTF-8", c.name, err, o)
		}
	}
	if _, _, err := DecodeOrder([]byte(`{"order_no":"市南区-1","received_at":"2024-03-06 09:15:27","description":"路灯\u4e0d亮\ud83d\ude00"}`), cst); err != nil {
		t.Errorf("UTF-8 order refused: %v", err)
	}
	// Half a surrogate pair would decode to U+FFFD: refused too.
	if _, _, err := DecodeOrder([]byte(`{"order_no":"QD-\ud800","received_at":"2024-03-06 09:15:27","description":"路灯不亮"}`), cst); err == nil || !strings.Contains(err.Error(), "surrogate") {
		t.Errorf("a lone surrogate escape: %v", err)
	}
}

// Two orders whose GBK order numbers would both read as the same string of
// U+FFFD (one item ID: the second answered as a repeat and lost) are both
// quarantined, under refs of their own, and acked.
func TestGBKOrdersQuarantinedNotMerged(t *testing.T) {
	enc := simplifiedchinese.GBK.NewEncoder()
	n1, _ := enc.String("市南区20240306-0001")
	n2, _ := enc.String("李沧区20240306-0001")
	sim := NewSim(SimOptions{Token: testToken, Stream: "gbk"})
	sim.AppendRaw(
		[]byte(`{"order_no":"`+n1+`","received_at":"2024-03-06 09:15:27","description":"路灯不亮"}`),
		[]byte(`{"order_no":"`+n2+`","received_at":"2024-03-06 09:16:27","description":"小区停水"}`))
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "12345", testConfig(serveSim(t, sim)), st, em)
	waitAcked(t, sim, 2)
	em.Wait()
	qs := em.Quarantined()
	if len(em.Emitted()) != 0 || len(qs) != 2 || em.Duplicates() != 0 {
		t.Fatalf("%d emitted, %d quarantined, %d duplicates; want 0, 2, 0", len(em.Emitted()), len(qs), em.Duplicates())
	}
	if qs[0].Ref == qs[1].Ref || !strings.Contains(qs[0].Reason, "not valid UTF-8") || !strings.Contains(qs[1].Reason, "not valid UTF-8") {
		t.Errorf("quarantined %q (%s) and %q (%s): want two refs, reason not valid UTF-8", qs[0].Ref, qs[0].Reason, qs[1].Ref, qs[1].Reason)
	}
}
