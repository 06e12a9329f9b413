// Package hotline is the 12345 hotline connector (type "hotline"): the
// gateway connects to the call centre's work-order feed over WebSocket,
// authenticates, resumes after its last acknowledged sequence number,
// receives work orders and acknowledges each one after it has been routed.
//
// The protocol is specified in README.md; Sim (sim.go) is a feed server
// that speaks it, for demos, tests and benchmarks.
package hotline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/ackwindow"
	"github.com/minsheng/minsheng/connectors/internal/saver"
	"github.com/minsheng/minsheng/connectors/internal/timefmt"
)

// Type is the connector type name used in configuration.
const Type = "hotline"

func init() {
	connectors.RegisterConfig(Type, New)
}

// Config is the hotline connector's configuration section.
type Config struct {
	// URL of the call centre's feed: wss://host/path. ws:// only to a
	// loopback host, or with AllowPlaintext.
	URL string `yaml:"url" json:"url" validate:"required,url,startswith=ws:|startswith=wss:"`
	// AllowPlaintext accepts a ws:// URL whose host is not a loopback
	// address: the token, and every caller's name and phone, then cross
	// the network in clear. Only for a feed on a network the bureau
	// trusts end to end (a private link, or TLS ended by a proxy beside
	// the gateway).
	AllowPlaintext bool `yaml:"allow_plaintext" json:"allow_plaintext"`
	// TokenEnv / TokenFile name where the feed token is kept; one is
	// required. The file is re-read at every connection.
	TokenEnv  string `yaml:"token_env" json:"token_env" validate:"required_without=TokenFile"`
	TokenFile string `yaml:"token_file" json:"token_file"`
	// CAFile: PEM certificates to trust for wss:// besides the system's.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// Channel the orders are filed under.
	Channel minsheng.Channel `yaml:"channel" json:"channel" default:"hotline" validate:"oneof=hotline newspaper broadcaster message_board mayor_mailbox petition_bureau department village"`
	// Window: most orders received and not yet acknowledged (back-pressure);
	// sent to the server in hello.
	Window int `yaml:"window" json:"window" default:"256" validate:"gte=1,lte=100000"`
	// PingInterval between keepalive pings; IdleTimeout: the connection is
	// dropped when nothing (frame or pong) arrives for this long.
	PingInterval time.Duration `yaml:"ping_interval" json:"ping_interval" default:"20s" validate:"gt=0"`
	IdleTimeout  time.Duration `yaml:"idle_timeout" json:"idle_timeout" default:"60s" validate:"gtfield=PingInterval"`
	// HandshakeTimeout bounds the WebSocket handshake and hello/welcome.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout" json:"handshake_timeout" default:"10s" validate:"gt=0"`
	// MinBackoff and MaxBackoff bound the reconnect backoff.
	MinBackoff time.Duration `yaml:"min_backoff" json:"min_backoff" default:"500ms" validate:"gt=0"`
	MaxBackoff time.Duration `yaml:"max_backoff" json:"max_backoff" default:"30s" validate:"gtefield=MinBackoff"`
	// MaxMessageBytes caps one frame.
	MaxMessageBytes int64 `yaml:"max_message_bytes" json:"max_message_bytes" default:"1048576" validate:"gte=1024"`
	// TimeZone of received_at values written without a zone.
	TimeZone string `yaml:"time_zone" json:"time_zone" default:"Asia/Shanghai"`
	// CheckpointEvery: how often the acknowledged sequence number is
	// written (and always when a connection ends and on shutdown).
	CheckpointEvery time.Duration `yaml:"checkpoint_every" json:"checkpoint_every" default:"1s" validate:"gt=0"`
	// DrainTimeout: on shutdown, how long to wait for the acks of orders
	// the pipeline still holds (it drains them) before closing the
	// connection and writing the final checkpoint. At most the gateway's
	// shutdown_timeout (the gateway checks: connectors.Drainer); left
	// out (or 0), 30s or shutdown_timeout if that is shorter.
	DrainTimeout time.Duration `yaml:"drain_timeout" json:"drain_timeout" validate:"gte=0"`
}

