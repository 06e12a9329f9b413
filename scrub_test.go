package minsheng

import (
	"testing"
)

// TestScrubControls: every text field of an item loses the control
// characters the desk refuses, title and body keeping vertical tab and
// form feed; ref is left alone; the note names fields and characters.
func TestScrubControls(t *testing.T) {
	it := &Item{Ref: "R-1", Title: "标题\x00\f", Body: "正文\x1b[2J\v",
		Complainant: Complainant{Name: "张\x00三", Phone: "138\x07", Email: "a@b.cn"},
		Location:    &Location{District: "市南区\x7f", Address: "路\x00"},
		Attrs:       map[string]string{"k\x01": "v", "ok": "x\x1b"},
		Attachments: []Attachment{{Name: "照片\x00.jpg"}},
		Automated:   "Auto-Submitted: \x00"}
	note := it.ScrubControls()
	want := "title 1 control character (U+0000); body 1 control character (U+001B); complainant.name 1 control character (U+0000); " +
		"complainant.phone 1 control character (U+0007); location.district 1 control character (U+007F); location.address 1 control character (U+0000); " +
		"attrs 2 control characters (U+0001, U+001B); attachment names 1 control character (U+0000); automated 1 control character (U+0000)"
	if note != want {
		t.Errorf("note %q\nwant %q", note, want)
	}
	if it.Title != "标题\uFFFD\f" || it.Body != "正文\uFFFD[2J\v" || it.Complainant.Name != "张\uFFFD三" || it.Complainant.Phone != "138\uFFFD" ||
		it.Location.District != "市南区\uFFFD" || it.Location.Address != "路\uFFFD" || it.Attrs["k\uFFFD"] != "v" || it.Attrs["ok"] != "x\uFFFD" ||
		len(it.Attrs) != 2 || it.Attachments[0].Name != "照片\uFFFD.jpg" || it.Automated != "Auto-Submitted: \uFFFD" || it.Ref != "R-1" {
		t.Errorf("scrubbed item %+v", it)
	}
	clean := &Item{Title: "t\f", Body: "b\t\n\v", Attrs: map[string]string{"a": "b"}}
	if n := clean.ScrubControls(); n != "" || clean.Title != "t\f" || clean.Body != "b\t\n\v" {
		t.Errorf("clean item: note %q, %+v", n, clean)
	}
}
