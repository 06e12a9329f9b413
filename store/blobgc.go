package store

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Collecting unreferenced blobs.
//
// Intake stores an item's blobs (a mail's raw original, a letter's
// attachments) before the item is routed; when routing then fails for good
// (a desk's 409, a 503 it never retries) they stay with no record referring
// to them. CollectBlobs removes such a blob once three things hold:
//
//   - its hash appears in no ledger frame (superseded records included) and
//     in no message of any embedded queue. The frames and messages are read
//     as bytes and every run of exactly 64 hexadecimal digits in them counts
//     as a reference, whatever field holds it: attachments' sha256 and ref,
//     items' and quarantined inputs' raw_ref today, and any field added
//     later, at the price of keeping a blob a letter's text happens to quote;
//   - its file's modification time is older than the grace period. Every
//     Put or Commit of content already stored refreshes that time (see
//     Blobs.reuse), so an item in flight, stored but not yet queued or
//     recorded, has touched each of its blobs moments ago, even one stored
//     first for another item long before;
//   - the time is still that old when it is removed: the check and the
//     removal hold the blob store's lock, which a Put of the same content
//     takes to refresh it, so a Put either finds the blob and keeps it, or
//     finds it gone and writes it again.
//
// A blob being written is not a blob yet: it is a temporary file (tmp/,
// .put-*), which the collector never looks at.

// BlobGCOptions tune CollectBlobs.
type BlobGCOptions struct {
	// Grace: a blob stored (or stored again) less than this long ago is kept
	// even when nothing refers to it.
	Grace time.Duration
	// DryRun counts what would be removed and removes nothing.
	DryRun bool
	// DespiteSkippedLedger collects even when the ledger holds a span
	// skipped as damaged (run --skip-corrupt-ledger): the records lost
	// there referred to blobs that then look unreferenced, and a ledger
	// restored from a backup would want them. Without it, such a ledger
	// is refused.
	DespiteSkippedLedger bool
}

// BlobGCReport says what a collection found and did: counts and bytes,
// never names.
type BlobGCReport struct {
	// Records and Messages are the ledger frames and queued messages read.
	Records, Messages int
	// Blobs and Bytes: every blob found.
	Blobs int
	Bytes int64
	// Referenced: blobs a record or message refers to.
	Referenced      int
	ReferencedBytes int64
	// Recent: unreferenced blobs within the grace period, kept.
	Recent      int
	RecentBytes int64
	// Removed: unreferenced blobs older than the grace period, removed (in a
	// dry run: that would be).
	Removed      int
	RemovedBytes int64
	// Took is how long the collection took.
	Took time.Duration
}

// CollectBlobs removes the blobs nothing refers to that are older than the
// grace period (see the comment above). It is safe while the gateway runs;
// one collection runs at a time.
func (s *Store) CollectBlobs(ctx context.Context, o BlobGCOptions) (BlobGCReport, error) {
	var rep BlobGCReport
	if o.Grace < 0 {
		return rep, fmt.Errorf("blobs gc: grace %s is negative", o.Grace)
	}
	if !s.gcRunning.TryLock() {
		return rep, errors.New("blobs gc: a collection is running already")
	}
	defer s.gcRunning.Unlock()
	start := time.Now()
	cutoff := start.Add(-o.Grace)
	refs := map[[32]byte]struct{}{}
	add := func(b []byte) { hashesIn(b, refs) }
	var err error
	var skipped int
	if rep.Records, skipped, err = s.ledger.eachFrame(ctx, add); err != nil {
		return rep, fmt.Errorf("blobs gc: %w", err)
	}
	if skipped > 0 && !o.DespiteSkippedLedger {
		return rep, fmt.Errorf("blobs gc: the ledger has lost records to damage (%d spans skipped with --skip-corrupt-ledger), "+
			"and the blobs they referred to would look unreferenced: refusing to collect; restore the lost records first, "+
			"or collect despite them (minsheng blobs gc --despite-skipped-ledger)", skipped)
	}
	if rep.Messages, err = s.eachMessage(add); err != nil {
		return rep, fmt.Errorf("blobs gc: queues: %w", err)
	}
	b := s.blobs
	var dirs []string
	err = b.each(func(sum [32]byte, path string, fi fs.FileInfo) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Blobs++
		rep.Bytes += fi.Size()
		if _, ok := refs[sum]; ok {
			rep.Referenced++
			rep.ReferencedBytes += fi.Size()
			return nil
		}
		if fi.ModTime().After(cutoff) {
			rep.Recent++
			rep.RecentBytes += fi.Size()
			return nil
		}
		if rep.Records == 0 && rep.Messages == 0 {
			// Nothing refers to anything: a ledger moved away or a wrong
			// directory looks like this, and would cost every blob.
			return errEmptyLedger
		}
		if o.DryRun {
			rep.Removed++
			rep.RemovedBytes += fi.Size()
			return nil
		}
		size, removed, err := b.removeIfOld(path, cutoff)
		if err != nil {
			return err
		}
		if !removed {
			// Stored again since it was listed (or gone): kept.
			if size >= 0 {
				rep.Recent++
				rep.RecentBytes += size
			}
			return nil
		}
		rep.Removed++
		rep.RemovedBytes += size
		if d := filepath.Dir(path); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
		return nil
	})
	// Removals made durable, so that what was removed stays removed
	// after a power loss, even when the walk stopped part way.
	if serr := syncDirs(dirs); serr != nil && err == nil {
		err = fmt.Errorf("blobs gc: sync: %w", serr)
	}
	rep.Took = time.Since(start)
	if errors.Is(err, errEmptyLedger) {
		return rep, fmt.Errorf("blobs gc: the ledger holds no records and the queues no messages, yet there are blobs older than the grace period: "+
			"refusing to collect, as a ledger moved away or the wrong data directory would look the same: %w", err)
	}
	if err != nil {
		return rep, fmt.Errorf("blobs gc: %w", err)
	}
	return rep, nil
}

