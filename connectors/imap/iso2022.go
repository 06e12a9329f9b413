package imap

import (
	"errors"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// iso2022 decodes the 7-bit ISO 2022 forms of Chinese mail (ISO-2022-CN,
// RFC 1922) and Korean mail (ISO-2022-KR, RFC 1557), which golang.org/x/text
// does not know. The text is ASCII until SO (0x0E) shifts to the set that an
// escape sequence designated as G1, two bytes a character, and SI (0x0F)
// shifts back; a line break ends the shift too. ESC N (single shift 2) takes
// the next two bytes from G2.
//
//	ESC $ ) A   G1 = GB2312
//	ESC $ ) G   G1 = CNS 11643 plane 1
//	ESC $ ) E   G1 = ISO-IR-165, read as GB2312 (its base)
//	ESC $ * H   G2 = CNS 11643 plane 2
//	ESC $ ) C   G1 = KS X 1001 (Korean)
//
// ISO-2022-CN-EXT's planes 3-7 (ESC $ + I-M, single shift 3) and anything
// malformed decode to U+FFFD, which decodeText takes as a sign to fall back
// to the bytes as sent, with a note. Decoding only: the gateway never
// writes these forms.
type iso2022 struct{}

var errISO2022Encode = errors.New("iso-2022-cn/kr: encoding is not supported")

func (iso2022) NewDecoder() *encoding.Decoder {
	return &encoding.Decoder{Transformer: &iso2022Decoder{}}
}

func (iso2022) NewEncoder() *encoding.Encoder {
	return &encoding.Encoder{Transformer: refuse{}}
}

type refuse struct{ transform.NopResetter }

func (refuse) Transform(_, _ []byte, _ bool) (int, int, error) { return 0, 0, errISO2022Encode }

const (
	esc = 0x1B
	so  = 0x0E
	si  = 0x0F
)

type iso2022Decoder struct {
	g1, g2  byte // the final byte of the designation; 0: none
	shifted bool
	gb, ks  transform.Transformer // decoders for a GB2312 or KS X 1001 pair, made when first needed
	in      [2]byte
	out     [8]byte
}

func (d *iso2022Decoder) Reset() { d.g1, d.g2, d.shifted = 0, 0, false }

func (d *iso2022Decoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		c := src[nSrc]
		r, size := rune(-1), 1 // r < 0: nothing to write
		switch {
		case c == esc:
			n := 4 // ESC $ ) F, ESC $ * F, ESC $ + F; ESC N b b, ESC O b b
			if nSrc+n > len(src) && !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
			if nSrc+n > len(src) {
				r = utf8.RuneError // cut off at the end
				break
			}
			s := src[nSrc : nSrc+n]
			switch {
			case s[1] == '$' && s[2] == ')' && (s[3] == 'A' || s[3] == 'G' || s[3] == 'E' || s[3] == 'C'):
				d.g1, size = s[3], n
			case s[1] == '$' && s[2] == '*' && s[3] == 'H':
				d.g2, size = s[3], n
			case s[1] == 'N' && s[2] == esc && s[3] == 'N':
				size = 2 // a single shift written twice, as glibc's iconv does where its output buffer fills: one
			case s[1] == 'N' && d.g2 == 'H':
				r, size = cnsRune(1, s[2], s[3]), n
			case s[1] == '$' && s[2] == '+' && s[3] >= 'I' && s[3] <= 'M', s[1] == 'O':
				r, size = utf8.RuneError, n // CNS planes 3-7: no table here
			default:
				r = utf8.RuneError
			}
		case c == so:
			if d.g1 == 0 {
				r = utf8.RuneError
			}
			d.shifted = true
		case c == si:
			d.shifted = false
		case c == '\n' || c == '\r':
			d.shifted = false
			r = rune(c)
		case c >= 0x80:
			r = utf8.RuneError // not 7-bit
		case d.shifted && c > 0x20 && c < 0x7F:
			if nSrc+2 > len(src) && !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
			if nSrc+2 > len(src) {
				r = utf8.RuneError
				break
			}
			r, size = d.pair(c, src[nSrc+1]), 2
		default:
			r = rune(c)
		}
		if r >= 0 {
			if len(dst)-nDst < utf8.RuneLen(r) {
				return nDst, nSrc, transform.ErrShortDst
			}
			nDst += utf8.EncodeRune(dst[nDst:], r)
		}
		nSrc += size
	}
	return nDst, nSrc, nil
}

// pair decodes the two bytes of a character in G1.
func (d *iso2022Decoder) pair(b1, b2 byte) rune {
	if b2 <= 0x20 || b2 >= 0x7F {
		return utf8.RuneError
	}
	var t *transform.Transformer
	switch d.g1 {
	case 'G':
		return cnsRune(0, b1, b2)
	case 'A', 'E':
		if d.gb == nil {
			d.gb = simplifiedchinese.GBK.NewDecoder()
		}
		t = &d.gb
	case 'C':
		if d.ks == nil {
			d.ks = korean.EUCKR.NewDecoder()
		}
		t = &d.ks
	default:
		return utf8.RuneError
	}
	(*t).Reset()
	d.in = [2]byte{b1 | 0x80, b2 | 0x80}
	n, _, err := (*t).Transform(d.out[:], d.in[:], true)
	if err != nil {
		return utf8.RuneError
	}
	r, size := utf8.DecodeRune(d.out[:n])
	if size != n {
		return utf8.RuneError
	}
	return r
}

var (
	cnsOnce  sync.Once
	cnsCells [2][]uint16
)

// cnsRune is the character at row b1, cell b2 of CNS 11643 plane 1 or 2
// (plane 0 or 1 here), or U+FFFD.
func cnsRune(plane int, b1, b2 byte) rune {
	if b1 <= 0x20 || b1 >= 0x7F || b2 <= 0x20 || b2 >= 0x7F {
		return utf8.RuneError
	}
	cnsOnce.Do(func() {
		for p, s := range cnsPlanes {
			cells := make([]uint16, 0, 94*94)
			for _, r := range s {
				cells = append(cells, uint16(r))
			}
			cnsCells[p] = cells
		}
	})
	if r := cnsCells[plane][int(b1-0x21)*94+int(b2-0x21)]; r != 0 {
		return rune(r)
	}
	return utf8.RuneError
}
