package auth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

func TestDesksFileAddedWhileRunning(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desks.json")
	t.Setenv("MS_TEST_DAILY_TOKEN", "daily-token-0123456789abcdef")
	r, err := NewRegistry([]DeskConfig{{Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper, TokenEnv: "MS_TEST_DAILY_TOKEN"}}, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Authenticate("daily-token-0123456789abcdef"); p == nil || p.Name != "qingdao-daily" || p.Channel != minsheng.ChannelNewspaper {
		t.Fatalf("configured desk: %+v", p)
	}
	tok, err := AddDesk(file, DeskConfig{Name: "inspectors", Reads: []string{"discipline"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "mst_") || len(tok) != 56 {
		t.Fatalf("token %q", tok)
	}
	raw, _ := os.ReadFile(file)
	if strings.Contains(string(raw), tok) {
		t.Fatal("desks file holds the token itself")
	}
	st, _ := os.Stat(file)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("desks file mode %v", st.Mode().Perm())
	}
	// the running registry picks it up (it looks at the file again on an unknown token)
	var p *minsheng.Principal
	for deadline := time.Now().Add(3 * time.Second); p == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		p = r.Authenticate(tok)
	}
	if p == nil || !p.CanRead("discipline") || p.CanRead("petition") || p.Channel != "" {
		t.Fatalf("added desk: %+v", p)
	}
	if _, err := AddDesk(file, DeskConfig{Name: "inspectors", Reads: []string{"x"}}); err == nil {
		t.Fatal("duplicate desk name accepted")
	}
	if err := RemoveDesk(file, "inspectors"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	r.reload(true)
	if r.Authenticate(tok) != nil {
		t.Fatal("removed desk still authenticates")
	}
}

func TestMiddleware(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desks.json")
	tok, err := AddDesk(file, DeskConfig{Name: "district-7", Channel: minsheng.ChannelVillage})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(nil, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Write([]byte(minsheng.PrincipalFrom(req.Context()).Name))
	}))
	for _, tc := range []struct {
		header string
		status int
	}{
		{"", 401}, {"Bearer wrong-token", 401}, {"Basic " + tok, 401}, {"Bearer " + tok, 200}, {"bearer " + tok, 200},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%q: status %d, want %d", tc.header, w.Code, tc.status)
		}
		if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: 401 without WWW-Authenticate", tc.header)
		}
		if tc.status == 200 && w.Body.String() != "district-7" {
			t.Errorf("principal %q", w.Body.String())
		}
	}
}

func TestDeskConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		d     DeskConfig
		field string
	}{
		{DeskConfig{Name: "Bad Name", Channel: "newspaper", TokenSHA256: strings.Repeat("a", 64)}, "name"},
		{DeskConfig{Name: "a", Channel: "newspaper"}, "token_env"},
		{DeskConfig{Name: "a", TokenEnv: "X"}, "channel"},
	} {
		errs := tc.d.Validate()
		if len(errs) == 0 || errs[0].Path != tc.field {
			t.Errorf("%+v: %v, want an error on %s", tc.d, errs, tc.field)
		}
	}
}
