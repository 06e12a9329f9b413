package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	minsheng "github.com/minsheng/minsheng"
)

// LedgerMark is a point in the ledger: the last record a reader of it has
// covered, with the checksums that tell whether a ledger is the one the
// mark was taken on. A reader that keeps what it made of the records up to
// a mark (the case index's snapshot) reads only those written after it
// (EachSince).
type LedgerMark struct {
	// Covers: the mark covers records (false: none; a reader starts from
	// the beginning).
	Covers bool `json:"covers"`
	// Segment and Offset: where the last covered record's frame lies.
	Segment uint32 `json:"segment"`
	Offset  uint32 `json:"offset"`
	// CRC is that frame's checksum, First the checksum of the ledger's
	// first frame: a ledger of another data directory, one made anew, or
	// one cut shorter and written on (restored from an older copy, a torn
	// end cut off after a power loss) does not hold the same frame there.
	CRC   uint32 `json:"crc"`
	First uint32 `json:"first"`
}

// ErrLedgerChanged is wrapped by EachSince when the ledger does not hold
// the mark it was given.
var ErrLedgerChanged = errors.New("the ledger does not hold the mark")

// EachSince calls fn, in the order written, with the latest record of
// every item written after m (of every item, when m covers nothing) and
// its position: segment<<32 | offset, which grows with each record
// written. It returns the mark of the last record in the ledger when it
// was called, which covers every record fn was given (records written
// while it runs are left to the next reader). When the ledger does not
// hold m it calls fn with nothing and fails with ErrLedgerChanged.
func (s *Store) EachSince(m LedgerMark, fn func(pos uint64, r *minsheng.Record) error) (LedgerMark, error) {
	l := s.ledger
	first, err := l.firstCRC()
	if err != nil {
		return LedgerMark{}, fmt.Errorf("store: %w", err)
	}
	var p *loc
	if m.Covers {
		if m.First != first {
			return LedgerMark{}, fmt.Errorf("store: %w: its first record is not the mark's (another data directory's ledger, or one made anew)", ErrLedgerChanged)
		}
		p = &loc{m.Segment, m.Offset}
		if crc, err := l.frameCRC(*p); err != nil || crc != m.CRC {
			return LedgerMark{}, fmt.Errorf("store: %w: segment %d offset %d does not hold the record the mark names (the ledger was cut short, restored from an older copy or rewritten)", ErrLedgerChanged, m.Segment, m.Offset)
		}
	}
	locs, last, ok := l.after(p)
	end := LedgerMark{First: first}
	if ok {
		crc, err := l.frameCRC(last)
		if err != nil {
			return LedgerMark{}, fmt.Errorf("store: %w", err)
		}
		end = LedgerMark{Covers: true, Segment: last.seg, Offset: last.off, CRC: crc, First: first}
	}
	return end, s.each(locs, func(at loc, r *minsheng.Record) error {
		return fn(uint64(at.seg)<<32|uint64(at.off), r)
	})
}

// LedgerRepaired reports whether Open cut or filled damage in the ledger
// before its end (--skip-corrupt-ledger), losing records: what was made of
// the records before (a snapshot) no longer stands for it.
func (s *Store) LedgerRepaired() bool { return s.ledger.repaired }

// frameCRC returns the checksum of the whole frame at p, once it is
// checked.
func (l *ledger) frameCRC(p loc) (uint32, error) {
	if _, err := l.read(p); err != nil {
		return 0, err
	}
	l.mu.RLock()
	f := l.segs[p.seg]
	l.mu.RUnlock()
	var crc [4]byte
	if _, err := f.ReadAt(crc[:], int64(p.off)+5); err != nil {
		return 0, fmt.Errorf("ledger: read: %w", err)
	}
	return binary.BigEndian.Uint32(crc[:]), nil
}

// firstCRC returns the checksum of the ledger's first frame, 0 when it
// has none.
func (l *ledger) firstCRC() (uint32, error) {
	l.mu.RLock()
	first, any := uint32(0), false
	for no := range l.segs {
		if !any || no < first {
			first, any = no, true
		}
	}
	f := l.segs[first]
	l.mu.RUnlock()
	if !any {
		return 0, nil
	}
	var hdr [frameHeader]byte
	if _, err := f.ReadAt(hdr[:], 0); errors.Is(err, io.EOF) {
		return 0, nil // an empty ledger
	} else if err != nil {
		return 0, fmt.Errorf("ledger: read: %w", err)
	}
	return l.frameCRC(loc{first, 0})
}

// WriteFileAtomic replaces file with what write writes, durably, and never
// leaves a part of it in its place: it writes a temporary file beside it
// (mode 0600, as the rest of the data directory), fsyncs it, renames it
// over file and fsyncs the directory. A crash leaves the old file or the
// new one, whole.
func WriteFileAtomic(file string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("store: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return syncDir(dir)
}
