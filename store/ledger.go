package store

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// The ledger keeps one record per handled item (its decision, destinations
// and trail) in an append-only log beside the bbolt file: <dir>/ledger/
// holds segments of up to 256 MiB, each a run of frames
//
//	length of ID (1 byte) | length of record (4) | CRC-32C of both (4) | ID | record JSON
//
// Why not bbolt: a B+tree insert under an item's random hash ID rewrote
// whole pages and cost 40-200 µs per record with fsync (store/bench_test.go
// measures it); an append costs a memcpy, and the writes of everyone
// committing at a moment go out in one write(2).
//
// Durability: Commit returns once the frame is written to the file, so a
// killed gateway loses nothing; the file is fsynced every SyncInterval and
// at Close, so a machine that loses power may lose the trails of the last
// interval. The items themselves are never at risk from this: a source is
// acknowledged only after its destinations (Kafka, or the fsynced embedded
// queues) have accepted the item. A repeat of an item whose record was lost
// so would be routed again under the same ID, which destinations drop.
//
// Lookups go through an index in memory (about 40 bytes a record), rebuilt
// at Open by reading the segments; a torn frame at the end of the last
// segment (a crash mid-write) is cut off; damage with whole records after
// it is refused (see scan).

const frameHeader = 1 + 4 + 4