// Validate refuses a URL the WebSocket client cannot dial: one with a user
// name or password (gorilla/websocket refuses it as malformed), with no
// host, or with a port that is empty or not 1-65535; and a ws:// URL to a
// host other than this machine without AllowPlaintext, which would send
// the token in clear. Its messages never quote the URL, which may hold a
// secret.
func (c *Config) Validate() minsheng.FieldErrors {
	u, err := url.Parse(c.URL)
	if err != nil || c.URL == "" || (u.Scheme != "ws" && u.Scheme != "wss") {
		return nil // the url tag names it
	}
	msg := ""
	switch {
	case u.User != nil:
		msg = "must not hold a user name or password (the WebSocket client refuses them); give the token in token_env or token_file"
	case u.Hostname() == "":
		msg = "has no host"
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			msg = "has a port that is not 1-65535"
		}
	}
	if msg == "" && u.Scheme == "ws" && !c.AllowPlaintext && !loopback(u.Hostname()) {
		msg = "is ws:// to a host that is not a loopback address: the feed's token and the callers' names and phones would cross the network in clear; use wss://, or set allow_plaintext: true for a network you trust end to end"
	}
	if msg == "" {
		return nil
	}
	return minsheng.FieldErrors{{Path: "url", Msg: msg}}
}

// loopback reports whether host names this machine: localhost, an
// address in 127.0.0.0/8 or ::1.
func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) applyDefaults() {
	if c.Channel == "" {
		c.Channel = minsheng.ChannelHotline
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PingInterval, 20*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.CheckpointEvery, time.Second)
	def(&c.DrainTimeout, 30*time.Second)
	if c.Window == 0 {
		c.Window = 256
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1 << 20
	}
}

// Hotline is a running hotline connector.
type Hotline struct {
	name string
	cfg  Config
	// drainSet: drain_timeout was configured, not defaulted.
	drainSet bool
	env      connectors.Env
	log      *slog.Logger
	loc      *time.Location
	dialer   *websocket.Dialer
	key      string

	connected prometheus.Gauge
	orders    *prometheus.CounterVec

	mu    sync.Mutex // guards ck and dirty
	ck    checkpoint
	dirty bool
}

// checkpoint is what the state store keeps: the stream and the last
// sequence number such that it and every one before it were acknowledged.
type checkpoint struct {
	Stream string `json:"stream"`
	Acked  uint64 `json:"acked"`
}

// New builds a hotline connector named name.
func New(name string, cfg Config, env connectors.Env) (*Hotline, error) {
	drainSet := cfg.DrainTimeout != 0
	cfg.applyDefaults()
	if err := minsheng.Validator().Struct(cfg); err != nil {
		return nil, minsheng.ValidationErrors(err, "Config")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	loc, err := timefmt.Location(cfg.TimeZone)
	if err != nil {
		return nil, minsheng.FieldErrors{{Path: "time_zone", Msg: err.Error()}}
	}
	h := &Hotline{
		name: name, cfg: cfg, drainSet: drainSet, env: env, loc: loc, log: env.Logger, key: "hotline/" + name,
		dialer: &websocket.Dialer{
			HandshakeTimeout: cfg.HandshakeTimeout,
			Subprotocols:     []string{Subprotocol},
			Proxy:            http.ProxyFromEnvironment,
		},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if _, err := h.token(); err != nil {
		return nil, err
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, minsheng.FieldErrors{{Path: "ca_file", Msg: err.Error()}}
		}
		pool, _ := x509.SystemCertPool()
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, minsheng.FieldErrors{{Path: "ca_file", Msg: "holds no PEM certificate"}}
		}
		h.dialer.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	labels := prometheus.Labels{"instance": name}
	h.connected = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "minsheng_hotline_connected", Help: "1 while the feed connection is up.", ConstLabels: labels,
	})
	h.orders = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "minsheng_hotline_orders_total", Help: "Work orders received, by outcome (emitted, redelivered, quarantined).", ConstLabels: labels,
	}, []string{"outcome"})
	if env.Metrics != nil {
		for _, c := range []prometheus.Collector{h.connected, h.orders} {
			if err := env.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("hotline %s: metrics: %w", name, err)
			}
		}
	}
	return h, nil
}

