package board

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/minsheng/minsheng/connectors/internal/conntest"
)

// The board's token (and the headers configured for it) go to the board's
// own origin only. A next link to another host, or to the same host over
// plain http, is followed without them, as Go's client follows a
// redirect: a page may link anywhere, and a bearer token sent with it is
// the board account's, handed to whoever runs that host.
func TestTokenNotSentToAnotherOrigin(t *testing.T) {
	const token = "board-token-不要外传"
	os.Setenv("MINSHENG_TEST_BOARD_TOKEN", token)
	var mu sync.Mutex
	got := map[string][]string{} // server → Authorization, X-Api-Key seen
	record := func(name string, r *http.Request) {
		mu.Lock()
		got[name] = append(got[name], r.Header.Get("Authorization")+"|"+r.Header.Get("X-Api-Key"))
		mu.Unlock()
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("other", r)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"posts":[{"id":"p2","title":"第二页","content":"路灯不亮","time":"2024-03-06 09:00:00"}]}`)
	}))
	t.Cleanup(other.Close)
	board := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("board", r)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"posts":[{"id":"p1","title":"第一页","content":"道路塌陷","time":"2024-03-06 10:00:00"}],"next":%q}`, other.URL+"/p2")
	}))
	t.Cleanup(board.Close)

	pollWithKey(t, board.URL, JSONMapping{Items: "posts", Next: "next"}, 2)
	mu.Lock()
	defer mu.Unlock()
	for _, h := range got["board"] {
		if h != "Bearer "+token+"|key-不要外传" {
			t.Errorf("the board got %q, want its token and key", h)
		}
	}
	for _, h := range got["other"] {
		if h != "|" {
			t.Errorf("another origin, linked as the next page, got %q; want neither token nor key", h)
		}
	}
	if len(got["other"]) == 0 {
		t.Error("the next page was not read")
	}
}

// TestHeadersNotRedirectedToAnotherOrigin: a board page that redirects to
// another origin does not hand it the token or the configured headers
// either. Go's client drops Authorization on a redirect to another host
// (not to another port of the same host), but copies every other header
// it was given (an X-Api-Key, where README says a board's key belongs) to
// wherever the redirect leads.
func TestHeadersNotRedirectedToAnotherOrigin(t *testing.T) {
	const token = "board-token-不要外传"
	os.Setenv("MINSHENG_TEST_BOARD_TOKEN", token)
	for _, host := range []string{"localhost", "127.0.0.1"} { // another host; another port
		t.Run(host, func(t *testing.T) {
			var mu sync.Mutex
			var seen []string // Authorization, X-Api-Key the other origin got
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Api-Key"))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"posts":[{"id":"p1","title":"第一页","content":"道路塌陷","time":"2024-03-06 10:00:00"}]}`)
			}))
			t.Cleanup(other.Close)
			_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
			board := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://"+net.JoinHostPort(host, port)+"/feed", http.StatusFound)
			}))
			t.Cleanup(board.Close)

			pollWithKey(t, board.URL, JSONMapping{Items: "posts"}, 1)
			mu.Lock()
			defer mu.Unlock()
			if len(seen) == 0 {
				t.Fatal("the redirect was not followed")
			}
			for _, h := range seen {
				if h != "|" {
					t.Errorf("another origin, reached by a redirect, got %q; want neither token nor key", h)
				}
			}
		})
	}
}

// pollWithKey runs a board at url with the test token and an X-Api-Key
// header until it has emitted posts posts, then stops it.
func pollWithKey(t *testing.T, url string, m JSONMapping, posts int) {
	t.Helper()
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	cfg := quick(url)
	cfg.TokenEnv = "MINSHENG_TEST_BOARD_TOKEN"
	cfg.Headers = map[string]string{"X-Api-Key": "key-不要外传"}
	cfg.JSON = m
	r := start(t, "origin", cfg, st, em)
	waitFor(t, fmt.Sprintf("%d posts", posts), func() bool { return len(em.Emitted()) >= posts })
	r.stop(t)
	em.Wait()
}
