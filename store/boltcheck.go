package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
)

// boltMagic marks a bbolt file's meta pages.
const boltMagic = 0xED0CDAED

// checkBoltSize refuses a state.db shorter than its own newest meta page
// says it is (a copy cut short, blocks a failing disk lost). bbolt maps
// the file and reads every page at open to rebuild its free list; a page
// past the end of the file kills the process with SIGBUS and a stack
// dump that names no file. A file that is missing, or whose meta pages
// are not valid, is left to bbolt, which creates or refuses it.
//
// The layout read here (bbolt 1.x, host byte order; little endian on the
// machines the gateway is built for): a page header of 16 bytes, then the
// meta: magic, version, page size, flags (4 bytes each), the root bucket
// (16), the free list page (8), the high-water mark pgid (8), txid (8) and
// an FNV-1a 64 checksum of the 56 bytes before it. Meta pages are pages 0
// and 1; the one with the higher txid is current.
func checkBoltSize(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	meta := func(off int64) (m []byte, ok bool, err error) {
		buf := make([]byte, 16+64)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("store: read %s: %w", path, err)
		}
		m = buf[16:]
		h := fnv.New64a()
		h.Write(m[:56])
		return m, binary.LittleEndian.Uint32(m[0:4]) == boltMagic && h.Sum64() == binary.LittleEndian.Uint64(m[56:64]), nil
	}
	m0, ok0, err := meta(0)
	if err != nil || binary.LittleEndian.Uint32(m0[0:4]) != boltMagic {
		return err // not a bbolt file (yet): bbolt's to judge
	}
	pageSize := int64(binary.LittleEndian.Uint32(m0[8:12]))
	if pageSize < 512 || pageSize > 1<<20 {
		return nil
	}
	m1, ok1, err := meta(pageSize)
	if err != nil {
		return err
	}
	var cur []byte
	switch {
	case ok0 && ok1:
		cur = m0
		if binary.LittleEndian.Uint64(m1[48:56]) > binary.LittleEndian.Uint64(m0[48:56]) {
			cur = m1
		}
	case ok0:
		cur = m0
	case ok1:
		cur = m1
	default:
		return nil
	}
	pgid := binary.LittleEndian.Uint64(cur[40:48])
	if need := pgid * uint64(pageSize); uint64(st.Size()) < need {
		return fmt.Errorf("store: %s is %d bytes, shorter than the %d its last transaction left (%d pages of %d): the file was cut short (a failing disk, or a copy cut off); restore it from a backup", path, st.Size(), need, pgid, pageSize)
	}
	return nil
}