// segmentMax is the size at which a new segment starts (a variable for tests).
var segmentMax int64 = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// idKey is an item ID in 17 bytes: its 26 base32 characters decoded.
type idKey [17]byte

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func keyOf(id string) (idKey, bool) {
	var k idKey
	if !minsheng.ValidItemID(id) {
		return k, false
	}
	// 26 characters are 130 bits; pad to 28 (whole bytes) for the decoder.
	b, err := keyEncoding.DecodeString(id[3:] + "aa")
	if err != nil || len(b) < 17 {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

// loc is where a record lies: segment number and offset of its frame.
type loc struct {
	seg uint32
	off uint32
}

type ledger struct {
	dir  string
	log  *slog.Logger
	sync time.Duration

	mu    sync.RWMutex
	index map[idKey]loc
	other map[string]loc // IDs not of ItemID's form (there should be none)
	segs  map[uint32]*os.File
	// last is where the last record written lies (hasLast: there is one);
	// frames are indexed in the order written, so it is the greatest.
	last    loc
	hasLast bool
	// repaired: Open cut or filled damage before the end of the log
	// (--skip-corrupt-ledger), so records once in it are gone.
	repaired bool
	// incomplete holds the IDs whose latest record is incomplete
	// (Record.Incomplete: a route some destinations took and another
	// could not before pipeline.route_timeout), for the pipeline's
	// finisher (Store.Incomplete). Found at Open by the scan, which reads
	// every frame's bytes anyway, and kept by the appender: derived from
	// the ledger alone, it can never disagree with it after a crash.
	incomplete map[string]struct{}

	// the writer's state, owned by the appender goroutine
	cur    *os.File
	curNo  uint32
	curOff int64
	dirty  bool

	reqs    chan *appendReq
	closing sync.RWMutex // held to send on reqs; taken to close
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

type appendReq struct {
	id         string
	frame      []byte
	incomplete bool // the record is incomplete (ledger.incomplete)
	err        chan error
}

var _ minsheng.Ledger = (*Store)(nil)

func openLedger(dir string, syncEvery time.Duration, skipCorrupt bool, log *slog.Logger) (*ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	l := &ledger{dir: dir, log: log, sync: syncEvery, index: map[idKey]loc{}, other: map[string]loc{},
		incomplete: map[string]struct{}{}, segs: map[uint32]*os.File{}, reqs: make(chan *appendReq, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i, name := range names {
		var no uint32
		if _, err := fmt.Sscanf(filepath.Base(name), "%010d.log", &no); err != nil {
			return nil, fmt.Errorf("ledger: unexpected file %s", name)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0o600)
		if err != nil {
			l.closeFiles()
			return nil, fmt.Errorf("ledger: %w", err)
		}
		l.segs[no] = f
		end, err := l.scan(no, f, i == len(names)-1, skipCorrupt)
		if err != nil {
			l.closeFiles()
			return nil, err
		}
		l.cur, l.curNo, l.curOff = f, no, end
	}
	if l.cur == nil {
		if err := l.roll(1); err != nil {
			return nil, err
		}
	}
	go l.run()
	return l, nil
}

// scan reads a segment's frames into the index and returns where the last
// whole frame ends. A bad frame (short, over-long, empty, or failing its
// checksum) with no whole frame after it is a torn write: cut off, with a
// warning, in the last segment, and an error in the others, which were
// synced whole before the next began. A bad frame with whole frames after
// it is damage, not a crash mid-write: cutting there would throw away the
// records after it, so Open fails, naming the span, unless skipCorrupt
// (minsheng run --skip-corrupt-ledger), which overwrites the span with a
// filler frame that later scans pass over (see fill) and keeps the rest,
// with an error in the log.
func (l *ledger) scan(no uint32, f *os.File, last, skipCorrupt bool) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	hdr := make([]byte, frameHeader)
	var buf []byte
	for {
		id, rec, err := readFrame(r, hdr, &buf)
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err == nil {
			if id := string(id); id != fillerID {
				l.put(id, loc{no, uint32(off)}, isIncomplete(rec))
			}
			off += int64(frameHeader + len(id) + len(rec))
			continue
		}
		size, next, err := nextFrame(f, off)
		if err != nil {
			return 0, err
		}
		if next < 0 {
			if !last && !skipCorrupt {
				return 0, fmt.Errorf("ledger: segment %d is corrupt at offset %d (its last %d bytes, which hold no whole record); "+
					"restore the data directory, or start once with --skip-corrupt-ledger to skip them", no, off, size-off)
			}
			if !last {
				l.repaired = true
				if size-off >= minFiller {
					// Filled, not cut, as a span with records after it
					// is: what reads the ledger later (the blob
					// collector) sees that records were lost here.
					l.log.Error("ledger: skipping a corrupt end of a segment; the records in it are lost", "segment", no, "from", off, "bytes", size-off)
					if err := fill(f, off, size); err != nil {
						return 0, err
					}
					return size, nil
				}
				l.log.Error("ledger: cutting a corrupt end of a segment too short to hold a record", "segment", no, "from", off, "bytes", size-off)
				if err := f.Truncate(off); err != nil {
					return 0, fmt.Errorf("ledger: truncate: %w", err)
				}
				return off, nil
			}
			l.log.Warn("ledger: cutting a torn frame at the end of the log (a crash mid-write)", "segment", no, "offset", off, "bytes", size-off)
			if err := f.Truncate(off); err != nil {
				return 0, fmt.Errorf("ledger: truncate: %w", err)
			}
			return off, nil
		}
		if !skipCorrupt {
			return 0, fmt.Errorf("ledger: segment %d is corrupt from offset %d to %d (%d bytes), with whole records after it: "+
				"not a torn write, so nothing is cut; restore the data directory, or start once with --skip-corrupt-ledger to skip the damaged span and keep the records after it", no, off, next, next-off)
		}
		if next-off < minFiller {
			// Too short for a filler frame (the leftovers of failed
			// writes, frames overlapping): the whole frame after it goes
			// too, its record lost with the span.
			end, err := frameEnd(f, next)
			if err != nil {
				return 0, err
			}
			next = end
		}
		l.repaired = true
		l.log.Error("ledger: skipping a corrupt span; the records in it are lost", "segment", no, "from", off, "to", next, "bytes", next-off)
		if err := fill(f, off, next); err != nil {
			return 0, err
		}
		if _, err := f.Seek(next, io.SeekStart); err != nil {
			return 0, fmt.Errorf("ledger: %w", err)
		}
		r.Reset(f)
		off = next
	}
}

// errBadFrame: a frame short, over-long, empty, or failing its checksum.
var errBadFrame = errors.New("bad frame")

// readFrame reads the frame at r's position into *buf and returns its ID
// and record; io.EOF when r is at its end, errBadFrame for a bad frame.
func readFrame(r io.Reader, hdr []byte, buf *[]byte) (id, rec []byte, err error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, io.EOF
		}
		return nil, nil, errBadFrame
	}
	idLen, recLen := int(hdr[0]), int(binary.BigEndian.Uint32(hdr[1:5]))
	// No frame written has an empty ID or record: an all-zero header (a
	// tail the file system extended but never filled) would otherwise
	// pass, the checksum of nothing being 0.
	if int64(recLen) > segmentMax || idLen == 0 || recLen == 0 {
		return nil, nil, errBadFrame
	}
	*buf = slices.Grow((*buf)[:0], idLen+recLen)[:idLen+recLen]
	body := *buf
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, nil, errBadFrame
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[5:9]) {
		return nil, nil, errBadFrame
	}
	return body[:idLen], body[idLen:], nil
}

// fillerID is the ID of a frame that fills a skipped span (no record ID
// holds a NUL: Commit refuses it).
const fillerID = "\x00"

// minFiller is the smallest span a filler frame fills: its header, its
// ID and one byte of record.
const minFiller int64 = frameHeader + int64(len(fillerID)) + 1

// frameEnd returns where the whole frame at off (one nextFrame found)
// ends.
func frameEnd(f *os.File, off int64) (int64, error) {
	hdr := make([]byte, frameHeader)
	if _, err := f.ReadAt(hdr, off); err != nil {
		return 0, fmt.Errorf("ledger: read: %w", err)
	}
	return off + frameHeader + int64(hdr[0]) + int64(binary.BigEndian.Uint32(hdr[1:5])), nil
}

// fill overwrites the damaged bytes [from, to) of a segment with one
// whole frame that scan passes over, and syncs it, so that the span is
// skipped once and later starts need no option. Damage inside a frame
// spans from its start to the next frame's, never less than minFiller;
// scan widens a shorter span first.
func fill(f *os.File, from, to int64) error {
	n := to - from - frameHeader - int64(len(fillerID))
	if n < 1 || n > math.MaxUint32 {
		return fmt.Errorf("ledger: cannot fill a span of %d bytes", to-from)
	}
	frame := make([]byte, to-from)
	frame[0] = byte(len(fillerID))
	binary.BigEndian.PutUint32(frame[1:5], uint32(n))
	copy(frame[frameHeader:], fillerID)
	binary.BigEndian.PutUint32(frame[5:9], crc32.Checksum(frame[frameHeader:], crcTable))
	if _, err := f.WriteAt(frame, from); err != nil {
		return fmt.Errorf("ledger: fill a corrupt span: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("ledger: sync: %w", err)
	}
	return nil
}

// nextFrame looks in a segment, after a bad frame at off, for the first
// offset at which a whole frame begins (its ID and record not empty, its
// checksum right), and returns the segment's size and that offset, or -1.
// A checksum passing by chance on damaged bytes is one in 2^32.
func nextFrame(f *os.File, off int64) (size, next int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("ledger: %w", err)
	}
	size = st.Size()
	rest := make([]byte, max(size-off, 0))
	if _, err := f.ReadAt(rest, off); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, fmt.Errorf("ledger: read: %w", err)
	}
	for i := 1; i+frameHeader <= len(rest); i++ {
		idLen, recLen := int(rest[i]), int64(binary.BigEndian.Uint32(rest[i+1:i+5]))
		end := int64(i+frameHeader+idLen) + recLen
		if idLen == 0 || recLen == 0 || end > int64(len(rest)) {
			continue
		}
		if crc32.Checksum(rest[i+frameHeader:end], crcTable) == binary.BigEndian.Uint32(rest[i+5:i+9]) {
			return size, off + int64(i), nil
		}
	}
	return size, -1, nil
}

