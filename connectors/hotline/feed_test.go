package hotline

// Feeds that misbehave, written by hand so they can send what the
// simulator never would, and pipelines that fail or are slow.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// handServer runs a hand-written feed: it checks hello's token, answers
// welcome (stream "hand", next_seq resume_after+1) and hands the connection
// to script, once per connection.
func handServer(t *testing.T, script func(c *websocket.Conn, hello Message)) string {
	t.Helper()
	srv := httptest.NewServer(handHandler(func(c *websocket.Conn, hello Message) {
		c.WriteJSON(Message{Type: TypeWelcome, Protocol: 1, Stream: "hand", NextSeq: hello.ResumeAfter + 1})
		script(c, hello)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// handHandler upgrades, reads hello, checks its token and hands the
// connection to serve, which answers it.
func handHandler(serve func(c *websocket.Conn, hello Message)) http.Handler {
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var hello Message
		if c.ReadJSON(&hello) != nil || hello.Token != testToken {
			return
		}
		serve(c, hello)
	})
}

// feedLog records, across a hand server's connections, each hello's
// resume_after and every seq acked (resume_after N acknowledges 1..N).
type feedLog struct {
	mu      sync.Mutex
	resumes []uint64
	acked   map[uint64]bool
	notes   []Message // error messages from the gateway
}

func newFeedLog() *feedLog { return &feedLog{acked: map[uint64]bool{}} }

// hello records a connection's hello and returns its number (1-based).
func (l *feedLog) hello(h Message) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resumes = append(l.resumes, h.ResumeAfter)
	for q := uint64(1); q <= h.ResumeAfter; q++ {
		l.acked[q] = true
	}
	return len(l.resumes)
}

// read reads the gateway's messages until the connection ends, recording
// acks and error notes; onAck, if set, is called after each ack.
func (l *feedLog) read(c *websocket.Conn, onAck func(seqs []uint64)) {
	for {
		var m Message
		if c.ReadJSON(&m) != nil {
			return
		}
		l.mu.Lock()
		switch m.Type {
		case TypeAck:
			for _, q := range m.Seqs {
				l.acked[q] = true
			}
		case TypeError:
			l.notes = append(l.notes, m)
		}
		l.mu.Unlock()
		if m.Type == TypeAck && onAck != nil {
			onAck(m.Seqs)
		}
	}
}

func (l *feedLog) nAcked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *feedLog) isAcked(seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked[seq]
}

func (l *feedLog) connections() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.resumes)
}

func (l *feedLog) resumesAfter() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.resumes...)
}

// waitFor polls cond every 5 ms for up to d and reports whether it held.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func orderJSON(no string) []byte {
	return []byte(fmt.Sprintf(`{"order_no":%q,"received_at":"2024-03-06 09:15:27","description":"路灯不亮"}`, no))
}

func orderFrame(seq uint64, no string) Message {
	return Message{Type: TypeOrder, Seq: seq, Order: orderJSON(no)}
}

