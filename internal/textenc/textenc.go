// Package textenc finds how a text file of Chinese letters is encoded:
// UTF-8 (with or without a byte order mark) or, when its start is not
// valid UTF-8, GB18030, the superset of GBK and GB2312 that Chinese Excel
// and many government systems save CSV files in.
package textenc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Encodings Reader reports.
const (
	UTF8    = "UTF-8"
	GB18030 = "GB18030"
	// Deferred: the start is ASCII, which both encodings read alike; the
	// first other byte decides (see deferred).
	Deferred = "UTF-8 or GB18030, decided at the first byte beyond ASCII"
)

// peek is how much of a file's start decides its encoding.
const peek = 64 << 10

// Reader returns r decoded to UTF-8, without a UTF-8 byte order mark, and
// the encoding it was read as. A start that is neither UTF-8 nor clean
// GB18030 (a UTF-16 file, a binary one) is an error. With check, so is
// invalid UTF-8 met later in a file read as UTF-8, when it is reached (for
// files that must be read whole and right: labels); without it such bytes
// pass through for the caller to judge row by row (an import, which
// rejects the one row and goes on).
func Reader(r io.Reader, check bool) (io.Reader, string, error) {
	br := bufio.NewReaderSize(r, peek)
	head, err := br.Peek(peek)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, "", err
	}
	more := len(head) == peek // the head may end inside a character
	switch {
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		return nil, "", errors.New("the file is UTF-16 (Excel's \"Unicode text\"): save it as CSV in UTF-8 or GBK")
	case HasBOM(head):
		br.Discard(3)
	case !validPrefix(head, more) && !mostlyUTF8(head):
		if !cleanGB18030(head, more) {
			return nil, "", fmt.Errorf("the file is neither UTF-8 nor GB18030 (GBK): invalid UTF-8 at byte %d", InvalidAt(head))
		}
		return simplifiedchinese.GB18030.NewDecoder().Reader(br), GB18030, nil
	}
	if more && ascii(head) {
		return &deferred{br: br, check: check, off: 0}, Deferred, nil
	}
	if !check {
		return br, UTF8, nil
	}
	return &checked{r: br}, UTF8, nil
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// deferred reads a file whose first peek bytes are ASCII: a long run of
// numbers and English (an export whose Chinese rows come later) would
// otherwise be taken for UTF-8 and every GBK row after it rejected. ASCII
// passes through as it is; at the first byte beyond it, what follows it
// decides, as the start of a file does.
type deferred struct {
	br    *bufio.Reader
	check bool
	off   int64     // bytes passed through
	dec   io.Reader // once decided
}

func (d *deferred) Read(p []byte) (int, error) {
	if d.dec != nil {
		return d.dec.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if _, err := d.br.Peek(1); err != nil {
		return 0, err
	}
	avail, _ := d.br.Peek(d.br.Buffered())
	i := 0
	for i < len(avail) && i < len(p) && avail[i] < utf8.RuneSelf {
		i++
	}
	if i > 0 {
		copy(p, avail[:i])
		d.br.Discard(i)
		d.off += int64(i)
		return i, nil
	}
	head, err := d.br.Peek(peek)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, err
	}
	more := len(head) == peek
	switch {
	case validPrefix(head, more) || mostlyUTF8(head):
		d.dec = d.br
		if d.check {
			d.dec = &checked{r: d.br, off: d.off}
		}
	case cleanGB18030(head, more):
		d.dec = simplifiedchinese.GB18030.NewDecoder().Reader(d.br)
	case d.check:
		return 0, fmt.Errorf("neither UTF-8 nor GB18030 (GBK) from byte %d: invalid UTF-8 at byte %d", d.off, d.off+int64(InvalidAt(head)))
	default:
		d.dec = d.br // rows judged one by one
	}
	return d.dec.Read(p)
}

// validPrefix reports whether b is valid UTF-8; when more follows, a
// character cut at its end is allowed.
func validPrefix(b []byte, more bool) bool {
	if utf8.Valid(b) {
		return true
	}
	return more && utf8.Valid(b[:completeEnd(b)])
}

// mostlyUTF8 reports whether b is UTF-8 but for a slip: at most one in ten
// of its bytes beyond ASCII invalid. Such a file is read as UTF-8, so that
// the slip is found where it is, not the whole file turned to GB18030
// mojibake; GBK text is invalid UTF-8 in most of its byte pairs.
func mostlyUTF8(b []byte) bool {
	bad, high := 0, 0
	end := completeEnd(b)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if b[i] >= utf8.RuneSelf {
			high += size
		}
		if r == utf8.RuneError && size == 1 && i < end {
			bad++
		}
		i += size
	}
	return bad*10 <= high
}

// completeEnd is where the last whole character of b ends: before a
// trailing start of a character that b cuts short.
func completeEnd(b []byte) int {
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				return len(b) - i
			}
			break
		}
	}
	return len(b)
}

