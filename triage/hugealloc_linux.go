package triage

import (
	"syscall"
	"unsafe"
)

// allocWeights returns n zeroed bytes for a weight matrix. On Linux they are
// mapped apart from the Go heap and the kernel is asked to back them with
// huge pages: the rows an item touches are scattered over megabytes, and
// with 4 KiB pages most of its reads would also miss the TLB. When the
// mapping fails the heap is used.
func allocWeights(n int) []int8 {
	const huge = 2 << 20
	size := (n + huge - 1) / huge * huge
	if n < huge {
		return make([]int8, n)
	}
	b, err := syscall.Mmap(-1, 0, size+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]int8, n)
	}
	// align to a huge page
	off := 0
	if a := uintptr(unsafe.Pointer(&b[0])) % huge; a != 0 {
		off = int(huge - a)
	}
	b = b[off : off+size]
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE; a refusal only costs speed
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), n)
}