// A feed that misbehaves in ways the protocol tolerates, or reports and
// recovers from, plays a log of 20 orders (M-1 … M-20 as seqs 1 … 20)
// from resume_after+1 on every connection. Every order ends up handled
// exactly once and acknowledged.
func TestMisbehavingFeedEveryOrderOnce(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name string
		// send plays seq on connection conn (1-based) with send(seq) as
		// the well-behaved default.
		send func(c *websocket.Conn, conn int, seq uint64, send func(uint64), log *feedLog)
		skip uint64 // a seq never sent (a gap); 0: none
		// maxSecondResume bounds the second connection's resume_after.
		maxSecondResume uint64
	}{
		{name: "frame sent twice", send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), _ *feedLog) {
			if seq == 7 && conn == 1 {
				send(seq)
			}
			send(seq)
		}},
		// 10 before 9, as two racing sender threads might: 9 is refused
		// (bad_request), the gateway reconnects, and its resume_after must
		// be below 9 or the feed never sends 9 again.
		{name: "seq decreases", maxSecondResume: 8, send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), _ *feedLog) {
			switch {
			case conn == 1 && seq == 9:
				send(10)
			case conn == 1 && seq == 10:
				send(9)
			default:
				send(seq)
			}
		}},
		// The same, but 9 comes only after 10 was acked and the checkpoint
		// could reach 10 (9 looked like a gap until then).
		{name: "seq decreases after the later one was acked", maxSecondResume: 8, send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), log *feedLog) {
			switch {
			case conn == 1 && seq == 9:
				send(10)
				waitFor(2*time.Second, func() bool { return log.isAcked(10) })
				time.Sleep(50 * time.Millisecond) // > checkpoint_every
			case conn == 1 && seq == 10:
				send(9)
			default:
				send(seq)
			}
		}},
		{name: "gap", skip: 5, send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), _ *feedLog) {
			if seq != 5 {
				send(seq)
			}
		}},
		{name: "heartbeat storm", send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), _ *feedLog) {
			for range 500 {
				c.WriteMessage(websocket.TextMessage, []byte(`{"type":"heartbeat","ts":1}`))
			}
			send(seq)
		}},
		{name: "ping storm", send: func(c *websocket.Conn, conn int, seq uint64, send func(uint64), _ *feedLog) {
			for range 500 {
				c.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(time.Second))
			}
			send(seq)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			url := handServer(t, func(c *websocket.Conn, hello Message) {
				conn := log.hello(hello)
				go log.read(c, nil)
				send := func(seq uint64) { c.WriteJSON(orderFrame(seq, fmt.Sprint("M-", seq))) }
				for seq := hello.ResumeAfter + 1; seq <= n; seq++ {
					tc.send(c, conn, seq, send, log)
				}
				time.Sleep(5 * time.Second)
			})
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st, MaxDelay: 5 * time.Millisecond}
			r := start(t, "12345", testConfig(url), st, em)
			want := n
			if tc.skip != 0 {
				want--
			}
			waitFor(5*time.Second, func() bool { return log.nAcked() >= want })
			r.stop(t)
			em.Wait()
			h := em.Handled()
			for seq := uint64(1); seq <= n; seq++ {
				if seq == tc.skip {
					continue
				}
				if id := minsheng.ItemID(minsheng.ChannelHotline, "12345", fmt.Sprint("M-", seq)); h[id] != 1 {
					t.Errorf("order M-%d handled %d times", seq, h[id])
				}
			}
			if a := log.nAcked(); a < want {
				t.Errorf("%d of %d acknowledged", a, want)
			}
			if rs := log.resumesAfter(); tc.maxSecondResume > 0 && (len(rs) < 2 || rs[1] > tc.maxSecondResume) {
				t.Errorf("hello resume_after per connection %v: want a second connection resuming at or below %d", rs, tc.maxSecondResume)
			}
		})
	}
}

// playFrames serves frames (seq n is frames[n-1], raw bytes of one text
// frame) from resume_after+1 on every connection, recording in log.
func playFrames(t *testing.T, log *feedLog, frames [][]byte) string {
	return handServer(t, func(c *websocket.Conn, hello Message) {
		log.hello(hello)
		for seq := hello.ResumeAfter + 1; seq <= uint64(len(frames)); seq++ {
			if c.WriteMessage(websocket.TextMessage, frames[seq-1]) != nil {
				return
			}
		}
		log.read(c, nil)
	})
}

func goodFrame(seq uint64, no string) []byte {
	b, _ := json.Marshal(orderFrame(seq, no))
	return b
}

