//go:build unix

package hotline

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// smallBuffers makes a socket's buffers small (set before the handshake,
// so the window advertised matches), so that a peer that does not read
// blocks the other side's writes after kilobytes rather than megabytes.
func smallBuffers(_, _ string, c syscall.RawConn) error {
	var serr error
	c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096); serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
		}
	})
	return serr
}

// A feed that replays a backlog the gateway already handled (it lost its
// own ack state and starts again from seq 1, as the protocol allows: the
// gateway acks such orders again without handling them) and, like a
// server written as one loop, writes its backlog and the new orders after
// it before it reads what the gateway sent. The gateway's writer blocks on
// the unread socket meanwhile, while its session goes on re-acking. Every
// new order must still be acked on that connection: an ack dropped leaves
// a feed waiting for it and a gateway waiting for frames, kept alive by
// pings, forever.
func TestRedeliveryBurstDoesNotDropAcks(t *testing.T) {
	const backlog, fresh = 5000, 3
	log := newFeedLog()
	srv := httptest.NewUnstartedServer(handHandler(func(c *websocket.Conn, hello Message) {
		log.hello(hello)
		c.WriteJSON(Message{Type: TypeWelcome, Protocol: 1, Stream: "hand", NextSeq: 1})
		for seq := uint64(1); seq <= backlog; seq++ {
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"order","seq":%d,"order":{}}`, seq)) != nil {
				return
			}
		}
		for seq := uint64(backlog + 1); seq <= backlog+fresh; seq++ {
			c.WriteJSON(orderFrame(seq, fmt.Sprint("NEW-", seq)))
		}
		time.Sleep(300 * time.Millisecond) // the gateway handles them
		log.read(c, nil)
	}))
	ln, err := (&net.ListenConfig{Control: smallBuffers}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	st := openStore(t, t.TempDir())
	if err := st.Put(context.Background(), "hotline/12345", fmt.Appendf(nil, `{"stream":"hand","acked":%d}`, backlog)); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("ws" + strings.TrimPrefix(srv.URL, "http"))
	cfg.IdleTimeout = 30 * time.Second
	h, err := New("12345", cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(), Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	h.dialer.NetDialContext = (&net.Dialer{Control: smallBuffers}).DialContext
	em := &conntest.Emitter{Ledger: st}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, em) }()
	defer func() { cancel(); <-done; em.Wait() }()

	ok := waitFor(10*time.Second, func() bool {
		for seq := uint64(backlog + 1); seq <= backlog+fresh; seq++ {
			if !log.isAcked(seq) {
				return false
			}
		}
		return true
	})
	if !ok {
		var missing []uint64
		for seq := uint64(backlog + 1); seq <= backlog+fresh; seq++ {
			if !log.isAcked(seq) {
				missing = append(missing, seq)
			}
		}
		t.Fatalf("orders %v, emitted and handled (%d acked by the pipeline), never acked to the feed within 10s (connections %d)",
			missing, em.Acked(), log.connections())
	}
}
