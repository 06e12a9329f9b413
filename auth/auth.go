// Package auth authenticates desks by bearer token.
//
// A desk is a newspaper or broadcaster letter desk, a department, a
// residents' committee, the petition bureau, 12345 dispatch or the discipline
// inspectors. Each has its own token, which fixes the channel it submits on
// and the destination queues it may read. Only SHA-256 hashes of tokens are
// kept: in the configuration (token_sha256), or in <data>/desks.json written
// by `minsheng desk add`. The gateway looks at that file at most every
// checkEvery on the authentication path and re-reads it when it changed, so
// a desk added while it runs works at once, and a desk removed (or given a
// new token) loses its old token at once, known token or not. Tokens can
// also come from an environment variable or a file named in the
// configuration.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/prometheus/client_golang/prometheus"
)

// DeskConfig declares a desk in the configuration file.
type DeskConfig struct {
	Name    string           `yaml:"name" json:"name" validate:"required"`
	Channel minsheng.Channel `yaml:"channel" json:"channel,omitempty" validate:"omitempty,oneof=hotline newspaper broadcaster message_board mayor_mailbox petition_bureau department village"`
	Reads   []string         `yaml:"reads" json:"reads,omitempty"`
	// The token, by one of: an environment variable, a file, or its hash.
	TokenEnv    string `yaml:"token_env" json:"-"`
	TokenFile   string `yaml:"token_file" json:"-"`
	TokenSHA256 string `yaml:"token_sha256" json:"token_sha256" validate:"omitempty,len=64,hexadecimal"`
	// Added is when `desk add` created the desk (desks.json only).
	Added time.Time `yaml:"-" json:"added,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Validate checks what tags cannot.
func (d DeskConfig) Validate() minsheng.FieldErrors {
	var errs minsheng.FieldErrors
	if d.Name != "" && !nameRE.MatchString(d.Name) {
		errs = append(errs, minsheng.FieldError{Path: "name", Msg: "must be 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"})
	}
	n := 0
	for _, s := range []string{d.TokenEnv, d.TokenFile, d.TokenSHA256} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		errs = append(errs, minsheng.FieldError{Path: "token_env", Msg: "set exactly one of token_env, token_file, token_sha256"})
	}
	if d.Channel == "" && len(d.Reads) == 0 {
		errs = append(errs, minsheng.FieldError{Path: "channel", Msg: "a desk needs a channel to submit on, destinations to read, or both"})
	}
	return errs
}

// Registry maps token hashes to desks. It is safe for concurrent use.
type Registry struct {
	file     string
	log      *slog.Logger
	static   map[[32]byte]*minsheng.Principal
	names    map[string]bool // of the configured desks
	reserved []string        // names no desk may take (CheckName)

	mu       sync.RWMutex
	fromFile map[[32]byte]*minsheng.Principal
	loaded   os.FileInfo // the desks file as last read, nil when absent
	bad      os.FileInfo // the desks file as last found unreadable
	warned   string      // the last problem logged, so it is logged once
	checked  time.Time

	refused      logLimit     // of the "request refused" lines
	refusedTotal atomic.Int64 // every request refused for want of a known token, logged or not
}

// Collector exports the count of requests refused for want of a known
// token (minsheng_auth_refused_total), which, unlike the log, counts each.
func (r *Registry) Collector() prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "minsheng_auth_refused_total",
		Help: "Requests refused with 401: no token, or none a desk holds."},
		func() float64 { return float64(r.refusedTotal.Load()) })
}

// Refused requests are logged for the audit trail, but at most
// refusedBurst lines in each refusedWindow: a client that keeps sending a
// bad token (a misconfigured desk, or someone guessing) must not fill the
// disk. The next line after a window in which some were not logged says
// how many.
const (
	refusedBurst  = 20
	refusedWindow = time.Minute
)

// logLimit lets through at most burst events in each window.
type logLimit struct {
	mu      sync.Mutex
	burst   int
	window  time.Duration
	now     func() time.Time
	start   time.Time // of the current window
	logged  int       // in it
	dropped int       // not logged since the last line that was
}

// allow reports whether this event may be logged and, when it may, how
// many events were not logged since the last one that was.
func (l *logLimit) allow() (ok bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.now(); t.Sub(l.start) >= l.window || t.Before(l.start) {
		l.start, l.logged = t, 0
	}
	if l.logged >= l.burst {
		l.dropped++
		return false, 0
	}
	l.logged++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// checkEvery is how often, at most, Authenticate looks at the desks file.
const checkEvery = 50 * time.Millisecond

// NewRegistry builds a registry from configured desks and the desks file
// (may not exist yet). Desk names must be unique across both, and none may
// be one of reserved: the source names of the inputs and of imports.
func NewRegistry(desks []DeskConfig, file string, reserved []string, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{file: file, log: log, static: map[[32]byte]*minsheng.Principal{}, names: map[string]bool{}, reserved: reserved,
		refused: logLimit{burst: refusedBurst, window: refusedWindow, now: time.Now}}
	for i, d := range desks {
		h, err := d.hash()
		var fes minsheng.FieldErrors
		if errors.As(err, &fes) {
			return nil, fes.Prefix(fmt.Sprintf("desks[%d]", i))
		}
		if err != nil {
			return nil, fmt.Errorf("desks[%d] (%s): %w", i, d.Name, err)
		}
		if r.names[d.Name] {
			return nil, fmt.Errorf("desks[%d].name: %q is used twice", i, d.Name)
		}
		if err := CheckName(d.Name, reserved); err != nil {
			return nil, fmt.Errorf("desks[%d].name: %w", i, err)
		}
		r.names[d.Name] = true
		r.static[h] = d.principal()
	}
	if err := r.load(true); err != nil {
		return nil, err
	}
	return r, nil
}

// CheckName refuses a desk name that is one of reserved, the source names
// of the inputs and of `minsheng import`: items from there carry it as
// their source, and would share their IDs with the desk's own.
func CheckName(name string, reserved []string) error {
	if slices.Contains(reserved, name) {
		return fmt.Errorf("%q is the source name of an input or of imports; a desk may not take it", name)
	}
	return nil
}

// CheckSecret reads the desk's token as a registry does when the gateway
// starts and returns what would stop it there (a FieldErrors naming the
// desk's field), so that a configuration can be checked where it runs.
func (d DeskConfig) CheckSecret() error {
	_, err := d.hash()
	return err
}

func (d DeskConfig) hash() ([32]byte, error) {
	var h [32]byte
	if d.TokenSHA256 != "" {
		b, err := hex.DecodeString(d.TokenSHA256)
		if err != nil || len(b) != 32 {
			return h, errors.New("token_sha256 must be 64 hex digits")
		}
		copy(h[:], b)
		return h, nil
	}
	tok, err := minsheng.ReadSecretField("token_env", d.TokenEnv, "token_file", d.TokenFile)
	if err != nil {
		return h, err
	}
	if len(tok) < 20 {
		path := "token_env"
		if d.TokenEnv == "" {
			path = "token_file"
		}
		return h, minsheng.FieldErrors{{Path: path, Msg: "the token is shorter than 20 characters"}}
	}
	return sha256.Sum256([]byte(tok)), nil
}

func (d DeskConfig) principal() *minsheng.Principal {
	return &minsheng.Principal{Name: d.Name, Channel: d.Channel, Reads: append([]string(nil), d.Reads...)}
}

// Principals lists every known desk, sorted by name.
func (r *Registry) Principals() []*minsheng.Principal {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*minsheng.Principal
	for _, p := range r.static {
		out = append(out, p)
	}
	for _, p := range r.fromFile {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Authenticate returns the desk a token belongs to, or nil.
func (r *Registry) Authenticate(token string) *minsheng.Principal {
	if token == "" {
		return nil
	}
	h := sha256.Sum256([]byte(token))
	if p := r.static[h]; p != nil {
		return p
	}
	// Known token or not: the desk may have been removed since.
	r.mu.RLock()
	due := time.Since(r.checked) >= checkEvery
	r.mu.RUnlock()
	if due {
		r.refresh()
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.fromFile[h]
}

// refresh looks at the desks file and re-reads it if it changed. A file
// that cannot be read leaves the desks already loaded in place, with a
// warning (once for each problem) that holds no token or hash.
func (r *Registry) refresh() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < checkEvery {
		return // another request looked meanwhile
	}
	err := r.load(false)
	if err == nil {
		r.warned = ""
		return
	}
	if msg := err.Error(); msg != r.warned {
		r.warned = msg
		r.log.Warn("desks file unreadable; keeping the desks already loaded", "file", r.file, "err", err)
	}
}

// load reads the desks file, unless force is false and it is the file last
// read or last found unreadable (same inode, size and modification time:
// writeDesks replaces the file, so every change made by `minsheng desk` is a
// new inode, however coarse the file system's clock). The caller holds
// r.mu for writing, or has not shared r yet.
func (r *Registry) load(force bool) error {
	r.checked = time.Now()
	if r.file == "" {
		return nil
	}
	st, err := os.Stat(r.file)
	if errors.Is(err, os.ErrNotExist) {
		r.fromFile, r.loaded, r.bad = nil, nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	if !force && (sameFile(st, r.loaded) || sameFile(st, r.bad)) {
		return nil
	}
	m, err := r.readFile()
	if err != nil {
		r.bad = st
		return err
	}
	r.fromFile, r.loaded, r.bad = m, st, nil
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// readFile reads the desks file into a map from token hash to desk. A desk
// named like a configured one or a reserved name makes the file unreadable.
func (r *Registry) readFile() (map[[32]byte]*minsheng.Principal, error) {
	desks, err := ReadDesksFile(r.file)
	if err != nil {
		return nil, err
	}
	m := make(map[[32]byte]*minsheng.Principal, len(desks))
	for i, d := range desks {
		if r.names[d.Name] {
			return nil, fmt.Errorf("%s: desks[%d].name: %q is a desk in the configuration too", r.file, i, d.Name)
		}
		if err := CheckName(d.Name, r.reserved); err != nil {
			return nil, fmt.Errorf("%s: desks[%d].name: %w (minsheng desk remove --name %s)", r.file, i, err, d.Name)
		}
		h, err := d.hash()
		if err != nil {
			return nil, fmt.Errorf("%s: desks[%d] (%s): %w", r.file, i, d.Name, err)
		}
		m[h] = d.principal()
	}
	return m, nil
}

// Bearer extracts the token of an "Authorization: Bearer" header.
func Bearer(req *http.Request) string {
	h := req.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Middleware authenticates every request: 401 without a known token;
// otherwise the desk is in the request's context (minsheng.PrincipalFrom).
func (r *Registry) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tok := Bearer(req)
		p := r.Authenticate(tok)
		if p == nil {
			// Failed access is logged for the audit trail, never the token,
			// and not every time under a flood (refusedBurst).
			r.refusedTotal.Add(1)
			if ok, dropped := r.refused.allow(); ok {
				args := []any{"method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr, "token_given", tok != ""}
				if dropped > 0 {
					args = append(args, "not_logged_before", dropped)
				}
				r.log.Warn("request refused: no known desk token", args...)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="minsheng"`)
			WriteError(w, http.StatusUnauthorized, "unauthenticated", "a known desk token is required (Authorization: Bearer <token>)")
			return
		}
		next.ServeHTTP(w, req.WithContext(minsheng.WithPrincipal(req.Context(), p)))
	})
}

