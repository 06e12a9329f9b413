package imap

import (
	"testing"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := decodeText([]byte(tc.in), tc.label)
			if got != tc.want || (note != "") != tc.noted {
				t.Errorf("decodeText(%q, %s) = %q, note %q; want %q, noted %v", tc.in, tc.label, got, note, tc.want, tc.noted)
			}
		})
	}
}
