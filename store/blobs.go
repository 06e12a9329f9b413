package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// Blobs is a content-addressed file store: each blob is the file
// <dir>/<first two hex digits>/<sha256 hex>, written to a temporary file,
// made durable and renamed into place, so a blob that exists is whole.
//
// Concurrent Puts share their syncs (group commit): the first writer to
// finish becomes the committer and makes every temporary file written so
// far durable at once (concurrent fsyncs for a few, one syncfs(2) for
// many), renames them all, and makes the renames durable the same way;
// writers that finish meanwhile wait for the next round. A Put still returns only once
// its blob is durable.
type Blobs struct {
	dir string

	mu        sync.Mutex
	queue     []*pendingBlob
	committer bool
	dirs      sync.Map // shard directories known to exist

	// gcMu is held for reading to refresh a stored blob's time (reuse)
	// and for writing by the collector to check that time and remove the
	// blob (removeIfOld), so that a blob is never removed under a Put that
	// found it stored.
	gcMu sync.RWMutex
}

type pendingBlob struct {
	tmp, final string
	done       chan error
}

var _ minsheng.Blobs = (*Blobs)(nil)

// OpenBlobs opens (creating if needed) a blob directory. The caller owns
// the directory (the store's lock): the temporary files a Put killed part
// way left behind are removed, since no Put of this process has begun.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	left, err := filepath.Glob(filepath.Join(dir, "tmp", "*")) // put-*, stage-*: all temporary
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	small, err := filepath.Glob(filepath.Join(dir, "[0-9a-f][0-9a-f]", ".put-*"))
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	for _, name := range append(left, small...) {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("blobs: remove a temporary file left by a crash: %w", err)
		}
	}
	return &Blobs{dir: dir}, nil
}

const refPrefix = "sha256:"

func (b *Blobs) path(sum string) string {
	return filepath.Join(b.dir, sum[:2], sum)
}

// Put stores at most max bytes from r (max <= 0: no cap). Over the cap it
// returns an error wrapping minsheng.ErrTooLarge and keeps nothing.
func (b *Blobs) Put(ctx context.Context, r io.Reader, max int64) (minsheng.BlobInfo, error) {
	src := io.Reader(ctxReader{ctx, r})
	if max > 0 {
		src = io.LimitReader(src, max+1)
	}
	// A small blob is hashed in memory first: nothing is written for one
	// already stored, and its temporary file is made in its own shard
	// directory, so concurrent Puts spread over 256 directories and the
	// rename stays inside one.
	head, err := io.ReadAll(io.LimitReader(src, smallBlob+1))
	if err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: write: %w", err)
	}
	if len(head) <= smallBlob {
		if max > 0 && int64(len(head)) > max {
			return minsheng.BlobInfo{}, fmt.Errorf("blobs: over %d bytes: %w", max, minsheng.ErrTooLarge)
		}
		sum := sha256.Sum256(head)
		hexsum := hex.EncodeToString(sum[:])
		info := minsheng.BlobInfo{Ref: refPrefix + hexsum, SHA256: hexsum, Size: int64(len(head))}
		final := b.path(hexsum)
		if b.reuse(final) {
			return info, nil // already stored: content-addressed, so identical
		}
		if err := b.ensureDir(filepath.Dir(final)); err != nil {
			return minsheng.BlobInfo{}, err
		}
		return info, b.write(filepath.Dir(final), final, func(w io.Writer) (int64, error) {
			n, err := w.Write(head)
			return int64(n), err
		})
	}
	tmp, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "put-*")
	if err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.MultiReader(bytes.NewReader(head), src))
	if err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: write: %w", err)
	}
	if max > 0 && n > max {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: over %d bytes: %w", max, minsheng.ErrTooLarge)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	info := minsheng.BlobInfo{Ref: refPrefix + sum, SHA256: sum, Size: n}
	final := b.path(sum)
	if b.reuse(final) {
		return info, nil // already stored: content-addressed, so identical
	}
	if err := tmp.Close(); err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: close: %w", err)
	}
	name := tmp.Name()
	tmp = nil
	if err := b.ensureDir(filepath.Dir(final)); err != nil {
		os.Remove(name)
		return minsheng.BlobInfo{}, err
	}
	if err := b.commit(name, final); err != nil {
		os.Remove(name)
		return minsheng.BlobInfo{}, err
	}
	return info, nil
}