// A frame larger than max_message_bytes is quarantined (its first
// max_message_bytes bytes kept, the reason naming the limit and the seq if
// the start of the frame gives it) and the feed goes on past it on the same
// connection; its seq, when known, is acked once the quarantine is durable.
func TestOversizedFrameQuarantinedFeedGoesOn(t *testing.T) {
	long := strings.Repeat("很长的描述", 80000) // 1.2 MB
	big := func(limit int) string { return strings.Repeat("很长", limit/3) }
	for _, tc := range []struct {
		name  string
		limit int64 // 0: the default, 1 MiB
		frame []byte
		// wantSeq is in the reason ("seq 2" or "seq unknown"); acked says
		// whether seq 2 is acknowledged.
		wantSeq string
		acked   bool
	}{
		{"default limit, seq before the order", 0,
			[]byte(`{"type":"order","seq":2,"order":{"order_no":"O-2","received_at":"2024-03-06 09:15:27","description":"` + long + `"}}`),
			"seq 2", true},
		{"seq as a string", 4096,
			[]byte(`{"type":"order","seq":"2","order":{"order_no":"O-2","received_at":"2024-03-06 09:15:27","description":"` + big(4096) + `"}}`),
			"seq 2", true},
		{"seq after the order", 4096,
			[]byte(`{"type":"order","order":{"order_no":"O-2","received_at":"2024-03-06 09:15:27","description":"` + big(4096) + `"},"seq":2}`),
			"seq unknown", false},
		{"not JSON", 4096, []byte(strings.Repeat("<html>工单推送失败</html>", 1000)), "seq unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			url := playFrames(t, log, [][]byte{goodFrame(1, "O-1"), tc.frame, goodFrame(3, "O-3")})
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := testConfig(url)
			cfg.MaxMessageBytes = tc.limit
			r := start(t, "12345", cfg, st, em)
			ok := waitFor(5*time.Second, func() bool {
				return log.isAcked(1) && log.isAcked(3) && (!tc.acked || log.isAcked(2))
			})
			r.stop(t)
			em.Wait()
			if !ok {
				t.Fatalf("the feed did not go on past the oversized frame: %d acked, %d connections", log.nAcked(), log.connections())
			}
			if tc.acked != log.isAcked(2) {
				t.Errorf("seq 2 acked %v, want %v", log.isAcked(2), tc.acked)
			}
			limit := cmp.Or(tc.limit, 1<<20)
			qs := em.Quarantined()
			if len(qs) != 1 || len(em.Emitted()) != 2 {
				t.Fatalf("%d quarantined, %d emitted; want 1 and 2", len(qs), len(em.Emitted()))
			}
			q := qs[0]
			wantReason := fmt.Sprintf("frame larger than max_message_bytes (%d bytes): %d bytes, %s; the first %d bytes are kept", limit, len(tc.frame), tc.wantSeq, limit)
			if q.Reason != wantReason || int64(len(q.Raw)) != limit || !strings.HasPrefix(q.Ref, "frame:") {
				t.Errorf("quarantined ref %q, %d raw bytes, reason %q; want %q", q.Ref, len(q.Raw), q.Reason, wantReason)
			}
			if n := log.connections(); n != 1 {
				t.Errorf("%d connections: the oversized frame ended one", n)
			}
		})
	}
}