func (l *ledger) roll(no uint32) error {
	if l.cur != nil {
		// Bytes past the whole frames (a write that failed part way, such
		// as on a full disk) would make this segment, no longer the last,
		// look corrupt at the next start.
		if err := l.cur.Truncate(l.curOff); err != nil {
			return fmt.Errorf("ledger: truncate: %w", err)
		}
		if err := l.cur.Sync(); err != nil {
			return fmt.Errorf("ledger: sync: %w", err)
		}
	}
	name := filepath.Join(l.dir, fmt.Sprintf("%010d.log", no))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("ledger: new segment: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		// Not adopted: remove it, or the next roll's O_EXCL would fail
		// and the ledger could not be written until a restart.
		f.Close()
		os.Remove(name)
		return err
	}
	l.mu.Lock()
	l.segs[no] = f
	l.mu.Unlock()
	l.cur, l.curNo, l.curOff = f, no, 0
	return nil
}

// incompleteMark is the end of what marks an incomplete record's JSON,
// `"incomplete":true`, from both encoders (minsheng.AppendRecordJSON's own
// and encoding/json's). No other field of a record has a name ending so,
// and inside a JSON string a quote is escaped, so a record holds these
// bytes only when it is incomplete (a text quoting the mark holds
// `\"incomplete\":true`; an attribute named so has a string value). The
// whole mark is not searched for: its first byte, a quote, is in every key,
// and bytes.Index took 0.8 µs a record of 1.9 KB for it against 0.1 µs for
// this (BenchmarkLedgerOpen measures the scan).
var incompleteMark = []byte(`plete":true`)

