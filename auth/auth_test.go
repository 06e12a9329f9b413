package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDesksFileAddedWhileRunning(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desks.json")
	t.Setenv("MS_TEST_DAILY_TOKEN", "daily-token-0123456789abcdef")
	r, err := NewRegistry([]DeskConfig{{Name: "qingdao-daily", Channel: minsheng.ChannelNewspaper, TokenEnv: "MS_TEST_DAILY_TOKEN"}}, file, nil, nil)
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
	// the running registry picks it up (it looks at the file at most every checkEvery)
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
}

// withInspectors makes a desks file holding the desk "inspectors" and a
// registry that has read it.
func withInspectors(t *testing.T, reserved []string) (file, tok string, r *Registry) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "desks.json")
	tok, err := AddDesk(file, DeskConfig{Name: "inspectors", Reads: []string{"discipline"}})
	if err != nil {
		t.Fatal(err)
	}
	if r, err = NewRegistry(nil, file, reserved, nil); err != nil {
		t.Fatal(err)
	}
	return file, tok, r
}

// refusedWithin polls Authenticate until it refuses tok or 3 s pass. Only
// tok is presented, as on a gateway that sees no unknown token.
func refusedWithin(r *Registry, tok string) bool {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r.Authenticate(tok) == nil {
			return true
		}
	}
	return false
}

// TestDesksFileRevokedWhileRunning: a desk removed, or given a new token,
// with `minsheng desk` while the gateway runs loses its old token promptly,
// though the gateway is only ever shown that (known) token.
func TestDesksFileRevokedWhileRunning(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(file string) (newTok string, err error)
	}{
		{"removed", func(file string) (string, error) { return "", RemoveDesk(file, "inspectors") }},
		{"token reissued", func(file string) (string, error) {
			if err := RemoveDesk(file, "inspectors"); err != nil {
				return "", err
			}
			return AddDesk(file, DeskConfig{Name: "inspectors", Reads: []string{"discipline"}})
		}},
		{"file deleted", func(file string) (string, error) { return "", os.Remove(file) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, tok, r := withInspectors(t, nil)
			if p := r.Authenticate(tok); p == nil || p.Name != "inspectors" {
				t.Fatalf("before the change: %+v", p)
			}
			newTok, err := tc.change(file)
			if err != nil {
				t.Fatal(err)
			}
			if !refusedWithin(r, tok) {
				t.Fatal("the old token still authenticates 3 s after the change")
			}
			if newTok != "" {
				if p := r.Authenticate(newTok); p == nil || p.Name != "inspectors" {
					t.Fatalf("new token: %+v", p)
				}
			}
		})
	}
}

