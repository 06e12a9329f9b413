package hotline

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/internal/testlog"
)

// The feed's connection ends while the session is blocked handing an
// order to a full pipeline: the reconnect line names why it ended (the
// read error: a cut, or the feed's close frame), not the context the
// session cancelled because of it.
func TestReconnectLogNamesTheCause(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(c *websocket.Conn)
		want string // in the line's err
	}{
		{"network cut", func(c *websocket.Conn) { c.UnderlyingConn().Close() }, "read: "},
		{"close frame", func(c *websocket.Conn) {
			c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseTryAgainLater, "maintenance"), time.Now().Add(time.Second))
		}, "read: websocket: close 1013: maintenance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := newFeedLog()
			ended := make(chan struct{})
			var once sync.Once
			url := handServer(t, func(c *websocket.Conn, hello Message) {
				if log.hello(hello) == 1 {
					// Order 1 fills the pipeline; order 2's Emit waits
					// for room when the connection ends.
					c.WriteJSON(orderFrame(1, "C-1"))
					c.WriteJSON(orderFrame(2, "C-2"))
					time.Sleep(100 * time.Millisecond)
					tc.end(c)
					once.Do(func() { close(ended) })
					return
				}
				log.read(c, nil)
			})
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st, MaxInFlight: 1, Fail: func(it *minsheng.Item) error {
				if it.Ref == "C-1" {
					<-ended
					time.Sleep(100 * time.Millisecond) // the session has seen the end
				}
				return nil
			}}
			defer em.Wait()
			lines := make(testlog.Lines, 1000)
			cfg := testConfig(url)
			cfg.PingInterval, cfg.IdleTimeout = time.Second, 5*time.Second // no ping races the end
			r := startLogged(t, "12345", cfg, st, em, lines)
			ok := waitFor(5*time.Second, func() bool { return log.connections() >= 2 })
			r.stop(t)
			if !ok {
				t.Fatal("no second connection")
			}
			line := lines.Line("feed connection ended; reconnecting")
			if line == "" {
				t.Fatal("no reconnect line logged")
			}
			if strings.Contains(line, "context canceled") || !strings.Contains(line, tc.want) {
				t.Errorf("reconnect line:\n%s\nwant its err to hold %q, not context canceled", strings.TrimSpace(line), tc.want)
			}
		})
	}
}
