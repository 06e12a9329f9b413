package triage

import "unsafe"

// prefetchRows asks the processor to bring row ids[i]&mask of the packed
// table at base (rows of packedRow bytes) into the cache, for every i, with
// PREFETCHT0, which Go cannot write. Unlike a load, a prefetch does not
// hold up the instructions after it until its row arrives, so the misses
// of all the rows overlap each other and the loop ends at once; the loads
// that replaced it (rows_other.go) had filled the processor's window
// of instructions waiting on them. On 附件3 it made deciding 3-4 %
// faster. It returns 0, as the other build's returns a byte of the rows,
// which the caller must use.
//
//go:noescape
func prefetchRows(base unsafe.Pointer, ids []uint32, mask uint32) byte

// sumRows is sumRowsGo with SSE2 (every amd64 processor has it): a row is
// one register, where sumRowsGo takes two words and masks and shifts each
// into two sums. On 附件3 it made deciding some 8 % faster.
// TestSumRowsSSE holds it to sumRowsGo.
func sumRows(base unsafe.Pointer, mask uint32, chunk []uint32, cand []int32, at int) (sums [packedRow]uint16, n int) {
	_ = cand[:len(chunk)] // the assembly writes up to len(chunk) positions
	n = sumRowsSSE(&sums, base, mask, chunk, cand, at)
	return sums, n
}

//go:noescape
func sumRowsSSE(sums *[packedRow]uint16, base unsafe.Pointer, mask uint32, chunk []uint32, cand []int32, at int) (n int)
