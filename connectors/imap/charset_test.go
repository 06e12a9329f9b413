package imap

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// Text under a 7-bit label (ISO-2022-JP, HZ) is decoded although its bytes
// look like ASCII; bytes that cannot be in that encoding are read by
// detection, with a note, rather than turned into replacement characters.
func TestDecodeSevenBit(t *testing.T) {
	const ja = "道路の陥没について"
	jis, _ := japanese.ISO2022JP.NewEncoder().String(ja)
	sjis, _ := japanese.ShiftJIS.NewEncoder().String(ja)
	hz, _ := simplifiedchinese.HZGB2312.NewEncoder().String("路灯不亮")
	for _, tc := range []struct {
		name, in, label, want string
		noted                 bool
	}{
		{"iso-2022-jp", jis, "ISO-2022-JP", ja, false},
		{"its alias", jis, "csISO2022JP", ja, false},
		{"hz", hz, "HZ-GB-2312", "路灯不亮", false},
		{"plain ASCII under the label", "road broken", "iso-2022-jp", "road broken", false},
		{"UTF-8 under the label", ja, "iso-2022-jp", ja, true},
		{"Shift_JIS under the label", sjis, "iso-2022-jp", ja, true},
		{"a broken escape", "\x1b$B\x7f\x7f", "iso-2022-jp", "\x1b$B\x7f\x7f", true},
		// ISO-2022-CN and -KR, as glibc's iconv writes them.
		{"iso-2022-cn, GB2312", "\x1b$)A\x0eB75F2;AA\x0f", "ISO-2022-CN", "路灯不亮", false},
		{"iso-2022-cn, CNS 11643 planes 1 and 2", "\x1b$)G\x0ejWF!FKQIM4\x1b$*H\x1bN!!\x0f", "iso-2022-cn", "臺北市政府乂", false},
		{"the same under -ext", "\x1b$)G\x0ejWF!FKQIM4\x1b$*H\x1bN!!\x0f", "ISO-2022-CN-EXT", "臺北市政府乂", false},
		{"both sets on one line, ASCII between", "No. 5 \x1b$)A\x0eB7\x0f, \x1b$)G\x0ejWF!\x0f ok", "iso-2022-cn", "No. 5 路, 臺北 ok", false},
		{"a line break ends the shift", "\x1b$)A\x0eB7\nB7", "iso-2022-cn", "路\nB7", false},
		{"a single shift written twice, as glibc's iconv sometimes does", "\x1b$*H\x1bN\x1bN$<", "iso-2022-cn", "旲", false},
		{"iso-2022-kr", "\x1b$)C\x0e557N\x0f \x0eFD<U\x0f", "ISO-2022-KR", "도로 파손", false},
		{"its alias", "\x1b$)C\x0e557N\x0f", "csISO2022KR", "도로", false},
		// What cannot be read is kept as sent, with a note.
		{"shift out before any designation", "\x0eB7\x0f", "iso-2022-cn", "\x0eB7\x0f", true},
		{"CNS plane 3 (-ext)", "\x1b$+I\x1bO!!", "iso-2022-cn-ext", "\x1b$+I\x1bO!!", true},
		{"single shift 2 with no plane 2 designated", "\x1bN!!", "iso-2022-cn", "\x1bN!!", true},
		{"an empty cell of plane 1", "\x1b$)G\x0e\x7d\x7d\x0f", "iso-2022-cn", "\x1b$)G\x0e\x7d\x7d\x0f", true},
		{"cut off inside an escape", "\x1b$)", "iso-2022-kr", "\x1b$)", true},
		{"cut off inside a character", "\x1b$)A\x0eB", "iso-2022-cn", "\x1b$)A\x0eB", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := decodeText([]byte(tc.in), tc.label)
			if got != tc.want || (note != "") != tc.noted {
				t.Errorf("decodeText(%q, %s) = %q, note %q; want %q, noted %v", tc.in, tc.label, got, note, tc.want, tc.noted)
			}
		})
	}
}

// FuzzISO2022 checks the ISO-2022-CN/KR decoder on any bytes: it never
// fails, its output is valid UTF-8, and it gives the same text when the
// input comes a few bytes at a time and the output has room for one
// character at a time (as go-message's readers feed it) as in one piece.
func FuzzISO2022(f *testing.F) {
	for _, s := range []string{
		"\x1b$)A\x0eB75F2;AA\x0f", "\x1b$)G\x0ejWF!FKQIM4\x1b$*H\x1bN!!\x0f", "\x1b$)C\x0e557N\x0f \x0eFD<U\x0f",
		"\x1b$+I\x1bO!!", "\x0eB7\x0f", "\x1b$)A\x0eB7\nB7", "\x1b$)A\x0eB", "abc\x80\xff",
	} {
		f.Add([]byte(s), 1)
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, step int) {
		step = 1 + (step&0xFF)%7
		whole, err := iso2022{}.NewDecoder().Bytes(b)
		if err != nil {
			t.Fatalf("decoding %q: %v", b, err)
		}
		if !utf8.Valid(whole) {
			t.Fatalf("decoding %q gave invalid UTF-8 %q", b, whole)
		}
		pieces, err := decodeInPieces(&iso2022Decoder{}, b, step)
		if err != nil {
			t.Fatalf("decoding %q %d bytes at a time: %v", b, step, err)
		}
		if !bytes.Equal(pieces, whole) {
			t.Fatalf("decoding %q %d bytes at a time gave %q, in one piece %q", b, step, pieces, whole)
		}
	})
}

// decodeInPieces runs the decoder d by hand on b, step bytes more of input
// at a time, into an output buffer of four bytes.
func decodeInPieces(d transform.Transformer, b []byte, step int) ([]byte, error) {
	var out []byte
	dst := make([]byte, utf8.UTFMax)
	pos, avail := 0, min(step, len(b))
	for {
		atEOF := avail == len(b)
		nd, ns, err := d.Transform(dst, b[pos:avail], atEOF)
		out = append(out, dst[:nd]...)
		pos += ns
		switch {
		case err == transform.ErrShortDst && nd+ns > 0:
		case err == transform.ErrShortSrc && !atEOF, err == nil && !atEOF:
			avail = min(avail+step, len(b))
		case err == nil:
			return out, nil
		default:
			return out, err
		}
	}
}
