package imap

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestUTF7(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// RFC 2152's examples.
		{"A+ImIDkQ.", "A≢Α."},
		{"Hi Mom -+Jjo--!", "Hi Mom -☺-!"},
		{"+ZeVnLIqe-", "日本語"},
		{"Item 3 is +AKM-1.", "Item 3 is £1."},
		{"+Ti1lhw-", "中文"},
		{"+Ti1lhw", "中文"}, // the run ends at the end
		{"+-", "+"},
		{"1 +- 1 = 2", "1 + 1 = 2"},
		{"+2DTdHg-", "𝄞"},     // a surrogate pair
		{"+AGEAYgBj-", "abc"}, // ASCII may be encoded too
		{"+ZeVnLA- +ip4-\r\n", "日本 語\r\n"},
		{"", ""},
	} {
		got, err := utf7{}.NewDecoder().String(c.in)
		if err != nil || got != c.want {
			t.Errorf("decode %q = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{
		"+",            // '+' at the end
		"a + b",        // '+' followed by neither base64 nor '-'
		"+A-",          // six bits: a run that ends inside a code unit
		"+AGF-",        // non-zero padding bits
		"+2DQ-",        // a high surrogate alone
		"+3R4-",        // a low surrogate alone
		"+2DTYNA-",     // two high surrogates
		"+2DQAYQ-",     // a high surrogate then 'a'
		"caf\xc3\xa9",  // 8-bit bytes
		"+Ti1lhw-\x80", // 8-bit bytes after a run
	} {
		if got, err := (utf7{}).NewDecoder().String(in); !errors.Is(err, errUTF7) {
			t.Errorf("decode %q = %q, %v; want an error wrapping errUTF7", in, got, err)
		}
	}
	// Through decodeText: a malformed body is kept as sent, with a note.
	for _, c := range []struct{ in, label, want, note string }{
		{"+Ti1lhw-", "UTF-7", "中文", ""},
		{"+Ti1lhw-", "unicode-1-1-utf-7", "中文", ""},
		{"+Ti1lhw-", "csUnicode11UTF7", "中文", ""},
		{"1 + 1", "utf-7", "1 + 1", noteUnknownCharset},
		{"中文", "utf-7", "中文", noteUnknownCharset},
	} {
		got, note := decodeText([]byte(c.in), c.label)
		if got != c.want || note != c.note {
			t.Errorf("decodeText(%q, %s) = %q, %q; want %q, %q", c.in, c.label, got, note, c.want, c.note)
		}
	}
}

// encodeUTF7 writes s in UTF-7, every character outside printable ASCII
// (and '+') in base64 runs: a reference for the fuzz test.
func encodeUTF7(s string) string {
	var out strings.Builder
	var run []uint16
	flush := func(next byte) {
		if run == nil {
			return
		}
		b := make([]byte, 0, 2*len(run))
		for _, u := range run {
			b = append(b, byte(u>>8), byte(u))
		}
		out.WriteByte('+')
		out.WriteString(base64.RawStdEncoding.EncodeToString(b))
		if utf7Value(next) >= 0 || next == '-' {
			out.WriteByte('-')
		}
		run = nil
	}
	for _, r := range s {
		if r < 0x80 && r != '+' && r != '\\' && r != '~' {
			flush(byte(r))
			out.WriteRune(r)
			continue
		}
		if r == '+' && run == nil {
			out.WriteString("+-")
			continue
		}
		run = append(run, utf16.Encode([]rune{r})...)
	}
	flush('-')
	return out.String()
}

// FuzzUTF7 checks the UTF-7 decoder on any bytes: no panic, valid UTF-8
// when it succeeds, the same result whole and a few bytes at a time, and
// any valid UTF-8 text round-trips through encodeUTF7.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"A+ImIDkQ.", "Hi Mom -+Jjo--!", "+ZeVnLIqe-", "+-", "+2DTdHg-", "+", "+A-", "+2DQ-", "a\x80", "市长 + 信箱"} {
		f.Add([]byte(s), 1)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, step int) {
		step = 1 + (step&0xFF)%7
		whole, err := utf7{}.NewDecoder().Bytes(b)
		if err != nil && !errors.Is(err, errUTF7) {
			t.Fatalf("decoding %q: error %v does not wrap errUTF7", b, err)
		}
		if err == nil && !utf8.Valid(whole) {
			t.Fatalf("decoding %q gave invalid UTF-8 %q", b, whole)
		}
		pieces, err2 := decodeInPieces(&utf7Decoder{}, b, step)
		if (err == nil) != (err2 == nil) || err == nil && !bytes.Equal(pieces, whole) {
			t.Fatalf("decoding %q %d bytes at a time gave %q, %v; in one piece %q, %v", b, step, pieces, err2, whole, err)
		}
		s := strings.ToValidUTF8(string(b), "\uFFFD")
		e := encodeUTF7(s)
		if back, err := (utf7{}).NewDecoder().String(e); err != nil || back != s {
			t.Fatalf("%q encoded as %q decodes to %q, %v", s, e, back, err)
		}
	})
}
