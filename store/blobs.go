package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	minsheng "github.com/minsheng/minsheng"
)

// Blobs is a content-addressed file store: each blob is the file
// <dir>/<first two hex digits>/<sha256 hex>, written to a temporary file,
// fsynced and renamed into place, so a blob that exists is whole.
type Blobs struct {
	dir string
}

var _ minsheng.Blobs = (*Blobs)(nil)

// OpenBlobs opens (creating if needed) a blob directory.
func OpenBlobs(dir string) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
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
	src := r
	if max > 0 {
		src = io.LimitReader(r, max+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, src})
	if err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: write: %w", err)
	}
	if max > 0 && n > max {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: over %d bytes: %w", max, minsheng.ErrTooLarge)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	info := minsheng.BlobInfo{Ref: refPrefix + sum, SHA256: sum, Size: n}
	final := b.path(sum)
	if _, err := os.Stat(final); err == nil {
		return info, nil // already stored: content-addressed, so identical
	}
	if err := tmp.Sync(); err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: close: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return minsheng.BlobInfo{}, fmt.Errorf("blobs: rename: %w", err)
	}
	tmp = nil
	if err := syncDir(filepath.Dir(final)); err != nil {
		return minsheng.BlobInfo{}, err
	}
	return info, nil
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