// Stage writes at most max bytes from r (max <= 0: no cap) to a
// temporary file and hashes them, storing nothing yet: Commit moves the
// file into place as Put would, Discard removes it. A blob of the same
// content stored meanwhile is left alone either way.
func (b *Blobs) Stage(ctx context.Context, r io.Reader, max int64) (minsheng.StagedBlob, error) {
	src := io.Reader(ctxReader{ctx, r})
	if max > 0 {
		src = io.LimitReader(src, max+1)
	}
	tmp, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "stage-*")
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err == nil && max > 0 && n > max {
		err = fmt.Errorf("over %d bytes: %w", max, minsheng.ErrTooLarge)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("blobs: stage: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return &stagedBlob{b: b, tmp: tmp.Name(), info: minsheng.BlobInfo{Ref: refPrefix + sum, SHA256: sum, Size: n}}, nil
}

type stagedBlob struct {
	b    *Blobs
	tmp  string
	info minsheng.BlobInfo
	done bool
}

func (s *stagedBlob) Info() minsheng.BlobInfo { return s.info }

func (s *stagedBlob) Commit() error {
	if s.done {
		return nil
	}
	s.done = true
	final := s.b.path(s.info.SHA256)
	if s.b.reuse(final) {
		os.Remove(s.tmp)
		return nil // already stored: content-addressed, so identical
	}
	if err := s.b.ensureDir(filepath.Dir(final)); err != nil {
		os.Remove(s.tmp)
		return err
	}
	if err := s.b.commit(s.tmp, final); err != nil {
		os.Remove(s.tmp)
		return err
	}
	return nil
}

func (s *stagedBlob) Discard() {
	if !s.done {
		s.done = true
		os.Remove(s.tmp)
	}
}

// reuse reports whether a blob is stored at final already, and if so
// refreshes its modification time: the collector (CollectBlobs) keeps a
// blob stored within its grace period, and the item about to refer to this
// one is not recorded yet. A blob whose time cannot be refreshed is
// reported absent, and written again: the rename leaves a fresh file.
func (b *Blobs) reuse(final string) bool {
	b.gcMu.RLock()
	defer b.gcMu.RUnlock()
	return os.Chtimes(final, time.Time{}, time.Now()) == nil
}

// smallBlob is the size up to which a blob is hashed in memory before its
// file is made.
const smallBlob = 1 << 20

// write makes a temporary file in dir, fills it, and commits it as final.
func (b *Blobs) write(dir, final string, fill func(io.Writer) (int64, error)) error {
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	_, err = fill(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("blobs: write: %w", err)
	}
	if err := b.commit(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// ensureDir makes a shard directory once.
func (b *Blobs) ensureDir(dir string) error {
	if _, ok := b.dirs.Load(dir); ok {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	b.dirs.Store(dir, true)
	return nil
}

// commit makes the closed temporary file durable and renames it to final,
// durably, sharing the syncs with concurrent callers.
func (b *Blobs) commit(tmp, final string) error {
	p := &pendingBlob{tmp: tmp, final: final, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, p)
	if b.committer {
		b.mu.Unlock()
		return <-p.done
	}
	b.committer = true
	for len(b.queue) > 0 {
		round := b.queue
		b.queue = nil
		b.mu.Unlock()
		b.commitRound(round)
		b.mu.Lock()
	}
	b.committer = false
	b.mu.Unlock()
	return <-p.done
}

func (b *Blobs) commitRound(round []*pendingBlob) {
	tmps := make([]string, len(round))
	for i, p := range round {
		tmps[i] = p.tmp
	}
	if err := syncFiles(tmps); err != nil {
		for _, p := range round {
			p.done <- fmt.Errorf("blobs: sync: %w", err)
		}
		return
	}
	dirs := map[string]bool{}
	var ok []*pendingBlob
	for _, p := range round {
		if err := os.Rename(p.tmp, p.final); err != nil {
			p.done <- fmt.Errorf("blobs: rename: %w", err)
			continue
		}
		dirs[filepath.Dir(p.final)] = true
		ok = append(ok, p)
	}
	list := make([]string, 0, len(dirs))
	for d := range dirs {
		list = append(list, d)
	}
	err := syncDirs(list)
	for _, p := range ok {
		p.done <- err
	}
}

// PutBytes stores a byte slice.
func (b *Blobs) PutBytes(ctx context.Context, p []byte) (minsheng.BlobInfo, error) {
	return b.Put(ctx, bytes.NewReader(p), 0)
}

// Open returns a stored blob, or an error wrapping minsheng.ErrNotFound.
func (b *Blobs) Open(_ context.Context, ref string) (io.ReadCloser, error) {
	sum, ok := strings.CutPrefix(ref, refPrefix)
	if !ok || len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("blobs: bad reference %q: %w", ref, minsheng.ErrNotFound)
	}
	f, err := os.Open(b.path(sum))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blobs: %s: %w", ref, minsheng.ErrNotFound)
	}
	return f, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blobs: sync dir: %w", err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
