package imap

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/transform"
)

// utf7 decodes UTF-7 (RFC 2152), which golang.org/x/text does not know and
// a few old mailers still write (labels utf-7, unicode-1-1-utf-7,
// csUnicode11UTF7). Text is ASCII until '+', which starts a run of base64
// (without padding) holding UTF-16 big-endian code units; the run ends at
// the first character outside the base64 alphabet, and a '-' there is
// absorbed; "+-" is a plus sign. This is not the modified UTF-7 of IMAP
// mailbox names (RFC 3501 §5.1.3, '&' and ','), which go-imap handles.
//
// Malformed input (an 8-bit byte, a '+' followed by neither base64 nor '-',
// a run ending with a partial code unit or non-zero padding bits, an
// unpaired surrogate) is an error wrapping errUTF7, which decodeText takes
// as a sign to fall back to the bytes as sent, with a note. Decoding only.
type utf7 struct{}

var (
	errUTF7       = errors.New("utf-7: malformed")
	errUTF7Encode = errors.New("utf-7: encoding is not supported")
)

func (utf7) NewDecoder() *encoding.Decoder {
	return &encoding.Decoder{Transformer: &utf7Decoder{}}
}

func (utf7) NewEncoder() *encoding.Encoder {
	return &encoding.Encoder{Transformer: refuseUTF7{}}
}

type refuseUTF7 struct{ transform.NopResetter }

func (refuseUTF7) Transform(_, _ []byte, _ bool) (int, int, error) { return 0, 0, errUTF7Encode }

type utf7Decoder struct {
	shifted bool   // inside a base64 run
	empty   bool   // the run has no base64 character yet
	bits    uint32 // base64 bits not yet part of a code unit
	nbits   uint
	high    rune // a high surrogate waiting for its low half; 0: none
}

func (d *utf7Decoder) Reset() { *d = utf7Decoder{} }

// utf7Value is the value of a base64 character, or -1.
func utf7Value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// endRun closes a base64 run: what is left must be fewer than six zero
// bits, with no surrogate waiting.
func (d *utf7Decoder) endRun() error {
	defer func() { d.shifted, d.bits, d.nbits, d.high = false, 0, 0, 0 }()
	switch {
	case d.nbits >= 6:
		return fmt.Errorf("%w: a base64 run ends inside a code unit", errUTF7)
	case d.bits != 0:
		return fmt.Errorf("%w: non-zero bits at the end of a base64 run", errUTF7)
	case d.high != 0:
		return fmt.Errorf("%w: a high surrogate without its low half", errUTF7)
	}
	return nil
}

func (d *utf7Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for ; nSrc < len(src); nSrc++ {
		if len(dst)-nDst < utf8.UTFMax {
			return nDst, nSrc, transform.ErrShortDst
		}
		c := src[nSrc]
		if c >= 0x80 {
			return nDst, nSrc, fmt.Errorf("%w: 8-bit byte %#x", errUTF7, c)
		}
		if !d.shifted {
			if c == '+' {
				d.shifted, d.empty = true, true
				continue
			}
			dst[nDst] = c
			nDst++
			continue
		}
		if v := utf7Value(c); v >= 0 {
			d.empty = false
			d.bits = d.bits<<6 | uint32(v)
			d.nbits += 6
			if d.nbits < 16 {
				continue
			}
			d.nbits -= 16
			u := rune(d.bits >> d.nbits)
			d.bits &= 1<<d.nbits - 1
			switch {
			case utf16.IsSurrogate(u) && u < 0xDC00:
				if d.high != 0 {
					return nDst, nSrc, fmt.Errorf("%w: two high surrogates", errUTF7)
				}
				d.high = u
				continue
			case utf16.IsSurrogate(u):
				if d.high == 0 {
					return nDst, nSrc, fmt.Errorf("%w: a low surrogate without its high half", errUTF7)
				}
				u, d.high = utf16.DecodeRune(d.high, u), 0
			case d.high != 0:
				return nDst, nSrc, fmt.Errorf("%w: a high surrogate without its low half", errUTF7)
			}
			nDst += utf8.EncodeRune(dst[nDst:], u)
			continue
		}
		// The run ends here.
		if d.empty {
			if c != '-' {
				return nDst, nSrc, fmt.Errorf("%w: '+' followed by %q", errUTF7, c)
			}
			d.shifted = false
			dst[nDst] = '+'
			nDst++
			continue
		}
		if err := d.endRun(); err != nil {
			return nDst, nSrc, err
		}
		if c != '-' {
			dst[nDst] = c
			nDst++
		}
	}
	if atEOF && d.shifted {
		if d.empty {
			return nDst, nSrc, fmt.Errorf("%w: '+' at the end", errUTF7)
		}
		if err := d.endRun(); err != nil {
			return nDst, nSrc, err
		}
	}
	return nDst, nSrc, nil
}