// DrainTimeout is drain_timeout, and whether the configuration set it
// (connectors.Drainer).
func (h *Hotline) DrainTimeout() (string, time.Duration, bool) {
	return "drain_timeout", h.cfg.DrainTimeout, h.drainSet
}

// LimitDrain shortens drain_timeout to at most d (connectors.Drainer); the
// gateway calls it, before Start, for a drain_timeout left to its default.
func (h *Hotline) LimitDrain(d time.Duration) { h.cfg.DrainTimeout = min(h.cfg.DrainTimeout, d) }

func (h *Hotline) token() (string, error) {
	t, err := minsheng.ReadSecretField("token_env", h.cfg.TokenEnv, "token_file", h.cfg.TokenFile)
	if err != nil {
		return "", err
	}
	if t = strings.TrimSpace(t); t == "" {
		return "", minsheng.FieldErrors{{Path: "token_file", Msg: fmt.Sprintf("secret file %s is empty", h.cfg.TokenFile)}}
	}
	return t, nil
}

// Run connects, and reconnects with backoff, until ctx is cancelled.
func (h *Hotline) Run(ctx context.Context, out minsheng.Emitter) error {
	if h.env.Checkpoints == nil {
		return errors.New("hotline: no checkpoint store")
	}
	raw, err := h.env.Checkpoints.Get(ctx, h.key)
	if err != nil {
		return fmt.Errorf("hotline %s: read checkpoint: %w", h.name, err)
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &h.ck); err != nil {
			return fmt.Errorf("hotline %s: checkpoint %s is corrupt: %w", h.name, h.key, err)
		}
	}
	stopSaver := h.startSaver(ctx)
	defer stopSaver()
	attempt := 0
	for {
		delivered, err := h.session(ctx, out)
		h.connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if delivered > 0 {
			attempt = 0
		}
		wait := backoff(attempt, h.cfg.MinBackoff, h.cfg.MaxBackoff)
		attempt++
		var pe *peerError
		if errors.As(err, &pe) && (pe.code == CodeUnauthorized || pe.code == CodeUnsupportedProtocol) {
			wait = h.cfg.MaxBackoff
			h.log.Error("feed refused the gateway; check token and protocol version", "code", pe.code, "retry_in", wait)
		} else {
			h.log.Warn("feed connection ended; reconnecting", "err", err, "delivered", delivered, "retry_in", wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// startSaver writes the checkpoint every CheckpointEvery while it changes,
// and once more when stopped.
func (h *Hotline) startSaver(ctx context.Context) (stop func()) {
	return saver.Start(ctx, h.cfg.CheckpointEvery, func(c context.Context) error { h.save(c); return nil }, h.log)
}

func (h *Hotline) save(ctx context.Context) {
	h.mu.Lock()
	if !h.dirty {
		h.mu.Unlock()
		return
	}
	raw, _ := json.Marshal(h.ck)
	h.dirty = false
	h.mu.Unlock()
	if err := h.env.Checkpoints.Put(ctx, h.key, raw); err != nil {
		h.mu.Lock()
		h.dirty = true
		h.mu.Unlock()
		h.log.Warn("checkpoint not written", "err", err)
	}
}

// peerError is an error message from the feed.
type peerError struct{ code, msg string }

func (e *peerError) Error() string { return "feed error " + e.code + ": " + e.msg }

// feedAddr is the feed's URL as errors and logs name it: its scheme, host
// and path, without the query, user info or fragment, where a key may
// have been put (the token itself comes from token_env or token_file).
func feedAddr(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the feed (its url does not parse)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// session is one connection: dial, hello, welcome, then orders until the
// connection ends; it returns after every order it emitted was acked (or
// ctx ended), with how many orders it emitted.
func (h *Hotline) session(ctx context.Context, out minsheng.Emitter) (delivered int, err error) {
	token, err := h.token()
	if err != nil {
		return 0, err
	}
	dctx, cancel := context.WithTimeout(ctx, h.cfg.HandshakeTimeout)
	conn, resp, err := h.dialer.DialContext(dctx, h.cfg.URL, nil)
	cancel()
	if err != nil {
		if resp != nil {
			return 0, fmt.Errorf("dial %s: %w (HTTP %d)", feedAddr(h.cfg.URL), err, resp.StatusCode)
		}
		return 0, fmt.Errorf("dial %s: %w", feedAddr(h.cfg.URL), err)
	}
	defer conn.Close()
	// The welcome is read whole, within the limit; after it the reader
	// limits each frame itself (see readFrame).
	conn.SetReadLimit(h.cfg.MaxMessageBytes)

	h.mu.Lock()
	ck := h.ck
	h.mu.Unlock()
	// Handshake, before the reader and writer start: this goroutine is the
	// connection's only reader and writer until then.
	deadline := time.Now().Add(h.cfg.HandshakeTimeout)
	conn.SetWriteDeadline(deadline)
	if err := conn.WriteJSON(&Message{Type: TypeHello, Protocol: ProtocolVersion, Client: clientName(),
		Token: token, Stream: ck.Stream, ResumeAfter: ck.Acked, Window: h.cfg.Window}); err != nil {
		return 0, fmt.Errorf("hello: %w", err)
	}
	conn.SetReadDeadline(deadline)
	_, b, err := conn.ReadMessage()
	if err != nil {
		return 0, fmt.Errorf("waiting for welcome: %w", err)
	}
	w, err := DecodeMessage(b)
	switch {
	case err != nil:
		return 0, fmt.Errorf("welcome: %w", err)
	case w.Type == TypeError:
		return 0, &peerError{w.Code, w.Message}
	case w.Type != TypeWelcome:
		return 0, fmt.Errorf("expected welcome, got %q", w.Type)
	case w.Protocol != ProtocolVersion:
		return 0, &peerError{CodeUnsupportedProtocol, fmt.Sprintf("server speaks protocol %d", w.Protocol)}
	}
	if w.Stream != ck.Stream {
		if ck.Stream != "" {
			h.log.Warn("feed stream changed; its sequence numbers start over (repeats are recognised by order number)",
				"old", ck.Stream, "new", w.Stream)
		}
		ck = checkpoint{Stream: w.Stream}
		h.mu.Lock()
		h.ck, h.dirty = ck, true
		h.mu.Unlock()
	}
	if w.NextSeq > ck.Acked+1 {
		h.log.Warn("feed no longer holds some orders after the checkpoint", "acked", ck.Acked, "next_seq", w.NextSeq)
	}
	conn.SetReadLimit(0)
	h.connected.Set(1)
	h.log.Info("feed connected", "stream", w.Stream, "resume_after", ck.Acked, "next_seq", w.NextSeq)

	s := &session{h: h, conn: conn, out: out, win: ackwindow.New[uint64](), acked: ck.Acked, stream: ck.Stream,
		frames: make(chan frame, h.cfg.Window), acks: newAckQueue(),
		notes: make(chan *Message, 16), failed: make(chan struct{}, 1)}
	s.ceiling = math.MaxUint64
	return s.run(ctx)
}

func clientName() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return "minsheng/" + v
}

// frame is one message read from the feed. A frame larger than
// MaxMessageBytes (oversize) holds its first MaxMessageBytes bytes; size
// and sum (hash12 of all its bytes) describe it whole.
type frame struct {
	data     []byte
	binary   bool
	oversize bool
	size     int64
	sum      string
}

// session is the state of one connection. The reader goroutine reads
// frames, the writer goroutine writes acks, notes and pings; the session's
// own goroutine decodes and emits.
type session struct {
	h      *Hotline
	conn   *websocket.Conn
	out    minsheng.Emitter
	win    *ackwindow.Window[uint64]
	acked  uint64 // checkpoint at connect: seqs at or below are handled
	stream string
	frames chan frame
	acks   *ackQueue
	notes  chan *Message
	failed chan struct{}
	// ceiling caps the checkpoint: a seq received and refused (not
	// handled) must be sent again, so resume_after stays below it.
	// Guarded by h.mu.
	ceiling uint64
}

func (s *session) run(ctx context.Context) (int, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	finish := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.reader(sctx, cancel) }()
	written := make(chan struct{})
	go func() { defer close(written); s.writer(cancel, finish) }()
	delivered, err := s.dispatch(sctx)
	cancel(err)
	// dispatch returns nil, or sctx's own error from an Emit or Quarantine
	// waiting for room, when the reader or writer ended the connection:
	// why is sctx's cause (the read or write error, the feed's close frame).
	if err == nil || errors.Is(err, sctx.Err()) {
		err = context.Cause(sctx)
	}
	// Wait for every ack owed, while the writer sends them: the feed need
	// not send those orders again, and the checkpoint is exact before the
	// next connection asks to resume or the final one is written.
	s.awaitAcks(ctx)
	// The ack window reports idle before the last ack's callback has moved
	// the checkpoint: move it now, so that the checkpoint written next
	// holds every ack sent.
	s.advance()
	close(finish)
	<-written
	s.conn.Close() // unblocks the reader
	wg.Wait()
	return delivered, err
}

// awaitAcks waits until no ack is owed. When ctx ends (the gateway is
// stopping, and its pipeline drains what it holds) it waits up to
// DrainTimeout more.
func (s *session) awaitAcks(ctx context.Context) {
	select {
	case <-s.win.Idle():
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(s.h.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-s.win.Idle():
	case <-t.C:
		s.h.log.Warn("stopping before every order was acknowledged; the feed will send those again",
			"pending", s.win.Pending(), "drain_timeout", s.h.cfg.DrainTimeout)
	}
}

func (s *session) reader(ctx context.Context, cancel context.CancelCauseFunc) {
	idle := s.h.cfg.IdleTimeout
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(idle)) })
	for {
		s.conn.SetReadDeadline(time.Now().Add(idle))
		typ, r, err := s.conn.NextReader()
		if err != nil {
			cancel(fmt.Errorf("read: %w", err))
			return
		}
		f, err := s.readFrame(&activeReader{r: r, conn: s.conn, idle: idle})
		if err != nil {
			cancel(fmt.Errorf("read: %w", err))
			return
		}
		if typ != websocket.TextMessage {
			f.binary = true
			f.data = append([]byte("binary frame: "), f.data...)
		}
		select {
		case s.frames <- f:
		case <-ctx.Done():
			return
		}
	}
}

