package gateway

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/store"
	"github.com/minsheng/minsheng/triage/cases"
)

// snapshotFile, in the data directory, holds the case index's snapshot:
// what a rebuild makes of the ledger up to a mark (cases.Snapshot), so
// that a start reads only the records written after it.
const snapshotFile = "cases.snapshot"

// snapshotEvery is how often a running gateway folds the records written
// since into the snapshot and writes it again, so that a gateway killed
// (not stopped) reads at most that much of the ledger at its next start
// (a variable for tests).
var snapshotEvery = 10 * time.Minute

func (g *Gateway) snapshotPath() string { return filepath.Join(g.cfg.Data, snapshotFile) }

// loadCases fills the case index at start: from the snapshot and the
// records written after it, or, when there is no snapshot or it does not
// stand for this ledger and configuration, from the whole ledger, saying
// why. Linking is advice: a ledger that cannot be read to the end leaves
// the items read before it and a warning, not a gateway that will not
// start.
func (g *Gateway) loadCases() {
	start := time.Now()
	// What a crash left of a snapshot being written.
	tmps, _ := filepath.Glob(filepath.Join(g.cfg.Data, "."+snapshotFile+".tmp-*"))
	for _, t := range tmps {
		os.Remove(t)
	}
	var s *cases.Snapshot
	var replayed int
	var read time.Duration
	why := errors.New("the ledger was repaired at open")
	if !g.store.LedgerRepaired() {
		s, replayed, read, why = g.readSnapshot()
	}
	if why == nil {
		folded := time.Now()
		n, err := g.cases.Load(s)
		if err == nil {
			// The parts, for an operator asking where a slow start went:
			// reading the file, the records after its mark, and the index.
			ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
			g.log.Info("case index loaded from its snapshot and the records written since", "items", n,
				"records_replayed", replayed, "took", ms(time.Since(start)),
				"reading", ms(read), "replaying", ms(folded.Sub(start)-read), "indexing", ms(time.Since(folded)))
			g.snap, g.snapCurrent = s, replayed == 0
			return
		}
		why = err
	}
	g.log.Info("case index: rebuilding from the whole ledger", "reason", why.Error())
	s = g.cases.NewSnapshot(g.router.CaseScopeKey())
	_, err := g.replay(s)
	n, lerr := g.cases.Load(s)
	if err = errors.Join(err, lerr); err != nil {
		g.log.Warn("case index rebuilt in part: later items may not be linked to earlier ones", "items", n, "err", err)
		return
	}
	g.log.Info("case index rebuilt from the ledger", "items", n, "took", time.Since(start).Round(time.Millisecond).String())
	g.snap = s
}

// dropSnapshotOfRepairedLedger removes the snapshot when the ledger was
// repaired at open (--skip-corrupt-ledger): records it covered are gone,
// so it no longer stands for the ledger, yet its mark still matches.
func (g *Gateway) dropSnapshotOfRepairedLedger() {
	if !g.store.LedgerRepaired() {
		return
	}
	if err := os.Remove(g.snapshotPath()); err == nil {
		g.log.Warn("case index snapshot removed: the ledger was repaired at open")
	} else if !errors.Is(err, fs.ErrNotExist) {
		g.log.Error("case index snapshot not removed, though the ledger was repaired at open", "err", err)
	}
}

// readSnapshot reads the snapshot file and folds in the records written
// after it, returning how many and how long the file took to read; the
// error says why it cannot be used.
func (g *Gateway) readSnapshot() (*cases.Snapshot, int, time.Duration, error) {
	start := time.Now()
	f, err := os.Open(g.snapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, 0, errors.New("no snapshot")
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	s, err := g.cases.ReadSnapshot(bufio.NewReaderSize(f, 1<<20), g.router.CaseScopeKey())
	read := time.Since(start)
	if err != nil {
		return nil, 0, read, err
	}
	n, err := g.replay(s)
	if err != nil {
		return nil, n, read, err
	}
	return s, n, read, nil
}

// replay folds into s the records written after its ledger mark (all, for
// a new one), and moves the mark to the last of them. On an error s holds
// a part of them under its old mark and must not be written.
func (g *Gateway) replay(s *cases.Snapshot) (int, error) {
	var m store.LedgerMark
	if len(s.Ledger) > 0 {
		if err := json.Unmarshal(s.Ledger, &m); err != nil {
			return 0, fmt.Errorf("cases: snapshot: its ledger mark: %w", err)
		}
	}
	var end store.LedgerMark
	n, err := g.cases.Replay(s, func(fn func(uint64, *minsheng.Record) error) error {
		var err error
		end, err = g.store.EachSince(m, fn)
		return err
	}, g.router.CaseScope)
	if err != nil {
		return n, fmt.Errorf("cases: replay of the ledger: %w", err)
	}
	s.Ledger, err = json.Marshal(end)
	return n, err
}

// writeSnapshot folds the records written since into the snapshot (the
// one the start made, or the file's) and writes it, when they changed it.
// A file that cannot be used is made again from the whole ledger, here,
// off the path of items.
func (g *Gateway) writeSnapshot(when string) {
	g.snapMu.Lock()
	defer g.snapMu.Unlock()
	start := time.Now()
	s, current := g.snap, g.snapCurrent
	g.snap = nil
	var n int
	var err error
	if s != nil {
		n, err = g.replay(s)
	} else {
		s, n, _, err = g.readSnapshot()
		current = true
	}
	if err == nil {
		err = g.cases.CheckSnapshot(s)
	}
	if err != nil {
		g.log.Warn("case index snapshot: making it from the whole ledger", "when", when, "reason", err.Error())
		s, current = g.cases.NewSnapshot(g.router.CaseScopeKey()), false
		if n, err = g.replay(s); err == nil {
			err = g.cases.CheckSnapshot(s)
		}
		if err != nil {
			g.log.Error("case index snapshot not written: the next start reads the whole ledger", "when", when, "err", err)
			return
		}
	}
	if current && n == 0 {
		return // the file is up to date
	}
	if err := store.WriteFileAtomic(g.snapshotPath(), func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<20)
		if err := g.cases.WriteSnapshot(bw, s); err != nil {
			return err
		}
		return bw.Flush()
	}); err != nil {
		g.log.Error("case index snapshot not written: the next start reads the ledger from the last one", "when", when, "err", err)
		return
	}
	g.log.Info("case index snapshot written", "when", when, "items", s.Len(), "records_folded", n,
		"took", time.Since(start).Round(time.Millisecond).String())
}

// snapshots writes the snapshot at once (the start's), then every
// snapshotEvery, until stop.
func (g *Gateway) snapshots(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	g.writeSnapshot("after start")
	t := time.NewTicker(snapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			g.writeSnapshot("periodic")
		}
	}
}
