package hotline

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// SimOptions configure the feed simulator.
type SimOptions struct {
	// Token the gateway must present in hello.
	Token string
	// Stream is the stream ID sent in welcome (default "sim").
	Stream string
	// Rate caps orders per second on each connection; 0 sends as fast as
	// the window allows.
	Rate float64
	// DropAfter > 0 cuts the TCP connection (no close frame: a network
	// cut) after that many orders were sent on a connection, Drops times
	// in all (every connection when Drops is 0).
	DropAfter int
	Drops     int
	// Replay: on a resume, start this many orders before the one asked
	// for, so orders the gateway already handled come again.
	Replay int
	// IgnoreWindow makes the simulator misbehave: it sends without waiting
	// for acks, to test that the gateway bounds its own in-flight orders.
	IgnoreWindow bool
	// Logger for connection events (no order content is logged).
	Logger *slog.Logger
}

// Sim is a hotline feed server speaking the protocol in README.md. It
// holds an append-only log of orders (seq n is the n-th appended), sends
// each connection the orders after its resume point within its window, and
// records acks. It serves HTTP: mount it at any path.
type Sim struct {
	opts     SimOptions
	upgrader websocket.Upgrader

	mu       sync.Mutex
	log      [][]byte
	acked    []bool
	nAcked   int
	appended chan struct{} // closed and replaced on every Append
	ackedCh  chan struct{} // closed and replaced on every new ack
	stats    SimStats
	drops    int
}

// SimStats are the simulator's counters.
type SimStats struct {
	Orders      int // in the log
	Acked       int // distinct seqs acked
	Sent        int // order messages sent, redeliveries included
	Redelivered int // sent again after it had been acked
	Connections int
	Drops       int // connections cut
	// MaxUnacked is the most orders any connection had sent and not had acked.
	MaxUnacked int
	// UnknownAcks counts acks of seqs not outstanding on that connection
	// (re-acks of redelivered orders land here too).
	UnknownAcks int
}

// NewSim returns an empty simulator.
func NewSim(o SimOptions) *Sim {
	if o.Stream == "" {
		o.Stream = "sim"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sim{
		opts: o,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{Subprotocol},
			// The feed is for servers, not browsers: no Origin to check.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		appended: make(chan struct{}),
		ackedCh:  make(chan struct{}),
	}
}

// Append adds orders to the log and returns the last one's seq.
func (s *Sim) Append(orders ...*WorkOrder) uint64 {
	raws := make([][]byte, len(orders))
	for i, o := range orders {
		raws[i], _ = json.Marshal(o)
	}
	return s.AppendRaw(raws...)
}

// AppendRaw adds orders given as JSON (malformed ones too, for tests).
func (s *Sim) AppendRaw(raws ...[]byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range raws {
		s.log = append(s.log, r)
		s.acked = append(s.acked, false)
	}
	s.stats.Orders = len(s.log)
	close(s.appended)
	s.appended = make(chan struct{})
	return uint64(len(s.log))
}

// LoadJSONLines appends one order per non-empty line of r.
func (s *Sim) LoadJSONLines(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var raws [][]byte
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			raws = append(raws, append([]byte(nil), line...))
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	s.AppendRaw(raws...)
	return len(raws), nil
}

// Stats returns the counters.
func (s *Sim) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Acked = s.nAcked
	return st
}

// WaitAcked blocks until every order in the log (at least n of them) has
// been acked, or ctx ends.
func (s *Sim) WaitAcked(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		done := s.nAcked >= n && s.nAcked == len(s.log)
		ch := s.ackedCh
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ServeHTTP upgrades to WebSocket and serves one gateway connection.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	s.mu.Lock()
	s.stats.Connections++
	s.mu.Unlock()
	if err := s.serve(r.Context(), conn); err != nil {
		s.opts.Logger.Info("sim: connection ended", "remote", r.RemoteAddr, "err", err)
	}
}

func (s *Sim) fail(conn *websocket.Conn, code, msg string, closeCode int) error {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	conn.WriteJSON(&Message{Type: TypeError, Code: code, Message: msg})
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(closeCode, code), time.Now().Add(time.Second))
	return fmt.Errorf("%s: %s", code, msg)
}