// readFrame reads one message. One larger than MaxMessageBytes is not
// read into memory whole: its first MaxMessageBytes bytes are kept and the
// rest is read and discarded, so that the connection (and the feed behind
// the frame) goes on; the frame is then quarantined. (gorilla/websocket's
// read limit would close the connection instead, and the feed would send
// the frame again on the next, forever.)
func (s *session) readFrame(r io.Reader) (frame, error) {
	limit := s.h.cfg.MaxMessageBytes
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return frame{}, err
	}
	if int64(len(b)) <= limit {
		return frame{data: b, size: int64(len(b))}, nil
	}
	h := sha256.New()
	h.Write(b)
	rest, err := io.Copy(h, r)
	if err != nil {
		return frame{}, fmt.Errorf("discarding the rest of a frame over max_message_bytes: %w", err)
	}
	return frame{data: b[:limit], oversize: true, size: int64(len(b)) + rest, sum: hex.EncodeToString(h.Sum(nil)[:6])}, nil
}

// activeReader pushes the connection's read deadline back after every read
// that returns bytes: the connection is idle when nothing arrives for the
// idle timeout, not when a large frame takes longer than that to arrive.
type activeReader struct {
	r    io.Reader
	conn *websocket.Conn
	idle time.Duration
}

func (a *activeReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.conn.SetReadDeadline(time.Now().Add(a.idle))
	}
	return n, err
}