var errEmptyLedger = errors.New("nothing refers to any blob")

// hashesIn adds to set every run of exactly 64 hexadecimal digits in b
// (either case), decoded.
func hashesIn(b []byte, set map[[32]byte]struct{}) {
	run := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && isHex(b[i]) {
			run++
			continue
		}
		if run == 64 {
			var sum [32]byte
			hex.Decode(sum[:], b[i-64:i]) // 64 hexadecimal digits: cannot fail
			set[sum] = struct{}{}
		}
		run = 0
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// eachFrame calls fn with the record of every frame in the ledger,
// superseded ones included, and returns how many it read and how many
// filler frames (spans skipped as damaged, see fill) it passed over. It may run
// while records are appended: it stops at the first frame not whole yet
// past the last record written when it began (one being written, which
// only a record written after it began can be); a bad frame at or before
// that record is an error (damage, or a read failing), since the whole
// records after it may be the only ones naming a blob. Not reaching that
// record, or reading fewer frames than the index held when it began, is an
// error too.
func (l *ledger) eachFrame(ctx context.Context, fn func(rec []byte)) (frames, fillers int, err error) {
	want := l.len()
	l.mu.RLock()
	segs := maps.Clone(l.segs)
	last, hasLast := l.last, l.hasLast
	l.mu.RUnlock()
	sawLast := false
	nos := slices.Sorted(maps.Keys(segs))
	hdr := make([]byte, frameHeader)
	var buf []byte
	for i, no := range nos {
		f := segs[no]
		st, err := f.Stat()
		if err != nil {
			return frames, fillers, fmt.Errorf("ledger: %w", err)
		}
		r := bufio.NewReaderSize(io.NewSectionReader(f, 0, st.Size()), 1<<20)
		for off := int64(0); ; {
			if err := ctx.Err(); err != nil {
				return frames, fillers, err
			}
			id, rec, err := readFrame(r, hdr, &buf)
			if errors.Is(err, io.EOF) {
				break
			}
			at := loc{no, uint32(off)}
			if err != nil && (i < len(nos)-1 || hasLast && at.compare(last) <= 0) {
				return frames, fillers, fmt.Errorf("ledger: segment %d: %w at offset %d", no, err, off)
			}
			if err != nil {
				break // past the last record written when the scan began: a frame being written now
			}
			if at == last {
				sawLast = true
			}
			if string(id) == fillerID {
				fillers++
			} else {
				fn(rec)
				frames++
			}
			off += int64(frameHeader + len(id) + len(rec))
		}
	}
	if hasLast && !sawLast {
		return frames, fillers, fmt.Errorf("ledger: the scan ended before the last record (segment %d offset %d)", last.seg, last.off)
	}
	if frames < want {
		return frames, fillers, fmt.Errorf("ledger: read %d records, fewer than the %d it holds", frames, want)
	}
	return frames, fillers, nil
}

// eachMessage calls fn with every message waiting in the embedded queues
// (one read transaction: a consistent view) and returns how many.
func (s *Store) eachMessage(fn func(msg []byte)) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		qs := tx.Bucket(bucketQueues)
		return qs.ForEachBucket(func(name []byte) error {
			c := qs.Bucket(name).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				fn(v)
				n++
			}
			return nil
		})
	})
	return n, err
}

// each calls fn with every stored blob: its hash, its path and its file's
// information. Files that are not blobs (temporary ones, anything else)
// are passed over.
func (b *Blobs) each(fn func(sum [32]byte, path string, fi fs.FileInfo) error) error {
	shards, err := os.ReadDir(b.dir)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 || !lowerHex(sh.Name()) {
			continue
		}
		dir := filepath.Join(b.dir, sh.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() || len(name) != 64 || name[:2] != sh.Name() || !lowerHex(name) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			var sum [32]byte
			hex.Decode(sum[:], []byte(name))
			if err := fn(sum, filepath.Join(dir, name), fi); err != nil {
				return err
			}
		}
	}
	return nil
}

func lowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// removeIfOld removes the blob at path if its modification time is still
// at or before cutoff, under the lock a Put of the same content takes to
// refresh it. It returns the blob's size (-1 when it is gone) and whether
// it removed it.
func (b *Blobs) removeIfOld(path string, cutoff time.Time) (int64, bool, error) {
	b.gcMu.Lock()
	defer b.gcMu.Unlock()
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return -1, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if fi.ModTime().After(cutoff) {
		return fi.Size(), false, nil
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return -1, false, nil
		}
		return 0, false, err
	}
	return fi.Size(), true, nil
}
