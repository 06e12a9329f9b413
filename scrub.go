package minsheng

import (
	"maps"
	"slices"

	"github.com/minsheng/minsheng/internal/textenc"
)

// ScrubControls replaces, in every text field of the item made from what
// its source sent (title, body, the complainant's and location's fields,
// attrs keys and values, attachment names, automated), each control
// character that no item's text may hold (textenc.ControlAt: a C0 control
// other than tab, line feed and carriage return, or DEL; title and body
// keep vertical tab and form feed) with U+FFFD. The desk refuses such text
// (400 naming the field); a connector, which cannot refuse a mail, a work
// order, a post or a row, uses this and records the note it returns, which
// names the fields and characters ("title 1 control character (U+0000);
// attrs 2 control characters (U+001B)"; "" when nothing was replaced),
// keeping the original as it came. Ref, the item's identity, and the
// gateway's own fields are left alone.
func (it *Item) ScrubControls() string {
	var f textenc.Fields
	f.Scrub("title", &it.Title, true)
	f.Scrub("body", &it.Body, true)
	f.Scrub("complainant.name", &it.Complainant.Name, false)
	f.Scrub("complainant.phone", &it.Complainant.Phone, false)
	f.Scrub("complainant.email", &it.Complainant.Email, false)
	if it.Location != nil {
		f.Scrub("location.district", &it.Location.District, false)
		f.Scrub("location.address", &it.Location.Address, false)
	}
	var attrs textenc.Scrubbed
	for _, k := range slices.Sorted(maps.Keys(it.Attrs)) {
		v, vs := textenc.ScrubControls(it.Attrs[k], false)
		nk, ks := textenc.ScrubControls(k, false)
		attrs.Add(ks)
		attrs.Add(vs)
		if nk != k {
			delete(it.Attrs, k)
			if _, taken := it.Attrs[nk]; taken {
				continue // two keys that differ only there: the first in order stays
			}
		}
		it.Attrs[nk] = v
	}
	f.Told("attrs", attrs)
	var names textenc.Scrubbed
	for i := range it.Attachments {
		var sc textenc.Scrubbed
		it.Attachments[i].Name, sc = textenc.ScrubControls(it.Attachments[i].Name, false)
		names.Add(sc)
	}
	f.Told("attachment names", names)
	f.Scrub("automated", &it.Automated, false)
	return f.Note()
}