// writer sends acks (batched), notes and pings until finish is closed,
// then what is queued and the close frame; or until a write fails.
func (s *session) writer(cancel context.CancelCauseFunc, finish <-chan struct{}) {
	ping := time.NewTicker(s.h.cfg.PingInterval)
	defer ping.Stop()
	wt := s.h.cfg.HandshakeTimeout
	write := func(m *Message) bool {
		s.conn.SetWriteDeadline(time.Now().Add(wt))
		if err := s.conn.WriteJSON(m); err != nil {
			cancel(fmt.Errorf("write: %w", err))
			return false
		}
		return true
	}
	// writeAcks sends every ack queued, up to 512 seqs a message.
	writeAcks := func() bool {
		for {
			seqs := s.acks.take(512)
			if len(seqs) == 0 {
				return true
			}
			if !write(&Message{Type: TypeAck, Seqs: seqs}) {
				return false
			}
		}
	}
	for {
		select {
		case <-finish:
			for {
				select {
				case <-s.acks.ready:
					if !writeAcks() {
						return
					}
				case m := <-s.notes:
					if !write(m) {
						return
					}
				default:
					// Pushed but not yet signalled: sent too.
					if !writeAcks() {
						return
					}
					s.conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseGoingAway, "gateway reconnecting or stopping"), time.Now().Add(time.Second))
					return
				}
			}
		case <-s.acks.ready:
			if !writeAcks() {
				return
			}
		case m := <-s.notes:
			if !write(m) {
				return
			}
		case <-ping.C:
			if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wt)); err != nil {
				cancel(fmt.Errorf("ping: %w", err))
				return
			}
		}
	}
}