// TestDesksFileCorrupt: a desks file that cannot be read keeps the desks
// already loaded, with a warning that names neither tokens nor hashes; once
// the file is good again it is read.
func TestDesksFileCorrupt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desks.json")
	tok, err := AddDesk(file, DeskConfig{Name: "inspectors", Reads: []string{"discipline"}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r, err := NewRegistry(nil, file, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hash := HashToken(tok)
	for _, tc := range []struct {
		name, content string
	}{
		{"truncated", string(good[:len(good)/2])},
		{"bad hash", strings.Replace(string(good), hash, hash[:63]+"z", 1)},
		{"not a list", `{"name": "x"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(3 * time.Second); logs.Len() == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if r.Authenticate(tok) == nil {
					t.Fatal("a corrupt desks file revoked the desks already loaded")
				}
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, file) {
				t.Fatalf("no warning naming the file: %q", out)
			}
			if strings.Contains(out, tok) || strings.Contains(out, hash[:16]) {
				t.Fatalf("the warning holds the token or its hash: %q", out)
			}
			// Looked at again and again, the same bad file is reported once.
			time.Sleep(150 * time.Millisecond)
			logs.Reset()
			for range 5 {
				r.Authenticate(tok)
				time.Sleep(60 * time.Millisecond)
			}
			if logs.Len() != 0 {
				t.Fatalf("the same bad file reported again: %q", logs.String())
			}
		})
	}
	if err := os.WriteFile(file, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RemoveDesk(file, "inspectors"); err != nil {
		t.Fatal(err)
	}
	if !refusedWithin(r, tok) {
		t.Fatal("a good file after a bad one is not read")
	}
}

func TestMiddleware(t *testing.T) {
	file := filepath.Join(t.TempDir(), "desks.json")
	tok, err := AddDesk(file, DeskConfig{Name: "district-7", Channel: minsheng.ChannelVillage})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRegistry(nil, file, nil, nil)
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

// TestReservedDeskNames: no desk, configured or in the desks file, may bear
// a reserved name (an input's, imports') or a configured desk's name.
func TestReservedDeskNames(t *testing.T) {
	hash := strings.Repeat("a", 64)
	reserved := []string{"import", "mayor-mailbox"}
	for _, tc := range []struct {
		name   string
		config []DeskConfig
		file   []DeskConfig
		want   string
	}{
		{"configured as import", []DeskConfig{{Name: "import", Channel: "hotline", TokenSHA256: hash}}, nil, `desks[0].name: "import" is the source name`},
		{"configured twice", []DeskConfig{{Name: "a", Channel: "hotline", TokenSHA256: hash}, {Name: "a", Channel: "hotline", TokenSHA256: hash}}, nil, `desks[1].name: "a" is used twice`},
		{"in the file as an input", nil, []DeskConfig{{Name: "ok"}, {Name: "mayor-mailbox"}}, `desks[1].name: "mayor-mailbox" is the source name`},
		{"in the file and configured", []DeskConfig{{Name: "a", Channel: "hotline", TokenSHA256: hash}}, []DeskConfig{{Name: "a"}}, `desks[0].name: "a" is a desk in the configuration too`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "desks.json")
			for i := range tc.file {
				tc.file[i].TokenSHA256, tc.file[i].Reads = HashToken(fmt.Sprint("token-", i, "-0123456789abcdef")), []string{"x"}
			}
			if tc.file != nil {
				if err := writeDesks(file, tc.file); err != nil {
					t.Fatal(err)
				}
			}
			_, err := NewRegistry(tc.config, file, reserved, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	// A running gateway keeps its desks when a reserved name appears in the file.
	file, tok, r := withInspectors(t, reserved)
	if _, err := AddDesk(file, DeskConfig{Name: "import", Channel: "hotline"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * checkEvery)
	if p := r.Authenticate(tok); p == nil || len(r.Principals()) != 1 {
		t.Fatalf("after a reserved name was added: %+v, %d desks", p, len(r.Principals()))
	}
}

// A refused request is logged, for the audit trail, without its token.
func TestRefusedRequestLoggedWithoutToken(t *testing.T) {
	var logs bytes.Buffer
	_, refuse := refusingRegistry(t, &logs)
	refuse("GET", "/v1/queues", "mst_not-a-known-token")
	if out := logs.String(); !strings.Contains(out, "request refused") || !strings.Contains(out, "path=/v1/queues") || strings.Contains(out, "not-a-known-token") {
		t.Errorf("log: %s", out)
	}
}

// A flood of refused requests logs refusedBurst lines a window; the first
// line of a later window says how many were not logged.
func TestRefusedRequestLogLimited(t *testing.T) {
	var logs bytes.Buffer
	r, refuseOne := refusingRegistry(t, &logs)
	now := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	r.refused.now = func() time.Time { return now }
	refuse := func(n int) {
		for range n {
			refuseOne("POST", "/v1/items", "mst_guess")
		}
	}
	lines := func() []string { return strings.Split(strings.TrimSpace(logs.String()), "\n") }
	refuse(refusedBurst + 80)
	if n := testutil.ToFloat64(r.Collector()); n != refusedBurst+80 {
		t.Errorf("minsheng_auth_refused_total %v, want every refusal (%d)", n, refusedBurst+80)
	}
	if got := lines(); len(got) != refusedBurst || strings.Contains(logs.String(), "not_logged_before") {
		t.Fatalf("%d lines in the first window, want %d:\n%s", len(got), refusedBurst, logs.String())
	}
	now = now.Add(refusedWindow / 2)
	refuse(5)
	if got := lines(); len(got) != refusedBurst {
		t.Fatalf("%d lines within the window, want %d", len(got), refusedBurst)
	}
	now = now.Add(refusedWindow)
	refuse(2)
	got := lines()
	if len(got) != refusedBurst+2 || !strings.Contains(got[refusedBurst], "not_logged_before=85") || strings.Contains(got[refusedBurst+1], "not_logged_before") {
		t.Fatalf("after the window:\n%s", strings.Join(got[refusedBurst:], "\n"))
	}
}

// refusingRegistry is a registry with no desks, logging to logs, and a
// function that sends it a request with token and requires a 401.
func refusingRegistry(t *testing.T, logs *bytes.Buffer) (*Registry, func(method, path, token string)) {
	t.Helper()
	r, err := NewRegistry(nil, filepath.Join(t.TempDir(), "desks.json"), nil, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("reached the handler") }))
	return r, func(method, path, token string) {
		t.Helper()
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", w.Code)
		}
	}
}
