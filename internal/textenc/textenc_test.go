package textenc

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func TestReader(t *testing.T) {
	text := "留言编号,留言主题\n1,小区路灯坏了三个月\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("路", peek/3) + "灯" // a character cut at the peek's end
	for _, tc := range []struct {
		name, in, want, enc string
	}{
		{"utf-8", text, text, UTF8},
		{"utf-8 with a byte order mark", "\uFEFF" + text, text, UTF8},
		{"gbk", gbk, text, GB18030},
		{"utf-8 cut by the peek", long, long, UTF8},
		{"empty", "", "", UTF8},
	} {
		r, enc := Reader(strings.NewReader(tc.in))
		got, err := io.ReadAll(r)
		if err != nil || string(got) != tc.want || enc != tc.enc {
			t.Errorf("%s: %q as %s, err %v; want %q as %s", tc.name, firstRunes(got), enc, err, firstRunes([]byte(tc.want)), tc.enc)
		}
	}
}

func firstRunes(b []byte) string {
	if r := bytes.Runes(b); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return string(b)
}

func FuzzReader(f *testing.F) {
	f.Add([]byte("\xef\xbb\xbf标题"))
	f.Add([]byte("\xc2\xb7\xb5\xc6"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, enc := Reader(bytes.NewReader(b))
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if enc == UTF8 && !bytes.Equal(got, bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))) {
			t.Fatalf("UTF-8 input changed: %q → %q", b, got)
		}
	})
}
