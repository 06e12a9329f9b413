package hotline

import (
	"log/slog"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/internal/textenc"
)

// TestControlCharactersReplaced: an order whose JSON text holds control
// characters (\u0000, \u001b: the desk would refuse them with 400) becomes
// an item with each replaced by U+FFFD, attrs.text_notes naming the
// fields, and raw_ref holding the order as sent; a clean order gets
// neither. An order number holding one is quarantined: it is the item's
// identity, which is not mended.
func TestControlCharactersReplaced(t *testing.T) {
	dirty := []byte(`{"order_no":"QD-CTL-1","received_at":"2024-03-06 09:15:27",` +
		`"caller":{"name":"郑\u0000女士","phone":"1380000\u00071234"},"category":"城乡建设\u001b[0m",` +
		`"district":"市南区","address":"花园路\u0000北段","title":"路灯\u0000损坏","description":"六盏路灯不亮\u001b[2J\f第二页\u007f",` +
		`"attrs":{"operator":"02\u000031","call\u0001type":"来电"}}`)
	clean := []byte(`{"order_no":"QD-CTL-2","received_at":"2024-03-06 09:16:27","title":"第一页\f","description":"第一行\u000b第二行\t完"}`)
	badNo := []byte(`{"order_no":"QD-\u001b-3","received_at":"2024-03-06 09:17:27","description":"路灯不亮"}`)
	sim := NewSim(SimOptions{Token: testToken, Stream: "ctl", Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	sim.AppendRaw(dirty, clean, badNo)
	st := openStore(t, t.TempDir())
	em := &conntest.Emitter{Ledger: st}
	start(t, "12345", testConfig(serveSim(t, sim)), st, em)
	waitAcked(t, sim, 3)
	em.Wait()
	items, qs := em.Emitted(), em.Quarantined()
	if len(items) != 2 || len(qs) != 1 {
		t.Errorf("%d emitted, %d quarantined, %v invalid; want 2 and 1", len(items), len(qs), em.Invalid())
	}
	by := map[string]*minsheng.Item{}
	for _, it := range items {
		by[it.Ref] = it
	}
	it := by["QD-CTL-1"]
	if it == nil {
		t.Fatalf("no item QD-CTL-1 among %v", items)
	}
	for _, c := range []struct{ field, got, want string }{
		{"title", it.Title, "路灯\uFFFD损坏"},
		{"body", it.Body, "六盏路灯不亮\uFFFD[2J\f第二页\uFFFD"},
		{"name", it.Complainant.Name, "郑\uFFFD女士"},
		{"phone", it.Complainant.Phone, "1380000\uFFFD1234"},
		{"address", it.Location.Address, "花园路\uFFFD北段"},
		{"category", it.Attrs["category"], "城乡建设\uFFFD[0m"},
		{"attrs.operator", it.Attrs["operator"], "02\uFFFD31"},
		{"attrs.call\uFFFDtype", it.Attrs["call\uFFFDtype"], "来电"},
	} {
		if c.got != c.want {
			t.Errorf("%s %q, want %q", c.field, c.got, c.want)
		}
	}
	if f := controlField(it); f != "" {
		t.Errorf("%s holds a control character", f)
	}
	raw := conntest.Mended(t, st, it, "title 1 control character (U+0000)", "body 2 control characters (U+001B, U+007F)",
		"complainant.name 1 control character (U+0000)", "complainant.phone 1 control character (U+0007)",
		"location.address 1 control character (U+0000)", "attrs 3 control characters (U+0001, U+001B, U+0000)", "raw_ref")
	if string(raw) != string(dirty) {
		t.Errorf("raw_ref holds %q, want the order as sent", raw)
	}
	if c := by["QD-CTL-2"]; c == nil || c.Title != "第一页" || c.Body != "第一行\v第二行\t完" || c.Attrs["text_notes"] != "" || c.RawRef != "" {
		t.Errorf("clean order's item: %+v", c)
	}
	if len(qs) != 1 || !strings.Contains(qs[0].Reason, "order_no contains # or a control character") {
		t.Errorf("order number with ESC: quarantined %+v, item %+v", qs, by["QD-\x1b-3"])
	}
}

// controlField names a text field of it that holds a control character
// the desk would refuse, or "".
func controlField(it *minsheng.Item) string {
	fields := map[string]string{"ref": it.Ref, "complainant.name": it.Complainant.Name, "complainant.phone": it.Complainant.Phone}
	if it.Location != nil {
		fields["location.district"], fields["location.address"] = it.Location.District, it.Location.Address
	}
	for k, v := range it.Attrs {
		fields["attrs key "+k], fields["attrs."+k] = k, v
	}
	for f, v := range fields {
		if textenc.ControlAt(v, false) >= 0 {
			return f
		}
	}
	if textenc.ControlAt(it.Title, true) >= 0 {
		return "title"
	}
	if textenc.ControlAt(it.Body, true) >= 0 {
		return "body"
	}
	return ""
}
