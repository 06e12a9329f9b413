package textenc

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

func gbk(t testing.TB, s string) string {
	t.Helper()
	out, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReader(t *testing.T) {
	text := "留言编号,留言主题\n1,小区路灯坏了三个月\n"
	long := strings.Repeat("路", peek/3) + "灯" // a character cut at the peek's end
	for _, tc := range []struct {
		name, in, want, enc string
		err                 string // a part of the error, when one is wanted (at open or at read)
	}{
		{"utf-8", text, text, UTF8, ""},
		{"utf-8 with a byte order mark", "\uFEFF" + text, text, UTF8, ""},
		{"gbk", gbk(t, text), text, GB18030, ""},
		{"utf-8 cut by the peek", long, long, UTF8, ""},
		{"ascii ending in a gbk character", "id,title\n1,a" + gbk(t, "灯"), "id,title\n1,a灯", GB18030, ""},
		// 路 in GBK (C2 B7) happens to be UTF-8 too (·); 灯 (B5 C6) is not.
		// A start of ASCII decides nothing: the first other byte does.
		{"gbk past 64 KiB of ascii", strings.Repeat("a", peek+10) + gbk(t, "路灯"), strings.Repeat("a", peek+10) + "路灯", Deferred, ""},
		{"utf-8 past 64 KiB of ascii", strings.Repeat("a", peek+10) + "路灯", strings.Repeat("a", peek+10) + "路灯", Deferred, ""},
		{"neither past 64 KiB of ascii", strings.Repeat("a", peek+10) + "\xff\xff", "", Deferred, "neither UTF-8 nor GB18030 (GBK) from byte 65546"},
		{"gbk past 64 KiB of utf-8", "路" + strings.Repeat("a", peek+10) + gbk(t, "路灯"), "", UTF8, "invalid UTF-8 at byte 65551"},
		{"utf-8 ending inside a character", "abc\xe8\xb7", "", UTF8, "invalid UTF-8 at byte 3"},
		{"utf-8 with one stray byte", "标题,正文\n路灯\xa0坏了,很黑\n", "", UTF8, "invalid UTF-8 at byte 20"},
		{"utf-16", "\xff\xfe1\x00,\x00", "", "", "UTF-16"},
		{"binary", "\x00\xff\xfe\xfd\x80\x81", "", "", "neither UTF-8 nor GB18030"},
		{"empty", "", "", UTF8, ""},
	} {
		r, enc, err := Reader(strings.NewReader(tc.in), true)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(r)
		}
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case string(got) != tc.want || enc != tc.enc:
			t.Errorf("%s: %q as %s; want %q as %s", tc.name, firstRunes(got), enc, firstRunes([]byte(tc.want)), tc.enc)
		}
	}
}

// Without the check, invalid UTF-8 in a UTF-8 file passes through, for
// the caller to judge the row it lands in.
func TestReaderUnchecked(t *testing.T) {
	for in, want := range map[string]string{
		"路" + strings.Repeat("a", peek+10) + "\xb5\xc6": UTF8,
		"标题,正文\n路灯\xa0坏了,很黑\n":                          UTF8,
		strings.Repeat("a", peek+10) + "路灯\xa0坏了":       Deferred,
	} {
		r, enc, err := Reader(strings.NewReader(in), false)
		if err != nil || enc != want {
			t.Fatal(enc, err)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != in {
			t.Errorf("read %d bytes, err %v", len(got), err)
		}
	}
}

func firstRunes(b []byte) string {
	if r := bytes.Runes(b); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return string(b)
}

// FuzzReader: whatever the bytes, Reader either refuses them or yields
// valid UTF-8, the bytes themselves when read as UTF-8.
func FuzzReader(f *testing.F) {
	f.Add([]byte("\xef\xbb\xbf标题"))
	f.Add([]byte("\xc2\xb7\xb5\xc6"))
	f.Add([]byte("\xff\xfe\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, enc, err := Reader(bytes.NewReader(b), true)
		if err != nil {
			return
		}
		got, err := io.ReadAll(r)
		if err != nil {
			if enc != UTF8 {
				t.Fatalf("a %s read failed: %v", enc, err)
			}
			return
		}
		if !utf8.Valid(got) {
			t.Fatalf("%s read gave invalid UTF-8 %q", enc, got)
		}
		if enc == UTF8 && !bytes.Equal(got, bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))) {
			t.Fatalf("UTF-8 input changed: %q → %q", b, got)
		}
	})
}

func TestLoneSurrogateAt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{"t":"路灯"}`, -1},
		{`{"t":"\u8def\u706f"}`, -1},
		{`{"t":"\ud83d\ude00"}`, -1}, // a pair: 😀
		{`{"t":"\uD83D\uDE00"}`, -1},
		{`{"t":"\ud800"}`, 6},
		{`{"t":"a\ude00"}`, 7},
		{`{"t":"\ud83d\u0041"}`, 6},
		{`{"t":"\\ud800"}`, -1}, // a backslash, then text
		{`{"t":"\ud83d`, 6},
		{`\u`, -1},
	} {
		if got := LoneSurrogateAt([]byte(tc.in)); got != tc.want {
			t.Errorf("LoneSurrogateAt(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// FuzzLoneSurrogateAt: a valid UTF-8 JSON string in which it finds no lone
// surrogate (and that names no U+FFFD itself) decodes without U+FFFD.
func FuzzLoneSurrogateAt(f *testing.F) {
	f.Add(`\ud83d\ude00`)
	f.Add(`a\ud800b`)
	f.Add(`\\ud800`)
	f.Fuzz(func(t *testing.T, x string) {
		raw := []byte(`"` + x + `"`)
		var s string
		if !utf8.Valid(raw) || json.Unmarshal(raw, &s) != nil {
			return
		}
		if strings.ContainsRune(x, utf8.RuneError) || strings.Contains(strings.ToLower(x), `\ufffd`) {
			return
		}
		if at := LoneSurrogateAt(raw); at < 0 && strings.ContainsRune(s, utf8.RuneError) {
			t.Fatalf("%q decodes to %q, but no lone surrogate was found", raw, s)
		}
	})
}
