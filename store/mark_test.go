package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// since collects the IDs EachSince yields after m, with the mark it
// returns.
func since(t *testing.T, s *Store, m LedgerMark) ([]string, LedgerMark, error) {
	t.Helper()
	var ids []string
	var last uint64
	end, err := s.EachSince(m, func(pos uint64, r *minsheng.Record) error {
		if pos <= last {
			t.Errorf("position %d after %d", pos, last)
		}
		last = pos
		ids = append(ids, r.ID)
		return nil
	})
	return ids, end, err
}

// TestEachSince: the records written after a mark, and only those (an
// item written again counts where it was written last), across segments
// and a reopen; a mark the ledger does not hold (another data directory's,
// or a ledger cut shorter and written on) is refused.
func TestEachSince(t *testing.T) {
	defer func(m int64) { segmentMax = m }(segmentMax)
	segmentMax = 1 << 10 // a few records a segment
	dir := t.TempDir()
	s := open(t, dir)
	if ids, end, err := since(t, s, LedgerMark{}); err != nil || len(ids) != 0 || end.Covers {
		t.Fatalf("an empty ledger: %v %+v %v", ids, end, err)
	}
	first := commitN(t, s, 0, 20)
	all, m, err := since(t, s, LedgerMark{})
	if err != nil || !slices.Equal(all, first) || !m.Covers {
		t.Fatalf("from the start: %v, mark %+v, %v", all, m, err)
	}
	more := commitN(t, s, 20, 10)
	// first[3] written again: it now lies after the mark.
	if err := s.Commit(context.Background(), &minsheng.Record{ID: first[3], Destinations: []string{"again"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, dir)
	tail, m2, err := since(t, s, m)
	if want := append(slices.Clone(more), first[3]); err != nil || !slices.Equal(tail, want) {
		t.Fatalf("after the mark: %v, %v; want %v", tail, err, want)
	}
	if m2.Segment <= m.Segment {
		t.Errorf("the records spread over segments %d to %d: segmentMax did not roll", m.Segment, m2.Segment)
	}
	if ids, _, err := since(t, s, m2); err != nil || len(ids) != 0 {
		t.Errorf("after the last mark: %v %v", ids, err)
	}

	other := open(t, t.TempDir())
	commitN(t, other, 100, 30) // other records: a ledger that is a copy of this one holds the same prefix, and may be read on from the mark
	for _, tc := range []struct {
		name string
		s    *Store
		m    LedgerMark
	}{
		{"another data directory's ledger", other, m},
		{"another checksum", s, LedgerMark{Covers: true, Segment: m.Segment, Offset: m.Offset, CRC: m.CRC + 1, First: m.First}},
		{"beyond the end", s, LedgerMark{Covers: true, Segment: m2.Segment + 1, CRC: m2.CRC, First: m2.First}},
		{"not at a record", s, LedgerMark{Covers: true, Segment: m.Segment, Offset: m.Offset + 1, CRC: m.CRC, First: m.First}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, _, err := since(t, tc.s, tc.m)
			if !errors.Is(err, ErrLedgerChanged) || len(ids) != 0 {
				t.Errorf("%v, %v; want ErrLedgerChanged and no records", ids, err)
			}
		})
	}
	other.Close()
	s.Close()

	// The ledger cut back before the mark (a power loss before its last
	// fsync, a copy restored) and written on past it: refused.
	seg := filepath.Join(dir, "ledger", fmt.Sprintf("%010d.log", m2.Segment))
	if err := os.Truncate(seg, int64(m2.Offset)); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if err := s.Commit(context.Background(), &minsheng.Record{ID: minsheng.ItemID(minsheng.ChannelHotline, "l", "other"), Destinations: []string{"a longer record than before"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := since(t, s, m2); !errors.Is(err, ErrLedgerChanged) {
		t.Errorf("a ledger cut before the mark and written on: %v", err)
	}
}

// TestWriteFileAtomic: the file is replaced whole, mode 0600; a write
// that fails leaves the old file and no temporary one.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "snap")
	for _, tc := range []struct {
		name    string
		content string
		fail    bool
		want    string
	}{
		{"new", "one", false, "one"},
		{"replaced", "two", false, "two"},
		{"a failed write", "thr", true, "two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			boom := errors.New("boom")
			err := WriteFileAtomic(file, func(w io.Writer) error {
				io.WriteString(w, tc.content)
				if tc.fail {
					return boom
				}
				return nil
			})
			if tc.fail != errors.Is(err, boom) {
				t.Fatalf("error %v", err)
			}
			got, err := os.ReadFile(file)
			if err != nil || string(got) != tc.want {
				t.Errorf("file holds %q, %v; want %q", got, err, tc.want)
			}
			st, _ := os.Stat(file)
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", st.Mode().Perm())
			}
			if names, _ := filepath.Glob(filepath.Join(dir, ".*")); len(names) != 0 {
				t.Errorf("left behind: %v", names)
			}
		})
	}
}
