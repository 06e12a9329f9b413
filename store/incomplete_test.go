package store

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// TestIncompleteSet: the IDs whose latest record is incomplete, across
// Commit, a restart and a crash. The set is found at Open from the
// ledger's frames, so after a crash it says what the ledger says: a
// completing record the crash lost (the ledger's unsynced tail) puts the
// ID back, an incomplete record torn half-written leaves it out, and a
// record whose text quotes the marker is not taken for incomplete.
func TestIncompleteSet(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	id := func(ref string) string { return minsheng.ItemID(minsheng.ChannelHotline, "inc", ref) }
	commit := func(s *Store, ref string, incomplete bool, body string) {
		t.Helper()
		r := &minsheng.Record{ID: id(ref), Item: &minsheng.Item{ID: id(ref), Body: body}, Destinations: []string{"gov_service"}, Incomplete: incomplete}
		if err := s.Commit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	want := func(s *Store, when string, refs ...string) {
		t.Helper()
		var ids []string
		for _, r := range refs {
			ids = append(ids, id(r))
		}
		slices.Sort(ids)
		if got := s.Incomplete(); !slices.Equal(got, ids) {
			t.Errorf("%s: Incomplete() = %v, want %v (%v)", when, got, ids, refs)
		}
		if n := s.IncompleteCount(); n != len(ids) {
			t.Errorf("%s: IncompleteCount() = %d, want %d", when, n, len(ids))
		}
	}
	commit(s, "a", true, "")
	commit(s, "b", true, "")
	commit(s, "c", false, `市民引用 "incomplete":true 一句`) // quoted in a text: not incomplete
	commit(s, "b", false, "")                          // finished
	want(s, "after commits", "a")
	s.Close()
	s = open(t, dir)
	want(s, "after a restart", "a")

	// A crash loses the ledger's unsynced tail: here the record that
	// finished "a". The set, found from the ledger, has "a" again.
	seg := filepath.Join(dir, "ledger", "0000000001.log")
	before := fileSize(t, seg)
	commit(s, "a", false, "")
	want(s, "a finished")
	s.Close()
	if err := os.Truncate(seg, before); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	want(s, "after a crash that lost the record finishing a", "a")

	// A crash in the middle of writing an incomplete record: the torn
	// frame is cut off at Open, and the set does not name it.
	before = fileSize(t, seg)
	commit(s, "d", true, "")
	want(s, "d incomplete", "a", "d")
	s.Close()
	if err := os.Truncate(seg, fileSize(t, seg)-5); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	want(s, "after a crash that tore d's incomplete record", "a")
	if fileSize(t, seg) != before {
		t.Errorf("the torn frame was not cut off")
	}
	if _, err := s.Lookup(ctx, id("d")); err == nil {
		t.Errorf("d found after its only record was torn")
	}
}

func fileSize(t *testing.T, name string) int64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
