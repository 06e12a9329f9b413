//go:build !amd64

package triage

import "unsafe"

// prefetchRows reads a byte of row ids[i]&mask of the packed table at
// base, for every i, and returns their sum, which the caller must use, so
// that the rows are in the cache when they are summed: a loop that short
// keeps many rows' loads in flight at once (rows_amd64.go).
func prefetchRows(base unsafe.Pointer, ids []uint32, mask uint32) byte {
	var t byte
	for _, f := range ids {
		t += *(*byte)(unsafe.Add(base, int(f&mask)*packedRow))
	}
	return t
}

// sumRows is sumRowsGo where the assembly is not (rows_amd64.go).
func sumRows(base unsafe.Pointer, mask uint32, chunk []uint32, cand []int32, at int) (sums [packedRow]uint16, n int) {
	return sumRowsGo(base, mask, chunk, cand, at)
}