// A window-respecting feed sends window frames the gateway cannot read,
// then a good order. Those whose seq can still be read are quarantined and
// acked (once durably quarantined), so the feed's window frees; those whose
// seq cannot be read fill it, and the gateway reconnects rather than wait
// in silence for an order that cannot come.
func TestUnreadableOrderFramesDoNotStallTheFeed(t *testing.T) {
	const window = 2
	for _, tc := range []struct {
		name  string
		frame func(seq uint64) []byte
		// seqKnown: the frames' seqs are acked and the good order follows
		// on the first connection; otherwise the gateway reconnects.
		seqKnown bool
	}{
		{"seq as a string", func(seq uint64) []byte {
			return fmt.Appendf(nil, `{"type":"order","seq":"%d","order":%s}`, seq, orderJSON(fmt.Sprint("BAD-", seq)))
		}, true},
		{"data after the object", func(seq uint64) []byte {
			return fmt.Appendf(nil, `{"type":"order","seq":%d,"order":%s} trailing`, seq, orderJSON(fmt.Sprint("BAD-", seq)))
		}, true},
		{"order given twice", func(seq uint64) []byte {
			return fmt.Appendf(nil, `{"type":"order","seq":%d,"order":%s,"Order":%s}`, seq, orderJSON("BAD-A"), orderJSON("BAD-B"))
		}, true},
		{"seq given twice", func(seq uint64) []byte {
			return fmt.Appendf(nil, `{"type":"order","seq":%d,"SEQ":%d,"order":%s}`, seq, seq+100, orderJSON(fmt.Sprint("BAD-", seq)))
		}, false},
		{"no seq", func(seq uint64) []byte {
			return fmt.Appendf(nil, `{"type":"order","sequence":%d,"order":%s}`, seq, orderJSON(fmt.Sprint("BAD-", seq)))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			goodSent := make(chan struct{}, 16)
			url := handServer(t, func(c *websocket.Conn, hello Message) {
				log.hello(hello)
				var mu sync.Mutex
				outstanding := map[uint64]bool{}
				room := make(chan struct{}, 64)
				go log.read(c, func(seqs []uint64) {
					mu.Lock()
					for _, q := range seqs {
						delete(outstanding, q)
					}
					mu.Unlock()
					room <- struct{}{}
				})
				for seq := hello.ResumeAfter + 1; seq <= window+1; seq++ {
					for {
						mu.Lock()
						n := len(outstanding)
						mu.Unlock()
						if n < window {
							break
						}
						select {
						case <-room:
						case <-time.After(10 * time.Second):
							return
						}
					}
					mu.Lock()
					outstanding[seq] = true
					mu.Unlock()
					if seq <= window {
						c.WriteMessage(websocket.TextMessage, tc.frame(seq))
					} else {
						c.WriteJSON(orderFrame(seq, "GOOD-1"))
						goodSent <- struct{}{}
					}
				}
				time.Sleep(10 * time.Second)
			})
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st, MaxDelay: 5 * time.Millisecond}
			var logs conntest.LogBuffer
			cfg := testConfig(url)
			cfg.Window = window
			startLogged(t, "12345", cfg, st, em, &logs)
			if tc.seqKnown {
				select {
				case <-goodSent:
				case <-time.After(5 * time.Second):
					t.Fatalf("feed stalled: %d frames quarantined, the order after them never sent", len(em.Quarantined()))
				}
				if !waitFor(5*time.Second, func() bool { return log.nAcked() == window+1 }) {
					t.Errorf("%d of %d seqs acked", log.nAcked(), window+1)
				}
				if n := log.connections(); n != 1 {
					t.Errorf("%d connections, want 1", n)
				}
			} else {
				if !waitFor(5*time.Second, func() bool { return log.connections() >= 2 }) {
					t.Fatalf("feed stalled in silence: %d frames quarantined, no reconnect", len(em.Quarantined()))
				}
				if !strings.Contains(logs.String(), "fill the feed's window") {
					t.Errorf("the log does not say why the gateway reconnected:\n%s", logs.String())
				}
				if rs := log.resumesAfter(); rs[1] != 0 {
					t.Errorf("second hello resume_after %d: the unread frames were not handled", rs[1])
				}
			}
			qs := em.Quarantined()
			if len(qs) < window {
				t.Fatalf("%d quarantined, want %d", len(qs), window)
			}
			for _, q := range qs[:window] {
				if !strings.HasPrefix(q.Ref, "frame:") || !strings.HasPrefix(string(q.Raw), `{"type":"order"`) {
					t.Errorf("quarantined ref %q raw %q", q.Ref, q.Raw)
				}
			}
			log.mu.Lock()
			notes := append([]Message(nil), log.notes...)
			log.mu.Unlock()
			if len(notes) < window {
				t.Fatalf("%d error notes, want a bad_message for each unreadable frame", len(notes))
			}
			for i, n := range notes[:window] {
				want := uint64(0)
				if tc.seqKnown {
					want = uint64(i + 1)
				}
				if n.Code != CodeBadMessage || n.Seq != want {
					t.Errorf("note %d: %+v, want bad_message with seq %d", i, n, want)
				}
			}
		})
	}
}

