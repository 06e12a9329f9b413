package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
