#include "textflag.h"

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
	MOVL (SI), DX
	ANDL BX, DX
	SHLQ $4, DX // packedRow
	PREFETCHT0 (AX)(DX*1)
	ADDQ $4, SI
	DECQ CX
	JNE loop

done:
	RET
