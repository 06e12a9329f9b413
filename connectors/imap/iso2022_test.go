package imap

import (
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// TestISO2022AgainstIconv decodes what glibc's iconv writes in ISO-2022-CN
// and ISO-2022-KR for every character of GB2312 and Big5 (the sets CNS
// 11643 planes 1 and 2 cover) and of KS X 1001, one character a line
// between ASCII letters, so that each line shifts and designates afresh.
// Skipped where there is no iconv (glibc's, on Debian in libc-bin).
func TestISO2022AgainstIconv(t *testing.T) {
	if _, err := exec.LookPath("iconv"); err != nil {
		t.Skip("no iconv here:", err)
	}
	for _, tc := range []struct {
		name, charset string
		sets          []encoding.Encoding
	}{
		{"GB2312 and Big5", "ISO-2022-CN", []encoding.Encoding{simplifiedchinese.HZGB2312, traditionalchinese.Big5}},
		{"KS X 1001", "ISO-2022-KR", []encoding.Encoding{korean.EUCKR}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var chars []rune
			for _, e := range tc.sets {
				chars = append(chars, doubleByteChars(t, e)...)
			}
			var in strings.Builder
			for _, r := range chars {
				in.WriteString("a" + string(r) + "b\n")
			}
			cmd := exec.Command("iconv", "-c", "-f", "UTF-8", "-t", tc.charset)
			cmd.Stdin = strings.NewReader(in.String())
			out, err := cmd.Output()
			if err != nil && len(out) == 0 { // -c exits 1 after dropping what it cannot write
				t.Skipf("iconv cannot write %s here: %v", tc.charset, err)
			}
			got, note := decodeText(out, tc.charset)
			if note != "" {
				t.Errorf("note %q", note)
				got, _ = iso2022{}.NewDecoder().String(string(out))
			}
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != len(chars) {
				t.Fatalf("%d lines decoded for %d", len(lines), len(chars))
			}
			read, dropped := 0, 0
			for i, r := range chars {
				switch lines[i] {
				case "a" + string(r) + "b":
					read++
				case "ab":
					dropped++ // iconv could not write it
				default:
					t.Errorf("%q (%U) came back as %q", string(r), r, lines[i])
				}
			}
			if read < len(chars)*9/10 {
				t.Errorf("only %d of %d characters written and read back", read, len(chars))
			}
			t.Logf("%d characters read back, %d not written by iconv", read, dropped)
		})
	}
}

// doubleByteChars lists the characters of a double-byte charset: what
// each lead and trail byte pair from 0xA1 (and, for Big5, from 0x40)
// decodes to, ASCII and failures aside. For EUC-KR that is KS X 1001
// (golang.org/x/text reads it as UHC, which adds trail bytes below 0xA1).
func doubleByteChars(t *testing.T, e encoding.Encoding) []rune {
	t.Helper()
	var out []rune
	seen := map[rune]bool{}
	dec := e.NewDecoder()
	for b1 := 0xA1; b1 <= 0xFE; b1++ {
		for b2 := 0x40; b2 <= 0xFE; b2++ {
			if b2 < 0xA1 && e != traditionalchinese.Big5 { // below: UHC's additions to KS X 1001
				continue
			}
			var in []byte
			if e == simplifiedchinese.HZGB2312 { // GB2312 itself, written in HZ
				in = []byte{'~', '{', byte(b1 & 0x7F), byte(b2 & 0x7F), '~', '}'}
			} else {
				in = []byte{byte(b1), byte(b2)}
			}
			s, err := dec.Bytes(in)
			if err != nil {
				continue
			}
			r, n := utf8.DecodeRune(s)
			if n != len(s) || r < 0x80 || r == utf8.RuneError || seen[r] {
				continue
			}
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
