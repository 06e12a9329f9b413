package store

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLedgerFailedWriteLeavesNothing: a batch write the file system cuts
// short (a full disk; here the file size limit, EFBIG) may leave whole
// frames of it past the last indexed one, and a shorter next write covers
// only their start. They are cut at once: the next start opens the ledger
// without complaint, and no record whose Commit failed comes back.
func TestLedgerFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	l, err := openLedger(dir, time.Hour, false, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := l.append(ctx, "a-ok", []byte(strings.Repeat("a", 50))); err != nil {
		t.Fatal(err)
	}
	b, c, d := testFrame("b-failed", 200), testFrame("c-failed", 200), testFrame("d-failed", 200)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// Room for b and c whole and half of d (Go ignores SIGXFSZ: the write
	// returns EFBIG).
	limit := uint64(l.curOff) + uint64(len(b.frame)+len(c.frame)+len(d.frame)/2)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Skipf("cannot lower the file size limit: %v", err)
	}
	buf := append(append(append([]byte(nil), b.frame...), c.frame...), d.frame...)
	werr := l.write(buf, []*appendReq{b, c, d}) // one batch, as run writes it
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if werr == nil {
		t.Fatal("a write over the file size limit did not fail")
	}
	if err := l.append(ctx, "e-ok", []byte(strings.Repeat("e", 20))); err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	l, err = openLedger(dir, time.Hour, false, log)
	if err != nil {
		t.Fatalf("restart after a failed write and a good one: %v", err)
	}
	defer l.close()
	for id, want := range map[string]bool{"a-ok": true, "b-failed": false, "c-failed": false, "d-failed": false, "e-ok": true} {
		if _, ok := l.get(id); ok != want {
			t.Errorf("%s in the index: %v, want %v", id, ok, want)
		}
	}
}
