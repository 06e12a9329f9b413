package hotline

// Feeds that misbehave, written by hand so they can send what the
// simulator never would, and pipelines that fail or are slow.

import (
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
	up := websocket.Upgrader{Subprotocols: []string{Subprotocol}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		var hello Message
		if c.ReadJSON(&hello) != nil || hello.Token != testToken {
			return
		}
		c.WriteJSON(Message{Type: TypeWelcome, Protocol: 1, Stream: "hand", NextSeq: hello.ResumeAfter + 1})
		script(c, hello)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
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
