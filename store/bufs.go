package store

import "sync"

// bufs recycles the buffers a ledger record's frame and a queued envelope
// are encoded into, once they are written: a fresh buffer for each item
// cost an allocation and its clearing, 2-3 KB a time.
var bufs sync.Pool

// maxPooled: a larger buffer (a very long letter) is left to the collector
// rather than held for the next item.
const maxPooled = 64 << 10

// getBuf returns an empty buffer.
func getBuf() []byte {
	if p, ok := bufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, 4096)
}

// putBuf hands a buffer back once nothing refers to it any more.
func putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= maxPooled {
		bufs.Put(&b)
	}
}