// isIncomplete reports whether a record's JSON is of an incomplete record,
// without decoding it: the scan at Open asks it of every frame. A record
// it were wrong about would cost the finisher a Lookup, and nothing else.
func isIncomplete(rec []byte) bool { return bytes.Contains(rec, incompleteMark) }

// put indexes the record of id written at at, incomplete or not.
func (l *ledger) put(id string, at loc, incomplete bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.hasLast = at, true
	if incomplete {
		l.incomplete[id] = struct{}{}
	} else if len(l.incomplete) > 0 {
		delete(l.incomplete, id)
	}
	if k, ok := keyOf(id); ok {
		l.index[k] = at
		return
	}
	l.other[id] = at
}

func (l *ledger) get(id string) (loc, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if k, ok := keyOf(id); ok {
		at, found := l.index[k]
		return at, found
	}
	at, found := l.other[id]
	return at, found
}

func (l *ledger) len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.index) + len(l.other)
}

// run is the appender: it writes the frames of every request waiting at the
// moment in one write, and fsyncs every l.sync.
func (l *ledger) run() {
	defer close(l.done)
	tick := time.NewTicker(l.sync)
	defer tick.Stop()
	var batch []*appendReq
	var buf []byte
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch[:0], r)
		gather:
			for len(batch) < 4096 {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
				default:
					break gather
				}
			}
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.frame...)
			}
			err := l.write(buf, batch)
			for _, r := range batch {
				r.err <- err
				putBuf(r.frame) // copied into buf
				r.frame = nil
			}
		case <-tick.C:
			l.flush()
		case <-l.stop:
			for {
				select {
				case r := <-l.reqs:
					r.err <- l.write(r.frame, []*appendReq{r})
				default:
					l.flush()
					return
				}
			}
		}
	}
}

func (l *ledger) write(buf []byte, batch []*appendReq) error {
	if l.curOff+int64(len(buf)) > segmentMax && l.curOff > 0 {
		if err := l.roll(l.curNo + 1); err != nil {
			return err
		}
	}
	if _, err := l.cur.WriteAt(buf, l.curOff); err != nil {
		// Nothing past curOff is indexed, but whole frames of this batch
		// may be written there (a full disk stops a write part way), and
		// a shorter next write would overwrite only their start: cut them
		// off, or the next start would find records whose Commit failed
		// after a bad frame, and refuse the segment as damaged.
		if terr := l.cur.Truncate(l.curOff); terr != nil {
			l.log.Error("ledger: cannot cut a failed write's bytes", "segment", l.curNo, "offset", l.curOff, "err", terr)
		}
		return fmt.Errorf("ledger: write: %w", err)
	}
	off := l.curOff
	for _, r := range batch {
		l.put(r.id, loc{l.curNo, uint32(off)}, r.incomplete)
		off += int64(len(r.frame))
	}
	l.curOff = off
	l.dirty = true
	return nil
}

