package board

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/minsheng/minsheng/connectors"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// A key in the configured url's query (or in a next link the board
// echoes it in) never reaches the log: not in the line of a page request
// retried, of a poll left incomplete by a status or a network error, of a
// page's charset, nor of a pagination loop.
func TestURLQueryNotLogged(t *testing.T) {
	const secret = "SECRET-k3y"
	q := "?key=" + secret
	gbkPage, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(`{"list":[{"id":"1","title":"路灯","content":"不亮","time":"2024-05-01 10:00"}],"next":"/feed?key=` + secret + `&p=2"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		pages map[string]http.HandlerFunc // by path and query
		down  bool                        // the board is not there at all
		want  []string                    // log messages the test must see
	}{
		{"status error on a next link", map[string]http.HandlerFunc{
			"/feed" + q:          bytesHandler(gbkPage, "application/json", ""),
			"/feed" + q + "&p=2": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusBadGateway) },
		}, false, []string{"page charset", "page request failed; retrying", "poll incomplete; retrying next interval", "GET http"}},
		{"network error", nil, true, []string{"page request failed; retrying", "poll incomplete; retrying next interval", "connection refused"}},
		{"pagination loop", map[string]http.HandlerFunc{
			"/feed" + q:          bytesHandler([]byte(`{"list":[{"id":"1","title":"路灯","time":"2024-05-01 10:00"}],"next":"/feed?key=`+secret+`&p=2"}`), "application/json", ""),
			"/feed" + q + "&p=2": bytesHandler([]byte(`{"list":[{"id":"2","title":"噪音","time":"2024-05-01 09:00"}],"next":"/feed?key=`+secret+`"}`), "application/json", ""),
		}, false, []string{"pagination loops back"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFeed(t)
			for k, h := range tc.pages {
				f.set(k, h)
			}
			base := f.srv.URL
			if tc.down {
				dead := httptest.NewServer(http.NotFoundHandler())
				base = dead.URL
				dead.Close()
			}
			st := openStore(t, t.TempDir())
			em := &conntest.Emitter{Ledger: st}
			cfg := quick(base + "/feed" + q)
			cfg.Format = FormatJSON
			cfg.Retries = 1
			cfg.JSON = JSONMapping{Items: "list", Next: "next"}
			var logs conntest.LogBuffer
			b, err := New("keyed", cfg, connectors.Env{Checkpoints: st, Blobs: st.Blobs(),
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx, em) }()
			waitFor(t, "the log lines", func() bool {
				out := logs.String()
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						return false
					}
				}
				return true
			})
			cancel()
			<-done
			out := logs.String()
			if strings.Contains(out, "SECRET") {
				t.Errorf("the log holds the url's key:\n%s", out)
			}
		})
	}
}