// ack queues a seq for the writer. It never blocks and, while the
// connection is up, never drops an ack: the window bounds the acks of
// orders, but not the re-acks of orders handled before (a feed replaying
// its backlog from next_seq 1 sends any number), and a feed that writes
// before it reads leaves the writer blocked meanwhile. (The queue holds
// 8 bytes for each frame of at least 30 read, and a writer blocked past its
// write deadline ends the connection.) After the connection ended the
// ack is not sent (the checkpoint still records it and the next hello
// resumes).
func (s *session) ack(seq uint64) { s.acks.push(seq) }

// ackQueue holds the seqs to acknowledge, for the writer; ready is
// signalled (coalescing) when one is pushed.
type ackQueue struct {
	mu    sync.Mutex
	seqs  []uint64
	ready chan struct{}
}

func newAckQueue() *ackQueue { return &ackQueue{ready: make(chan struct{}, 1)} }

func (q *ackQueue) push(seq uint64) {
	q.mu.Lock()
	q.seqs = append(q.seqs, seq)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take removes and returns up to n seqs, oldest first.
func (q *ackQueue) take(n int) []uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.seqs))
	out := append([]uint64(nil), q.seqs[:n]...)
	q.seqs = q.seqs[n:]
	if len(q.seqs) == 0 {
		q.seqs = nil // let the backing array go
	}
	return out
}

func (s *session) note(m *Message) {
	select {
	case s.notes <- m:
	default:
	}
}