// cleanGB18030 reports whether b decodes as GB18030 without a
// replacement character (save one cut at the end when more follows).
func cleanGB18030(b []byte, more bool) bool {
	out, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil {
		return false
	}
	if more {
		out = bytes.TrimRight(out, "\uFFFD")
	}
	return !bytes.ContainsRune(out, utf8.RuneError)
}

// InvalidAt is the offset of the first byte that is not valid UTF-8
// (len(b) when all are).
func InvalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// checked passes UTF-8 through and fails at the first invalid byte.
type checked struct {
	r     io.Reader
	carry []byte // the start of a character the last read cut short
	off   int64  // bytes checked before carry
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	b := append(c.carry, p[:n]...)
	end := len(b)
	if err == nil {
		end = completeEnd(b)
	}
	if !utf8.Valid(b[:end]) {
		return 0, fmt.Errorf("invalid UTF-8 at byte %d (is part of the file in another encoding?)", c.off+int64(InvalidAt(b[:end])))
	}
	if err != nil && end < len(b) {
		return 0, fmt.Errorf("invalid UTF-8 at byte %d: the file ends inside a character", c.off+int64(end))
	}
	c.off += int64(end)
	c.carry = append(c.carry[:0], b[end:]...)
	return n, err
}

// LoneSurrogateAt is the offset in the JSON text b of the first \u escape
// that names half of a UTF-16 surrogate pair without its other half
// (`"\ud800"`), or -1. encoding/json decodes such an escape to U+FFFD
// without a word, so text sent that way would lose a character unseen.
func LoneSurrogateAt(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // an escaped character, a backslash among them
			continue
		}
		r, ok := hex4(b, i+2)
		switch {
		case !ok:
		case r >= 0xD800 && r <= 0xDBFF:
			if lo, ok := hex4(b, i+8); !ok || i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return i
			}
			i += 11 // the pair
			continue
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// JSONBOM is what the HTTP intake answers to a JSON body that opens with
// the UTF-8 byte order mark, as Notepad and PowerShell save it: JSON has
// none (RFC 8259), and the decoder would name its first byte as
// "invalid character 'ï'", a character the body does not hold.
const JSONBOM = "starts with a UTF-8 byte order mark (bytes EF BB BF); send the JSON without it"

// HasBOM reports whether b opens with the UTF-8 byte order mark.
func HasBOM(b []byte) bool { return bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) }

// RefusedCharset returns the message for a JSON body whose Content-Type
// names a charset (params and err, as mime.ParseMediaType gives them)
// other than UTF-8 or its subset US-ASCII, case aside ("utf8", a common
// slip for the same encoding, passes too): the gateway reads a body as
// UTF-8 only, so a body the sender holds to be UTF-16 or GBK would be
// refused as invalid UTF-8 or, worse, taken when it happens to be valid.
// Parameters that cannot be read (mime.ErrInvalidMediaParameter:
// "charset=gbk; x") are refused too, since the charset among them cannot
// be told. "" for none.
func RefusedCharset(params map[string]string, err error) string {
	if errors.Is(err, mime.ErrInvalidMediaParameter) {
		return "the parameters of Content-Type cannot be read (one without a value, or a malformed one), so its charset cannot be told: send application/json, or application/json; charset=utf-8"
	}
	cs, ok := params["charset"]
	if !ok {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(cs)) {
	case "utf-8", "utf8", "us-ascii":
		return ""
	}
	return fmt.Sprintf("charset %.40q is not accepted: the body is read as UTF-8 only; send it in UTF-8 (charset=utf-8, or none)", cs)
}

// RefusedCoding returns the message for a body sent with a content coding
// other than identity (gzip, say; Content-Encoding's values), which the
// gateway does not undo: read as it is, it would be refused as text that
// is not UTF-8, sending the sender after a charset. "" for none.
func RefusedCoding(contentEncoding []string) string {
	for _, ce := range contentEncoding {
		if ce = strings.TrimSpace(ce); ce != "" && !strings.EqualFold(ce, "identity") {
			return fmt.Sprintf("Content-Encoding %.40q is not accepted; send the body uncompressed", ce)
		}
	}
	return ""
}

// Ignorable reports whether r is a Default_Ignorable_Code_Point of Unicode
// (DerivedCoreProperties.txt): a soft hyphen, a zero-width space or joiner,
// a bidirectional mark, embedding, override or isolate, a variation
// selector, a Hangul filler, a tag character. A renderer draws nothing for
// it, so two texts that differ only in such characters look the same.
func Ignorable(r rune) bool {
	switch {
	case r < 0xAD:
		return false
	case r == 0xAD, r == 0x34F, r == 0x61C, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5, r >= 0x180B && r <= 0x180F:
		return true
	case r < 0x200B:
		return false
	case r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2060 && r <= 0x206F, r == 0x3164, r >= 0xFE00 && r <= 0xFE0F,
		r == 0xFEFF, r == 0xFFA0, r >= 0xFFF0 && r <= 0xFFF8:
		return true
	}
	return r >= 0x1BCA0 && r <= 0x1BCA3 || r >= 0x1D173 && r <= 0x1D17A || r >= 0xE0000 && r <= 0xE0FFF
}
