package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

func commitN(t *testing.T, s *Store, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		id := minsheng.ItemID(minsheng.ChannelHotline, "l", fmt.Sprint(i))
		if err := s.Commit(context.Background(), &minsheng.Record{ID: id, Destinations: []string{fmt.Sprint("d", i)}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestLedgerTornTailIsCutOff(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	ids := commitN(t, s, 0, 10)
	s.Close()
	// a crash in the middle of a write leaves half a frame
	seg := filepath.Join(dir, "ledger", "0000000001.log")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{29, 0, 0, 1, 0, 0xde, 0xad, 0xbe, 0xef, 'm', 's', '1'})
	f.Close()
	s = open(t, dir)
	if n, _ := s.CountItems(); n != 10 {
		t.Fatalf("%d records after a torn tail", n)
	}
	for i, id := range ids {
		if r, err := s.Lookup(context.Background(), id); err != nil || r.Destinations[0] != fmt.Sprint("d", i) {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
	}
	// and appending continues where the whole frames end
	more := commitN(t, s, 10, 3)
	s.Close()
	s = open(t, dir)
	defer s.Close()
	if n, _ := s.CountItems(); n != 13 {
		t.Fatalf("%d records", n)
	}
	if _, err := s.Lookup(context.Background(), more[2]); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerSegmentsRollAndCorruptionIsReported(t *testing.T) {
	old := segmentMax
	segmentMax = 2 << 10
	defer func() { segmentMax = old }()
	dir := t.TempDir()
	s := open(t, dir)
	ids := commitN(t, s, 0, 100)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "ledger", "*.log"))
	if len(segs) < 3 {
		t.Fatalf("%d segments; want several", len(segs))
	}
	s = open(t, dir)
	for _, id := range ids {
		if _, err := s.Lookup(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// flip a byte inside the first segment: it is reported, not skipped
	raw, _ := os.ReadFile(segs[0])
	raw[len(raw)/2] ^= 0xff
	os.WriteFile(segs[0], raw, 0o600)
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt segment: %v", err)
	}
}

// TestEachWhileCommitting: Each reads the ledger while a writer appends
// and rolls segments: every record committed before it began is read, its
// latest, and nothing fails.
func TestEachWhileCommitting(t *testing.T) {
	old := segmentMax
	segmentMax = 2 << 10
	defer func() { segmentMax = old }()
	s := open(t, t.TempDir())
	defer s.Close()
	before := commitN(t, s, 0, 50)
	done := make(chan error, 1)
	go func() {
		for i := range 400 {
			// rewrite early records too: their latest moves on
			id := minsheng.ItemID(minsheng.ChannelHotline, "l", fmt.Sprint(i%80))
			if err := s.Commit(context.Background(), &minsheng.Record{ID: id, Destinations: []string{fmt.Sprint("d", i%80)}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		seen := map[string]int{}
		if err := s.Each(func(r *minsheng.Record) error {
			seen[r.ID]++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, id := range before {
			if seen[id] != 1 {
				t.Fatalf("%s read %d times", id, seen[id])
			}
		}
	}
}

// TestLedgerDamage: what Open makes of a damaged last segment. A tail that
// holds no whole frame (zeros the file system left, half a frame) is a torn
// write and is cut; damage with whole frames after it is refused, and
// skipped only when asked, keeping every record but the damaged one.
func TestLedgerDamage(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name    string
		damage  func(raw []byte) []byte
		refused bool // Open fails without SkipCorruptLedger
		lost    int  // records lost (with SkipCorruptLedger when refused)
	}{
		{"zeros after the last frame", func(raw []byte) []byte { return append(raw, make([]byte, 900)...) }, false, 0},
		{"one zero header after the last frame", func(raw []byte) []byte { return append(raw, make([]byte, frameHeader)...) }, false, 0},
		{"half a frame after the last", func(raw []byte) []byte { return append(raw, 30, 0, 0, 0, 9, 1, 2) }, false, 0},
		{"a byte flipped in the middle", func(raw []byte) []byte { raw[len(raw)/2] ^= 0xff; return raw }, true, 1},
		{"zeros over the middle", func(raw []byte) []byte { clear(raw[len(raw)/3 : len(raw)/3+200]); return raw }, true, -1},
		{"a byte flipped in the last frame", func(raw []byte) []byte { raw[len(raw)-3] ^= 0xff; return raw }, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			ids := commitN(t, s, 0, n)
			s.Close()
			seg := filepath.Join(dir, "ledger", "0000000001.log")
			raw, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(seg, tc.damage(raw), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = Open(dir, Options{})
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "skip-corrupt-ledger") {
					t.Fatalf("damaged in the middle: Open = %v, want a refusal naming --skip-corrupt-ledger", err)
				}
				if s, err = Open(dir, Options{SkipCorruptLedger: true}); err != nil {
					t.Fatalf("with SkipCorruptLedger: %v", err)
				}
			} else if err != nil {
				t.Fatalf("torn tail refused: %v", err)
			}
			found := 0
			for _, id := range ids {
				if _, err := s.Lookup(context.Background(), id); err == nil {
					found++
				}
			}
			if lost := n - found; tc.lost >= 0 && lost != tc.lost || tc.lost < 0 && (lost < 1 || lost > n/2) {
				t.Errorf("%d of %d records lost, want %d", lost, n, tc.lost)
			}
			if _, ok := s.ledger.get(""); ok {
				t.Error("a record indexed under the empty ID")
			}
			each := 0
			if err := s.Each(func(*minsheng.Record) error { each++; return nil }); err != nil || each != found {
				t.Errorf("Each read %d records, %v; Lookup found %d", each, err, found)
			}
			// Appending continues after the whole frames, and a reopen
			// (without the option) finds them all.
			more := commitN(t, s, n, 3)
			s.Close()
			s = open(t, dir)
			defer s.Close()
			for _, id := range more {
				if _, err := s.Lookup(context.Background(), id); err != nil {
					t.Errorf("record appended after opening the damaged ledger: %v", err)
				}
			}
		})
	}
}

// TestLedgerRollDropsAFailedWritesBytes: bytes a failed write left past the
// last whole frame (a full disk) are dropped when the segment rolls, so the
// segment, no longer the last, does not read as corrupt at the next start.
func TestLedgerRollDropsAFailedWritesBytes(t *testing.T) {
	old := segmentMax
	segmentMax = 2 << 10
	defer func() { segmentMax = old }()
	dir := t.TempDir()
	s := open(t, dir)
	ids := commitN(t, s, 0, 3)
	// What a write cut short leaves: half a frame past curOff, not indexed.
	seg := filepath.Join(dir, "ledger", "0000000001.log")
	junk := bytes.Repeat([]byte{0xab}, int(segmentMax-s.ledger.curOff)-16)
	if _, err := s.ledger.cur.WriteAt(junk, s.ledger.curOff); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, commitN(t, s, 3, 60)...) // rolls past the first segment
	s.Close()
	if segs, _ := filepath.Glob(filepath.Join(dir, "ledger", "*.log")); len(segs) < 2 {
		t.Fatalf("%d segments; want a roll", len(segs))
	}
	if fi, err := os.Stat(seg); err != nil || fi.Size() == 0 {
		t.Fatalf("first segment: %v", err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after a failed write and a roll: %v", err)
	}
	defer s.Close()
	for _, id := range ids {
		if _, err := s.Lookup(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// testFrame is an append request for a record of n bytes.
func testFrame(id string, n int) *appendReq {
	return &appendReq{id: id, frame: encodeFrame(id, []byte(strings.Repeat("r", n))), err: make(chan error, 1)}
}

// TestLedgerSkipShortSpan: damage shorter than a filler frame (a few
// stray bytes between two frames) is skipped with the frame after it,
// whose record is lost with it; the frames around are kept, and the next
// start needs no option.
func TestLedgerSkipShortSpan(t *testing.T) {
	dir := t.TempDir()
	seg := filepath.Join(dir, "0000000001.log")
	a, b, c := testFrame("a-ok", 30), testFrame("b-lost", 30), testFrame("c-ok", 30)
	raw := append(append(append(append([]byte(nil), a.frame...), "\x07junk!!"...), b.frame...), c.frame...)
	if err := os.WriteFile(seg, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	if _, err := openLedger(dir, time.Hour, false, log); err == nil || !strings.Contains(err.Error(), "skip-corrupt-ledger") {
		t.Fatalf("stray bytes between frames: %v, want a refusal", err)
	}
	for _, skip := range []bool{true, false} { // with the option once, then without
		l, err := openLedger(dir, time.Hour, skip, log)
		if err != nil {
			t.Fatalf("skip %v: %v", skip, err)
		}
		for id, want := range map[string]bool{"a-ok": true, "b-lost": false, "c-ok": true} {
			if _, ok := l.get(id); ok != want {
				t.Errorf("skip %v: %s in the index: %v, want %v", skip, id, ok, want)
			}
		}
		l.close()
	}
}

// TestCommitRefusesLongID: an ID longer than a frame's length byte holds is
// refused, the frame never written.
func TestCommitRefusesLongID(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	id := strings.Repeat("i", 256)
	if err := s.Commit(context.Background(), &minsheng.Record{ID: id}); err == nil || !strings.Contains(err.Error(), "id too long") {
		t.Fatalf("a 256-byte id: %v", err)
	}
	if _, err := s.Lookup(context.Background(), id); err == nil {
		t.Fatal("the record of a 256-byte id was written")
	}
}