func (l *ledger) flush() {
	if !l.dirty {
		return
	}
	if err := l.cur.Sync(); err != nil {
		l.log.Error("ledger: fsync failed", "err", err)
		return
	}
	l.dirty = false
}

// encodeFrame lays out one record's frame: len(id) (1 byte), len(rec)
// (4), the CRC-32C of id and rec (4), id, rec.
func encodeFrame(id string, rec []byte) []byte {
	frame := make([]byte, frameHeader+len(id), frameHeader+len(id)+len(rec))
	return sealFrame(append(frame, rec...), id)
}

// sealFrame fills in the header of a frame laid out as encodeFrame lays
// it out, its record encoded in place after frameHeader+len(id) bytes.
func sealFrame(frame []byte, id string) []byte {
	frame[0] = byte(len(id))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(frame)-frameHeader-len(id)))
	copy(frame[frameHeader:], id)
	binary.BigEndian.PutUint32(frame[5:9], crc32.Checksum(frame[frameHeader:], crcTable))
	return frame
}

func (l *ledger) append(ctx context.Context, id string, rec []byte) error {
	return l.appendFrame(ctx, id, encodeFrame(id, rec), isIncomplete(rec))
}

// appendFrame appends a frame encodeFrame or sealFrame made. An ID over
// 255 bytes, which the frame's one length byte cannot hold, is refused.
func (l *ledger) appendFrame(ctx context.Context, id string, frame []byte, incomplete bool) error {
	if len(id) > 255 {
		return fmt.Errorf("ledger: id too long")
	}
	r := &appendReq{id: id, frame: frame, incomplete: incomplete, err: make(chan error, 1)}
	l.closing.RLock()
	if l.closed {
		l.closing.RUnlock()
		return ErrClosed
	}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		l.closing.RUnlock()
		return ctx.Err()
	}
	l.closing.RUnlock()
	return <-r.err
}

func (l *ledger) read(at loc) ([]byte, error) {
	l.mu.RLock()
	f := l.segs[at.seg]
	l.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("ledger: no segment %d", at.seg)
	}
	hdr := make([]byte, frameHeader)
	if _, err := f.ReadAt(hdr, int64(at.off)); err != nil {
		return nil, fmt.Errorf("ledger: read: %w", err)
	}
	idLen, recLen := int(hdr[0]), int(binary.BigEndian.Uint32(hdr[1:5]))
	body := make([]byte, idLen+recLen)
	if _, err := f.ReadAt(body, int64(at.off)+frameHeader); err != nil {
		return nil, fmt.Errorf("ledger: read: %w", err)
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[5:9]) {
		return nil, fmt.Errorf("ledger: record at %d/%d is corrupt", at.seg, at.off)
	}
	return body[idLen:], nil
}

func (l *ledger) close() error {
	l.closing.Lock()
	l.closed = true
	l.closing.Unlock()
	close(l.stop)
	<-l.done
	// Whatever a failed write left past the whole frames goes (see write).
	var terr error
	if l.cur != nil {
		terr = l.cur.Truncate(l.curOff)
	}
	return errors.Join(terr, l.closeFiles())
}

