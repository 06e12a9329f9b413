// Package textenc finds how a text file of Chinese letters is encoded:
// UTF-8 (with or without a byte order mark) or, when its start is not
// valid UTF-8, GB18030, the superset of GBK and GB2312 that Chinese Excel
// and many government systems save CSV files in.
package textenc

import (
	"bufio"
	"bytes"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Encodings Reader reports.
const (
	UTF8    = "UTF-8"
	GB18030 = "GB18030"
)

// peek is how much of a file's start is looked at.
const peek = 64 << 10

// Reader returns r decoded to UTF-8, without a UTF-8 byte order mark, and
// the encoding it was read as.
func Reader(r io.Reader) (io.Reader, string) {
	br := bufio.NewReaderSize(r, peek)
	head, _ := br.Peek(peek)
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		br.Discard(3)
	case !ValidPrefix(head):
		return simplifiedchinese.GB18030.NewDecoder().Reader(br), GB18030
	}
	return br, UTF8
}

// ValidPrefix reports whether b is valid UTF-8, allowing a character cut
// at its end (b is the start of a longer text).
func ValidPrefix(b []byte) bool {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}