func (s *Sim) serve(ctx context.Context, conn *websocket.Conn) error {
	conn.SetReadLimit(1 << 20)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		return err
	}
	hello, err := DecodeMessage(b)
	switch {
	case err != nil:
		return s.fail(conn, CodeBadRequest, err.Error(), websocket.CloseProtocolError)
	case hello.Type != TypeHello:
		return s.fail(conn, CodeBadRequest, "expected hello", websocket.CloseProtocolError)
	case subtle.ConstantTimeCompare([]byte(hello.Token), []byte(s.opts.Token)) != 1:
		return s.fail(conn, CodeUnauthorized, "bad token", websocket.ClosePolicyViolation)
	case hello.Protocol < ProtocolVersion:
		return s.fail(conn, CodeUnsupportedProtocol, "this feed speaks protocol 1", websocket.ClosePolicyViolation)
	}
	window := hello.Window
	if window <= 0 {
		window = 256
	}
	next := uint64(1)
	if hello.Stream == s.opts.Stream {
		// resume_after N acknowledges every seq up to N.
		s.mu.Lock()
		upto := min(hello.ResumeAfter, uint64(len(s.log)))
		s.mu.Unlock()
		seqs := make([]uint64, 0, upto)
		for q := uint64(1); q <= upto; q++ {
			seqs = append(seqs, q)
		}
		s.markAcked(seqs)
		next = hello.ResumeAfter + 1
		if s.opts.Replay > 0 {
			next = max(1, next-uint64(min(uint64(s.opts.Replay), next-1)))
		}
	}
	conn.SetReadDeadline(time.Time{})
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := conn.WriteJSON(&Message{Type: TypeWelcome, Protocol: ProtocolVersion, Server: "minsheng-hotline-sim",
		Stream: s.opts.Stream, NextSeq: next}); err != nil {
		return err
	}

	// This connection's outstanding orders: sent and not acked.
	var omu sync.Mutex
	outstanding := map[uint64]bool{}
	ackSignal := make(chan struct{}, 1)
	readerDone := make(chan error, 1)
	go func() { // the connection's one reader
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				readerDone <- err
				return
			}
			m, err := DecodeMessage(b)
			if err != nil || m.Type != TypeAck {
				continue // error notes from the gateway and unknown types are ignored
			}
			omu.Lock()
			for _, q := range m.Seqs {
				if outstanding[q] {
					delete(outstanding, q)
				} else {
					s.mu.Lock()
					s.stats.UnknownAcks++
					s.mu.Unlock()
				}
			}
			omu.Unlock()
			s.markAcked(m.Seqs)
			select {
			case ackSignal <- struct{}{}:
			default:
			}
		}
	}()

	var tick <-chan time.Time
	if s.opts.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / s.opts.Rate))
		defer t.Stop()
		tick = t.C
	}
	sentHere := 0
	for seq := next; ; seq++ {
		// Wait for the order to exist and for room in the window.
		for {
			s.mu.Lock()
			have := seq <= uint64(len(s.log))
			appended := s.appended
			s.mu.Unlock()
			omu.Lock()
			room := s.opts.IgnoreWindow || len(outstanding) < window
			omu.Unlock()
			if have && room {
				break
			}
			select {
			case <-appended:
			case <-ackSignal:
			case err := <-readerDone:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if tick != nil {
			select {
			case <-tick:
			case err := <-readerDone:
				return err
			}
		}
		s.mu.Lock()
		raw := s.log[seq-1]
		s.stats.Sent++
		s.mu.Unlock()
		omu.Lock()
		outstanding[seq] = true
		n := len(outstanding)
		omu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := conn.WriteJSON(&Message{Type: TypeOrder, Seq: seq, Order: raw}); err != nil {
			return err
		}
		s.mu.Lock()
		s.stats.MaxUnacked = max(s.stats.MaxUnacked, n)
		if s.acked[seq-1] {
			s.stats.Redelivered++
		}
		s.mu.Unlock()
		sentHere++
		if s.opts.DropAfter > 0 && sentHere >= s.opts.DropAfter && s.takeDrop() {
			conn.UnderlyingConn().Close() // a network cut: no close frame
			return fmt.Errorf("dropped after %d orders", sentHere)
		}
	}
}

func (s *Sim) takeDrop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Drops > 0 && s.drops >= s.opts.Drops {
		return false
	}
	s.drops++
	s.stats.Drops++
	return true
}

func (s *Sim) markAcked(seqs []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, q := range seqs {
		if q >= 1 && q <= uint64(len(s.acked)) && !s.acked[q-1] {
			s.acked[q-1] = true
			s.nAcked++
			changed = true
		}
	}
	if changed {
		close(s.ackedCh)
		s.ackedCh = make(chan struct{})
	}
}