func (l *ledger) closeFiles() error {
	var errs []error
	for _, f := range l.segs {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Lookup returns the record of a handled item, or an error wrapping
// minsheng.ErrNotFound.
func (s *Store) Lookup(_ context.Context, id string) (*minsheng.Record, error) {
	at, ok := s.ledger.get(id)
	if !ok {
		return nil, fmt.Errorf("store: item %s: %w", id, minsheng.ErrNotFound)
	}
	raw, err := s.ledger.read(at)
	if err != nil {
		return nil, fmt.Errorf("store: item %s: %w", id, err)
	}
	var r minsheng.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("store: item %s: corrupt record: %w", id, err)
	}
	return &r, nil
}

// Seen reports whether the ledger holds a record for the item.
func (s *Store) Seen(id string) bool {
	_, ok := s.ledger.get(id)
	return ok
}

// Commit appends the record to the ledger (written to the file before it
// returns; fsynced within SyncInterval). Committing an ID again supersedes
// the earlier record.
func (s *Store) Commit(ctx context.Context, r *minsheng.Record) error {
	if r.ID == "" || strings.ContainsRune(r.ID, 0) {
		return fmt.Errorf("store: commit: record without a valid id")
	}
	// The record is encoded in place in its frame (json.Marshal's bytes).
	frame, err := minsheng.AppendRecordJSON(append(getBuf(), make([]byte, frameHeader+len(r.ID))...), r, true)
	if err != nil {
		return fmt.Errorf("store: commit %s: %w", r.ID, err)
	}
	return s.ledger.appendFrame(ctx, r.ID, sealFrame(frame, r.ID), r.Incomplete)
}

// Incomplete returns, sorted, the IDs of the items whose latest record is
// incomplete (Record.Incomplete), for the pipeline to finish their routes.
// It reads nothing: the set is kept in memory, found at Open by the scan of
// the ledger's frames (without decoding them) and kept by Commit. A crash
// cannot make it disagree with the ledger: a record the crash lost (the
// ledger is fsynced every LedgerSyncInterval) is lost to the set as well,
// and the ID is back to its previous record's state.
func (s *Store) Incomplete() []string {
	s.ledger.mu.RLock()
	ids := make([]string, 0, len(s.ledger.incomplete))
	for id := range s.ledger.incomplete {
		ids = append(ids, id)
	}
	s.ledger.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// IncompleteCount is len(Incomplete()), without the list.
func (s *Store) IncompleteCount() int {
	s.ledger.mu.RLock()
	defer s.ledger.mu.RUnlock()
	return len(s.ledger.incomplete)
}

// Each calls fn with the record of every handled item, its latest, in the
// order they were last written, until fn returns an error.
func (s *Store) Each(fn func(*minsheng.Record) error) error {
	locs, _, _ := s.ledger.after(nil)
	return s.each(locs, func(_ loc, r *minsheng.Record) error { return fn(r) })
}

// after returns where the latest record of every item written after p
// (nil: every item) lies, in the order written, and where the last record
// lies (ok: there is one).
func (l *ledger) after(p *loc) (locs []loc, last loc, ok bool) {
	l.mu.RLock()
	for _, at := range l.index {
		if p == nil || p.less(at) {
			locs = append(locs, at)
		}
	}
	for _, at := range l.other {
		if p == nil || p.less(at) {
			locs = append(locs, at)
		}
	}
	last, ok = l.last, l.hasLast
	l.mu.RUnlock()
	slices.SortFunc(locs, loc.compare)
	return locs, last, ok
}

func (a loc) compare(b loc) int {
	if a.seg != b.seg {
		return cmp.Compare(a.seg, b.seg)
	}
	return cmp.Compare(a.off, b.off)
}

func (a loc) less(b loc) bool { return a.compare(b) < 0 }

// each reads and decodes the records at locs, in turn, for fn.
func (s *Store) each(locs []loc, fn func(loc, *minsheng.Record) error) error {
	for _, at := range locs {
		raw, err := s.ledger.read(at)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		var r minsheng.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("store: corrupt record at segment %d offset %d: %w", at.seg, at.off, err)
		}
		if err := fn(at, &r); err != nil {
			return err
		}
	}
	return nil
}

// CountItems returns how many items the ledger holds.
func (s *Store) CountItems() (int, error) {
	return s.ledger.len(), nil
}
