#include "textflag.h"

// ROW sets DX to the offset in the table of the row of the bucket at SI,
// masked by BX: times packedRow (16).
#define ROW MOVL (SI), DX; ANDL BX, DX; SHLQ $4, DX

// func prefetchRows(base unsafe.Pointer, ids []uint32, mask uint32) byte
// PREFETCHT0 of row ids[i]&mask for each i; returns 0.
TEXT ·prefetchRows(SB), NOSPLIT, $0-41
	MOVQ base+0(FP), AX
	MOVQ ids_base+8(FP), SI
	MOVQ ids_len+16(FP), CX
	MOVL mask+32(FP), BX
	MOVB $0, ret+40(FP)
	TESTQ CX, CX
	JEQ done

loop:
	ROW
	PREFETCHT0 (AX)(DX*1)
	ADDQ $4, SI
	DECQ CX
	JNE loop

done:
	RET

// func sumRowsSSE(sums *[16]uint16, base unsafe.Pointer, mask uint32, chunk []uint32, cand []int32, at int) (n int)
// sumRowsGo with SSE2: a row is one XMM register, its bytes flipped to
// unsigned (x+128) and widened to 16-bit lanes, bytes 0-7 in X1 and 8-15
// in X2. The mark test is sumRowsGo's: (mark&31 + 26) >> 5 is 1 when the
// level (markLevel, 31) is at least strongLean/8 (6); markShift is 5.
TEXT ·sumRowsSSE(SB), NOSPLIT, $0-88
	MOVQ base+8(FP), AX
	MOVL mask+16(FP), BX
	MOVQ chunk_base+24(FP), SI
	MOVQ chunk_len+32(FP), CX
	MOVQ cand_base+48(FP), DI
	MOVQ at+72(FP), R8
	XORQ R9, R9                   // n
	PXOR X0, X0                   // zero, to widen bytes with
	PXOR X1, X1                   // sums of bytes 0-7
	PXOR X2, X2                   // sums of bytes 8-15
	MOVQ $0x8080808080808080, R10
	MOVQ R10, X3
	PUNPCKLQDQ X3, X3             // the flip of every byte's top bit
	TESTQ CX, CX
	JEQ done

loop:
	ROW
	MOVOU (AX)(DX*1), X4
	MOVBLZX 15(AX)(DX*1), R11     // the mark
	PXOR X3, X4
	MOVO X4, X5
	PUNPCKLBW X0, X4
	PUNPCKHBW X0, X5
	PADDW X4, X1
	PADDW X5, X2
	MOVL R8, (DI)(R9*4)           // cand[n] = at + i
	ANDL $31, R11
	ADDL $26, R11
	SHRL $5, R11
	ADDQ R11, R9
	INCQ R8
	ADDQ $4, SI
	DECQ CX
	JNE loop

done:
	MOVQ sums+0(FP), DX
	MOVOU X1, (DX)
	MOVOU X2, 16(DX)
	MOVQ R9, n+80(FP)
	RET
