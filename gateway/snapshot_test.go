package gateway

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer is a log the gateway's goroutines write to at once.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// TestCaseIndexSnapshot: a stopped gateway leaves a snapshot of its case
// index (mode 0600, no letter's text or complainant in it), and the next
// start loads it and reads only the records written after it; a running
// gateway writes it now and then, and one killed (its last snapshot older
// than the ledger) reads the records after it and links as before. A
// snapshot of another data directory, or one made under another
// configuration, is refused with the reason, and the index rebuilt from
// the whole ledger.
func TestCaseIndexSnapshot(t *testing.T) {
	defer func(d time.Duration) { snapshotEvery = d }(snapshotEvery)
	snapshotEvery = 20 * time.Millisecond
	c := testConfig(t, nil)
	file := filepath.Join(c.Data, snapshotFile)

	var log logBuffer
	r := startLogged(t, c, log.logger())
	first := postLetter(t, r.url, deskToken, "SNAP-1", liftLetter)
	postLetter(t, r.url, deskToken, "SNAP-2", liftLetter+"我们上周已经打过12345。")
	r.stop()
	if !strings.Contains(log.String(), `msg="case index: rebuilding from the whole ledger" reason="no snapshot"`) {
		t.Errorf("first start: %s", log.String())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v", st.Mode().Perm())
	}
	for _, secret := range []string{"金桂园", "电梯", "钱七", "13500000000"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the snapshot holds %q", secret)
		}
	}

	// A restart reads the snapshot and nothing of the ledger; a kill after
	// a periodic snapshot leaves it behind the ledger.
	log = logBuffer{}
	r = startLogged(t, c, log.logger())
	if !regexp.MustCompile(`case index loaded from its snapshot and the records written since" items=2 records_replayed=0 took=\S+ reading=\S+ replaying=\S+ indexing=\S+`).MatchString(log.String()) {
		t.Errorf("restart: want the start's parts timed: %s", log.String())
	}
	postLetter(t, r.url, deskToken, "SNAP-3", liftLetter+"物业电话一直打不通。")
	if !waitUntil(5*time.Second, func() bool { return strings.Contains(log.String(), "when=periodic items=3 records_folded=1") }) {
		t.Fatalf("no periodic snapshot: %s", log.String())
	}
	killed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	postLetter(t, r.url, deskToken, "SNAP-4", liftLetter+"楼下也有老人。")
	r.stop()
	if err := os.WriteFile(file, killed, 0o600); err != nil { // as a kill -9 would have left it
		t.Fatal(err)
	}
	log = logBuffer{}
	r = startLogged(t, c, log.logger())
	if !strings.Contains(log.String(), "items=4 records_replayed=1") {
		t.Errorf("start after a kill: %s", log.String())
	}
	fifth := postLetter(t, r.url, deskToken, "SNAP-5", liftLetter+"请尽快。")
	if rec, raw := viewOf(t, r.url, readerToken, fifth.ID); rec.Decision.Case == nil || rec.Decision.Case.ID != first.ID || rec.Decision.Case.Items != 5 {
		t.Fatalf("after the kill: case %+v, want %s with 5 items: %s", rec.Decision.Case, first.ID, raw)
	}
	r.stop()
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		setup  func(c *Config)
		reason string
	}{
		{"another data directory's snapshot", func(o *Config) {
			// A ledger of its own, then this directory's snapshot.
			r := start(t, o)
			postLetter(t, r.url, deskToken, "OTHER-1", liftLetter+"另一个目录。")
			r.stop()
			if err := os.WriteFile(filepath.Join(o.Data, snapshotFile), good, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "the ledger does not hold the mark"},
		{"another window", func(o *Config) {
			o.Data = c.Data
			o.Cases.Window = 240 * time.Hour
		}, "cases.window was 720h0m0s, is 240h0m0s"},
		{"a damaged snapshot", func(o *Config) {
			o.Data = c.Data
			bad := bytes.Clone(good)
			bad[len(bad)/2] ^= 0xff
			if err := os.WriteFile(file, bad, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testConfig(t, nil)
			tc.setup(o)
			var log logBuffer
			r := startLogged(t, o, log.logger())
			r.stop()
			if !strings.Contains(log.String(), "rebuilding from the whole ledger") || !strings.Contains(log.String(), tc.reason) {
				t.Errorf("want a rebuild saying %q: %s", tc.reason, log.String())
			}
		})
	}
}

// ledgerFrames returns where each frame of a ledger segment begins and
// ends (the store's layout: ID length, record length, CRC, ID, record).
func ledgerFrames(t *testing.T, seg []byte) [][2]int {
	t.Helper()
	var fr [][2]int
	for off := 0; off+9 <= len(seg); {
		end := off + 9 + int(seg[off]) + int(binary.BigEndian.Uint32(seg[off+1:off+5]))
		fr = append(fr, [2]int{off, end})
		off = end
	}
	return fr
}

// TestCaseIndexSnapshotLedgerLost: a snapshot whose ledger lost records it
// covers is not used: a power loss that took the ledger's last unsynced
// records (the snapshot's mark past the ledger's end), or a ledger repaired
// with --skip-corrupt-ledger, also at a start with cases disabled (the next
// start with cases on must not trust the snapshot either).
func TestCaseIndexSnapshotLedgerLost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, c *Config, seg string)
		reason string
	}{
		{"power loss took the last records", func(t *testing.T, c *Config, seg string) {
			raw, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			fr := ledgerFrames(t, raw)
			// The last record gone and half of the one before.
			if err := os.Truncate(seg, int64(fr[len(fr)-2][0]+5)); err != nil {
				t.Fatal(err)
			}
		}, "the ledger does not hold the mark"},
		{"repaired at a start with cases disabled", func(t *testing.T, c *Config, seg string) {
			raw, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			fr := ledgerFrames(t, raw)
			raw[fr[1][0]+12] ^= 0xff // the second record damaged, whole ones after it
			if err := os.WriteFile(seg, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			o := *c
			o.Cases.Disabled = true
			o.Store.SkipCorruptLedger = true
			r := start(t, &o)
			r.stop()
		}, "no snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, nil)
			r := start(t, c)
			for i, extra := range []string{"", "我们上周已经打过12345。", "物业电话一直打不通。", "楼下也有老人。"} {
				postLetter(t, r.url, deskToken, fmt.Sprint("LOST-", i), liftLetter+extra)
			}
			r.stop()
			segs, err := filepath.Glob(filepath.Join(c.Data, "ledger", "*.log"))
			if err != nil || len(segs) != 1 {
				t.Fatalf("segments %v %v", segs, err)
			}
			tc.damage(t, c, segs[0])
			var log logBuffer
			r = startLogged(t, c, log.logger())
			r.stop()
			if !strings.Contains(log.String(), "rebuilding from the whole ledger") || !strings.Contains(log.String(), tc.reason) {
				t.Errorf("want a rebuild saying %q: %s", tc.reason, log.String())
			}
		})
	}
}