// dispatch decodes and emits the frames the reader queues, until the
// connection ends or must be ended. Every frame that carries an order, or
// may (one it cannot read), enters the ack window: the checkpoint passes it
// only once it is durably handled (emitted, or quarantined).
func (s *session) dispatch(ctx context.Context) (int, error) {
	delivered := 0
	var last uint64   // the last seq received on this connection
	unattributed := 0 // frames quarantined whose seq could not be read
	for {
		// Frames whose seq could not be read are never acked: a server
		// counts each (if it was an order) against its window until the
		// next connection. Once they fill it and every ack owed is sent,
		// it cannot send again here: reconnect rather than wait in silence.
		var stalled <-chan struct{}
		if unattributed >= s.h.cfg.Window {
			stalled = s.win.Idle()
		}
		var f frame
		select {
		case <-ctx.Done():
			return delivered, nil
		case <-s.failed:
			return delivered, errors.New("an order was not durably handled; reconnecting to have it sent again")
		case <-stalled:
			return delivered, fmt.Errorf("%d frames whose seq could not be read fill the feed's window (%d) and cannot be acked; reconnecting so that it can send again", unattributed, s.h.cfg.Window)
		case f = <-s.frames:
		}
		// A frame is a message, or one to quarantine whole (bad, with
		// code), acking its seq if that can be read (FrameSeq).
		var (
			m    *Message
			err  error
			bad  error
			code = "frame_unreadable"
			seq  uint64
		)
		if f.oversize {
			bad = fmt.Errorf("frame larger than max_message_bytes (%d bytes): %d bytes", s.h.cfg.MaxMessageBytes, f.size)
			code = "frame_too_large"
		} else if m, err = DecodeMessage(f.data); err != nil && (m == nil || m.Type != TypeOrder) {
			bad = err
		}
		if bad != nil {
			if !f.binary {
				seq, _ = FrameSeq(f.data)
			}
			if seq != 0 && seq <= last {
				// A guess from a broken frame that does not follow on
				// is no evidence of a feed sending seqs out of order:
				// the frame's seq is unknown.
				seq = 0
			}
			if f.oversize {
				seqText := "unknown"
				if seq != 0 {
					seqText = strconv.FormatUint(seq, 10)
				}
				bad = fmt.Errorf("%w, seq %s; the first %d bytes are kept", bad, seqText, s.h.cfg.MaxMessageBytes)
			}
			s.note(&Message{Type: TypeError, Code: CodeBadMessage, Seq: seq, Message: bad.Error()})
		} else {
			switch m.Type {
			case TypeOrder:
				seq = m.Seq
			case TypeError:
				return delivered, &peerError{m.Code, m.Message}
			default:
				s.h.log.Debug("ignoring message of unknown type", "type", m.Type)
				continue
			}
		}
		if seq != 0 {
			if seq <= last {
				// seq was received and not handled: it must come again, so
				// the checkpoint (the next resume_after) must stay below
				// it, however far the acks of the orders before it reach.
				s.holdBelow(seq)
				s.note(&Message{Type: TypeError, Code: CodeBadRequest, Message: fmt.Sprintf("seq %d after %d: sequence numbers must increase", seq, last)})
				return delivered, fmt.Errorf("protocol violation: seq %d after %d", seq, last)
			}
			last = seq
		}
		// Bounded in flight whatever the server does: at most Window orders
		// await their ack; a server that ignores the window is held back by
		// the full frame queue and, behind it, TCP.
		for s.win.Pending() >= s.h.cfg.Window {
			select {
			case <-s.win.Changed():
			case <-ctx.Done():
				return delivered, nil
			}
		}
		if seq != 0 && seq <= s.acked {
			// Handled before (a redelivery after resume): ack again.
			s.h.orders.WithLabelValues("redelivered").Inc()
			s.ack(seq)
			continue
		}
		// A frame of unknown seq came after last: it holds the checkpoint
		// there until its quarantine is durable.
		key := seq
		if seq == 0 {
			key = max(last, s.acked)
		}
		t := s.win.Add(key)
		onAck := func(_ minsheng.Outcome, err error) {
			// Queued for the writer before the window learns of it, so
			// that every ack owed is queued once the window is idle.
			if err == nil && seq != 0 {
				s.ack(seq)
			}
			if s.win.Ack(t, err == nil) {
				s.advance()
			}
			if err != nil {
				select {
				case s.failed <- struct{}{}:
				default:
				}
			}
		}
		if bad != nil {
			// The reason may quote the frame: it goes to the quarantine
			// record, and the log names only its kind and the record's ref.
			ref := "frame:" + s.frameSum(f)
			attrs := []any{"ref", ref, "reason_code", code}
			if seq != 0 {
				attrs = append(attrs, "seq", seq)
			}
			s.h.log.Warn("unreadable frame quarantined", attrs...)
			if err := s.quarantine(ctx, ref, bad.Error(), f.data, onAck); err != nil {
				s.win.Ack(t, false)
				return delivered, err
			}
			if seq == 0 {
				unattributed++
			} else {
				delivered++
			}
			continue
		}
		o, submitted, derr := DecodeOrder(m.Order, s.h.loc)
		code = "order_undecodable"
		if err == nil && derr == nil {
			code = "order_invalid_item"
			it := o.Item(s.h.cfg.Channel, s.h.name, submitted, time.Now())
			it.Attrs["seq"] = strconv.FormatUint(seq, 10)
			if it.Attrs[TextNotesAttr] != "" && s.h.env.Blobs != nil {
				// The item's text was mended: the order as sent is kept.
				bi, err := s.h.env.Blobs.Put(ctx, bytes.NewReader(m.Order), s.h.cfg.MaxMessageBytes+64)
				if err != nil {
					if ctx.Err() == nil { // else the connection ended meanwhile
						s.h.log.Error("work order not stored; it will be sent again", "seq", seq, "err", err)
					}
					s.win.Ack(t, false)
					return delivered, fmt.Errorf("store work order: %w", err)
				}
				it.RawRef = bi.Ref
			}
			if errs := validate(it); len(errs) > 0 {
				derr = fmt.Errorf("work order is not a valid item: %w", errs)
			} else {
				if err := s.out.Emit(ctx, it, onAck); err != nil {
					s.win.Ack(t, false)
					return delivered, err
				}
				s.h.orders.WithLabelValues("emitted").Inc()
				delivered++
				continue
			}
		}
		if derr == nil {
			derr = err
		}
		ref := fmt.Sprintf("seq:%s/%d", s.stream, seq)
		if o != nil && o.OrderNo != "" {
			ref = "order:" + o.Ref() + "#" + hash12(m.Order)
		}
		raw := []byte(m.Order)
		if len(raw) == 0 {
			raw = f.data
		}
		// As for a frame: the reason (which may quote the order, a time
		// as sent) is for the quarantine record, not the log.
		s.h.log.Warn("work order quarantined", "seq", seq, "ref", ref, "reason_code", code)
		if err := s.quarantine(ctx, ref, derr.Error(), raw, onAck); err != nil {
			s.win.Ack(t, false)
			return delivered, err
		}
		delivered++
	}
}

