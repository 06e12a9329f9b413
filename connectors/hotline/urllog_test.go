package hotline

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/internal/testlog"
)

// A key put in the feed's URL (its query, or fragment) is not logged when the
// dial fails: nothing listening, or the handshake refused.
func TestDialErrorLeavesTheURLsKeyOut(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer refusing.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for name, base := range map[string]string{
		"nothing listening": "ws://" + closed,
		"handshake refused": "ws" + strings.TrimPrefix(refusing.URL, "http"),
	} {
		t.Run(name, func(t *testing.T) {
			host := strings.TrimPrefix(base, "ws://")
			url := "ws://" + host + "/feed?key=SECRET-k3y&sig=SECRET-2#SECRET-frag"
			lines := make(testlog.Lines, 1000)
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			r := startLogged(t, "12345", testConfig(url), st, em, lines)
			time.Sleep(200 * time.Millisecond) // a few dials, with backoff of 5-50 ms
			r.stop(t)
			line := lines.Line("reconnecting")
			if line == "" {
				t.Fatal("no reconnect line logged")
			}
			if !strings.Contains(line, host+"/feed") {
				t.Errorf("line does not name the feed %s/feed:\n%s", host, line)
			}
			for more := line; more != ""; more = lines.Line("") {
				if strings.Contains(more, "SECRET") {
					t.Errorf("logged the URL's key:\n%s", strings.TrimSpace(more))
				}
			}
		})
	}
}