// WriteError writes the gateway's JSON error body.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "Bearer <token>" as written, for people reading it
	enc.Encode(struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{code, msg})
}

// NewToken makes a new random desk token: "mst_" and 52 base32 characters
// (256 bits).
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "mst_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

// HashToken returns the hex SHA-256 of a token, as stored.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// ReadDesksFile reads a desks file; a missing file is an empty list.
func ReadDesksFile(file string) ([]DeskConfig, error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var desks []DeskConfig
	if err := json.Unmarshal(raw, &desks); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return desks, nil
}

// AddDesk adds a desk to the desks file and returns its new token, which
// is shown once and kept nowhere. The file is replaced atomically under a
// lock, so concurrent `desk add` commands do not lose each other's desks.
func AddDesk(file string, d DeskConfig) (string, error) {
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	d.TokenEnv, d.TokenFile, d.TokenSHA256 = "", "", HashToken(tok)
	d.Added = time.Now().UTC().Truncate(time.Second)
	if errs := d.Validate(); len(errs) > 0 {
		return "", errs
	}
	err = withLock(file, func() error {
		desks, err := ReadDesksFile(file)
		if err != nil {
			return err
		}
		for _, x := range desks {
			if x.Name == d.Name {
				return fmt.Errorf("a desk named %q exists already (remove it first to issue a new token)", d.Name)
			}
		}
		return writeDesks(file, append(desks, d))
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// RemoveDesk removes a desk from the desks file; its token stops working.
func RemoveDesk(file, name string) error {
	return withLock(file, func() error {
		desks, err := ReadDesksFile(file)
		if err != nil {
			return err
		}
		out := desks[:0]
		for _, d := range desks {
			if d.Name != name {
				out = append(out, d)
			}
		}
		if len(out) == len(desks) {
			return fmt.Errorf("no desk named %q in %s", name, file)
		}
		return writeDesks(file, out)
	})
}

func writeDesks(file string, desks []DeskConfig) error {
	raw, err := json.MarshalIndent(desks, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func withLock(file string, fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(file+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}
