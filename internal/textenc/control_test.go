package textenc

import (
	"testing"
	"unicode/utf8"
)

func TestControlAt(t *testing.T) {
	for _, tc := range []struct {
		in     string
		breaks bool
		want   int
	}{
		{"市长您好\t\r\n", false, -1},
		{"a\x00b", false, 1},
		{"路灯\x1b[2J", false, 6},
		{"x\x7f", false, 1},
		{"第一页\f第二页\v", true, -1},
		{"第一页\f", false, 9},
		{"\x01", true, 0},
		{"é\u0085", false, -1}, // C1 controls are not C0 ones; nor is a UTF-8 continuation byte
	} {
		if got := ControlAt(tc.in, tc.breaks); got != tc.want {
			t.Errorf("ControlAt(%q, %v) = %d, want %d", tc.in, tc.breaks, got, tc.want)
		}
	}
}

func TestScrubControls(t *testing.T) {
	for _, tc := range []struct {
		in, want, said string
		breaks         bool
	}{
		{"没有问题\t\n", "没有问题\t\n", "", false},
		{"张\x00三", "张\uFFFD三", "1 control character (U+0000)", false},
		{"\x1b[31m红\x1b[0m\x00", "\uFFFD[31m红\uFFFD[0m\uFFFD", "3 control characters (U+001B, U+0000)", false},
		{"页\f页\v", "页\f页\v", "", true},
		{"页\f页\v", "页\uFFFD页\uFFFD", "2 control characters (U+000C, U+000B)", false},
		{"\x7f", "\uFFFD", "1 control character (U+007F)", true},
	} {
		got, sc := ScrubControls(tc.in, tc.breaks)
		if got != tc.want || sc.String() != tc.said {
			t.Errorf("ScrubControls(%q, %v) = %q, %q; want %q, %q", tc.in, tc.breaks, got, sc, tc.want, tc.said)
		}
		if ControlAt(got, tc.breaks) >= 0 || !utf8.ValidString(got) {
			t.Errorf("ScrubControls(%q) left %q", tc.in, got)
		}
	}
	var all Scrubbed
	_, a := ScrubControls("\x00\x00", false)
	_, b := ScrubControls("\x1b\x00", false)
	all.Add(a)
	all.Add(b)
	if all.String() != "4 control characters (U+0000, U+001B)" {
		t.Errorf("Add: %q", all)
	}
}

func TestFields(t *testing.T) {
	title, name, clean := "标题\x00\f", "张\f三", "好"
	var f Fields
	f.Scrub("title", &title, true)
	f.Scrub("name", &name, false)
	f.Scrub("clean", &clean, false)
	f.Told("attrs", Scrubbed{N: 2, Which: []byte{0x1b}})
	f.Told("nothing", Scrubbed{})
	if want := "title 1 control character (U+0000); name 1 control character (U+000C); attrs 2 control characters (U+001B)"; f.Note() != want {
		t.Errorf("note %q, want %q", f.Note(), want)
	}
	if title != "标题\uFFFD\f" || name != "张\uFFFD三" || clean != "好" {
		t.Errorf("scrubbed %q %q %q", title, name, clean)
	}
	var none Fields
	if none.Note() != "" {
		t.Errorf("empty note %q", none.Note())
	}
}