// failingDeadLetter emits as conntest.Emitter does and fails every
// quarantine (the dead letter destination is down).
type failingDeadLetter struct {
	conntest.Emitter
	mu    sync.Mutex
	tries int
}

func (e *failingDeadLetter) Quarantine(ctx context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	e.mu.Lock()
	e.tries++
	e.mu.Unlock()
	go ack(minsheng.Outcome{}, errors.New("dead letter unavailable"))
	return nil
}

func (e *failingDeadLetter) attempts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tries
}

// A frame the gateway cannot read, seq 1, is followed by a good order,
// seq 2, and the dead letter refuses the frame: the checkpoint must not
// pass seq 1 (nor ack it), so the feed sends it again.
func TestUnreadableFrameHeldWhileNotQuarantined(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"seq readable", append(goodFrame(1, "A-1"), " trailing"...)},
		{"seq unknown", []byte("工单推送失败 <html>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			url := playFrames(t, log, [][]byte{tc.frame, goodFrame(2, "A-2")})
			st := openStore(t, t.TempDir())
			em := &failingDeadLetter{Emitter: conntest.Emitter{Ledger: st}}
			r := start(t, "12345", testConfig(url), st, em)
			ok := waitFor(5*time.Second, func() bool { return log.connections() >= 3 && log.isAcked(2) })
			r.stop(t)
			if !ok {
				t.Fatalf("%d connections, seq 2 acked %v: want the frame sent again", log.connections(), log.isAcked(2))
			}
			if ck := readCheckpoint(t, st, "12345"); ck.Acked != 0 || log.isAcked(1) || em.attempts() < 2 {
				t.Errorf("checkpoint %+v, seq 1 acked %v, %d quarantine attempts; resume_after per connection %v",
					ck, log.isAcked(1), em.attempts(), log.resumesAfter())
			}
			for i, ra := range log.resumesAfter() {
				if ra != 0 {
					t.Errorf("connection %d resumed after %d: past the frame that was not quarantined", i+1, ra)
				}
			}
		})
	}
}

// slowPipeline acks every item after delay, or with fail's error at once
// when fail returns one: a pipeline with a slow or failing destination.
type slowPipeline struct {
	delay time.Duration
	fail  func(it *minsheng.Item) error
	mu    sync.Mutex
	n     int
	refs  map[string]bool // emitted
	wg    sync.WaitGroup
}

func (e *slowPipeline) count() int { e.mu.Lock(); defer e.mu.Unlock(); return e.n }

func (e *slowPipeline) emitted(ref string) bool { e.mu.Lock(); defer e.mu.Unlock(); return e.refs[ref] }

func (e *slowPipeline) Emit(ctx context.Context, it *minsheng.Item, ack minsheng.AckFunc) error {
	e.mu.Lock()
	e.n++
	if e.refs == nil {
		e.refs = map[string]bool{}
	}
	e.refs[it.Ref] = true
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if e.fail != nil {
			if err := e.fail(it); err != nil {
				ack(minsheng.Outcome{}, err)
				return
			}
		}
		time.Sleep(e.delay)
		ack(minsheng.Outcome{ItemID: it.ID}, nil)
	}()
	return nil
}

func (e *slowPipeline) Quarantine(ctx context.Context, q *minsheng.Quarantined, ack minsheng.AckFunc) error {
	go ack(minsheng.Outcome{}, nil)
	return nil
}