// advance moves the checkpoint to the window's acknowledged prefix, never
// past the ceiling.
func (s *session) advance() {
	done, _ := s.win.Done()
	s.h.mu.Lock()
	done = min(done, s.ceiling)
	if s.h.ck.Stream == s.stream && done > s.h.ck.Acked {
		s.h.ck.Acked, s.h.dirty = done, true
	}
	s.h.mu.Unlock()
}

// holdBelow keeps the checkpoint below seq, a seq this session received
// and did not handle, so that the next hello asks for it again. The
// checkpoint may have passed it already, taking it for a gap while the
// orders after it were acked: it is moved back (the orders between are
// sent again and recognised as repeats). A seq at or below the
// checkpoint the session started from was handled before: nothing to do.
func (s *session) holdBelow(seq uint64) {
	if seq <= s.acked {
		return
	}
	s.h.mu.Lock()
	s.ceiling = min(s.ceiling, seq-1)
	if s.h.ck.Stream == s.stream && s.h.ck.Acked >= seq {
		s.h.log.Warn("checkpoint moved back below a seq the feed sent late", "seq", seq, "was", s.h.ck.Acked)
		s.h.ck.Acked, s.h.dirty = seq-1, true
	}
	s.h.mu.Unlock()
}

func (s *session) quarantine(ctx context.Context, ref, reason string, raw []byte, ack minsheng.AckFunc) error {
	q := &minsheng.Quarantined{Channel: s.h.cfg.Channel, Source: s.h.name, Ref: clip(ref, 256),
		ReceivedAt: time.Now(), Reason: reason, Raw: raw}
	if s.h.env.Blobs != nil {
		if bi, err := s.h.env.Blobs.Put(ctx, strings.NewReader(string(raw)), s.h.cfg.MaxMessageBytes+64); err == nil {
			q.RawRef = bi.Ref
		}
	}
	if err := s.out.Quarantine(ctx, q, ack); err != nil {
		return err
	}
	s.h.orders.WithLabelValues("quarantined").Inc()
	return nil
}

// validate checks the item as the pipeline will, once it has given the
// item its trace ID.
func validate(it *minsheng.Item) minsheng.FieldErrors {
	c := *it
	c.TraceID = "t"
	return c.Validate()
}

// frameSum is hash12 of all the frame's bytes.
func (s *session) frameSum(f frame) string {
	if f.sum != "" {
		return f.sum
	}
	return hash12(f.data)
}

func hash12(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

// backoff is min·2^attempt with ±20 % jitter, capped at max.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo << min(attempt, 30)
	if d <= 0 || d > hi {
		d = hi
	}
	return min(time.Duration(float64(d)*(0.8+0.4*rand.Float64())), hi)
}