// The gateway stops (its sources' context ends, then the pipeline drains)
// while 8 orders are in the pipeline: the connector waits for their acks,
// up to drain_timeout, sends them to the feed and writes them in its final
// checkpoint before it returns.
func TestStopWaitsForOwedAcks(t *testing.T) {
	for _, tc := range []struct {
		name         string
		delay, drain time.Duration
		wantAcked    int
	}{
		{"drained within drain_timeout", 300 * time.Millisecond, 5 * time.Second, 8},
		{"drain_timeout passes first", 1500 * time.Millisecond, 200 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim := NewSim(SimOptions{Token: testToken, Stream: "stop"})
			sim.Append(Generate(8, 1, time.Date(2024, 3, 6, 8, 0, 0, 0, cst), 9)...)
			st := openStore(t, t.TempDir())
			em := &slowPipeline{delay: tc.delay}
			defer em.wg.Wait()
			cfg := testConfig(serveSim(t, sim))
			cfg.DrainTimeout = tc.drain
			r := start(t, "12345", cfg, st, em)
			if !waitFor(3*time.Second, func() bool { return em.count() == 8 }) {
				t.Fatalf("%d of 8 orders emitted", em.count())
			}
			began := time.Now()
			r.stop(t)
			if took := time.Since(began); took > min(tc.delay, tc.drain)+time.Second {
				t.Errorf("Run took %v to return after cancel (delay %v, drain_timeout %v)", took, tc.delay, tc.drain)
			}
			ck := readCheckpoint(t, st, "12345")
			// The acks were sent before Run returned; the feed reads them
			// in its own time.
			waitFor(2*time.Second, func() bool { return sim.Stats().Acked >= tc.wantAcked })
			if s := sim.Stats(); int(ck.Acked) != tc.wantAcked || s.Acked != tc.wantAcked {
				t.Errorf("final checkpoint %d, feed got %d acks; want %d", ck.Acked, s.Acked, tc.wantAcked)
			}
		})
	}
}

// One order fails (its destination is down) while others are in the
// pipeline: the gateway acks each of those on the same connection once it
// is handled, then closes it and resumes below the failed order. (Orders
// still queued when the failure is seen are not emitted; they come again.)
func TestFailedOrderConnectionClosesAfterOwedAcks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failed uint64 // the seq whose order fails, of 1…6
	}{
		{"first fails", 1},
		{"middle fails", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			var mu sync.Mutex
			firstAcks := map[uint64]bool{}
			firstDone := make(chan struct{}) // the first connection was closed
			url := handServer(t, func(c *websocket.Conn, hello Message) {
				first := log.hello(hello) == 1
				if first {
					for seq := uint64(1); seq <= 6; seq++ {
						c.WriteJSON(orderFrame(seq, fmt.Sprint("F-", seq)))
					}
				}
				log.read(c, func(seqs []uint64) {
					if first {
						mu.Lock()
						for _, q := range seqs {
							firstAcks[q] = true
						}
						mu.Unlock()
					}
				})
				if first {
					close(firstDone)
				}
			})
			st := openStore(t, t.TempDir())
			failRef := fmt.Sprint("F-", tc.failed)
			em := &slowPipeline{delay: 200 * time.Millisecond, fail: func(it *minsheng.Item) error {
				if it.Ref == failRef {
					return errors.New("destination down")
				}
				return nil
			}}
			defer em.wg.Wait()
			r := start(t, "12345", testConfig(url), st, em)
			ok := waitFor(5*time.Second, func() bool { return log.connections() >= 2 })
			r.stop(t)
			if !ok {
				t.Fatal("no second connection after the failed order")
			}
			<-firstDone
			mu.Lock()
			defer mu.Unlock()
			for seq := uint64(1); seq <= 6; seq++ {
				emitted := em.emitted(fmt.Sprint("F-", seq))
				if want := emitted && seq != tc.failed; firstAcks[seq] != want {
					t.Errorf("seq %d (emitted %v) acked on the first connection: %v", seq, emitted, firstAcks[seq])
				}
			}
			if rs := log.resumesAfter(); rs[1] != tc.failed-1 {
				t.Errorf("second connection resumed after %d, want %d (below the failed order)", rs[1], tc.failed-1)
			}
		})
	}
}
