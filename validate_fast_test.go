package minsheng

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// lengthsAround are strings of n bytes and of n characters (three bytes
// each) for n about a limit, for the checks at each limit.
func lengthsAround(limit int) []string {
	var out []string
	for _, n := range []int{0, 1, limit/3 - 1, limit / 3, limit/3 + 1, limit - 1, limit, limit + 1} {
		if n < 0 {
			continue
		}
		out = append(out, strings.Repeat("a", n), strings.Repeat("长", n))
	}
	return append(out, "bad \xff utf-8", "a\x00b", "ok@example.com", "not an address")
}

// TestPlainlyValidAgreesWithValidator: whatever the fast check passes, the
// validator passes too (it may send to the validator items that pass, never
// pass one that does not). Each field is set, one at a time and then many at
// once, to values about its limits, on an item that is valid otherwise.
func TestPlainlyValidAgreesWithValidator(t *testing.T) {
	base := func() *Item {
		it := validItem()
		it.Via = ViaDesk
		it.Complainant = Complainant{Name: "李四", Phone: "13800000000"}
		it.Location = &Location{District: "市南区", Address: "东门"}
		it.Attrs = map[string]string{"category": "x"}
		return it
	}
	if !base().plainlyValid() {
		t.Fatal("the base item is not plainly valid")
	}
	loc := func(it *Item) *Location {
		if it.Location == nil {
			it.Location = &Location{}
		}
		return it.Location
	}
	attrs := func(it *Item) map[string]string {
		if it.Attrs == nil {
			it.Attrs = map[string]string{}
		}
		return it.Attrs
	}
	type edit func(*Item, string)
	str := func(f func(*Item) *string) edit { return func(it *Item, s string) { *f(it) = s } }
	edits := map[string]struct {
		e     edit
		limit int
	}{
		"schema_version": {str(func(it *Item) *string { return &it.SchemaVersion }), 1},
		"id":             {str(func(it *Item) *string { return &it.ID }), 64},
		"trace_id":       {str(func(it *Item) *string { return &it.TraceID }), 64},
		"channel":        {func(it *Item, s string) { it.Channel = Channel(s) }, 10},
		"source":         {str(func(it *Item) *string { return &it.Source }), 128},
		"via":            {str(func(it *Item) *string { return &it.Via }), 4},
		"ref":            {str(func(it *Item) *string { return &it.Ref }), 256},
		"title":          {str(func(it *Item) *string { return &it.Title }), 500},
		"body":           {str(func(it *Item) *string { return &it.Body }), 100000},
		"name":           {str(func(it *Item) *string { return &it.Complainant.Name }), 100},
		"phone":          {str(func(it *Item) *string { return &it.Complainant.Phone }), 40},
		"email":          {str(func(it *Item) *string { return &it.Complainant.Email }), 254},
		"district":       {str(func(it *Item) *string { return &loc(it).District }), 100},
		"address":        {str(func(it *Item) *string { return &loc(it).Address }), 300},
		"raw_ref":        {str(func(it *Item) *string { return &it.RawRef }), 128},
		"automated":      {str(func(it *Item) *string { return &it.Automated }), 200},
		"revision_of":    {str(func(it *Item) *string { return &it.RevisionOf }), 64},
		"attr key":       {func(it *Item, s string) { attrs(it)[s] = "v" }, 64},
		"attr value":     {func(it *Item, s string) { attrs(it)["k"] = s }, 2000},
		"attrs": {func(it *Item, s string) {
			it.Attrs = map[string]string{}
			for i := range len(s) % 60 {
				it.Attrs[strings.Repeat("k", i+1)] = ""
			}
		}, 150},
		"no location": {func(it *Item, s string) { it.Location = nil }, 1},
		"no attrs":    {func(it *Item, s string) { it.Attrs = nil }, 1},
		"received_at": {func(it *Item, s string) {
			if len(s)%2 == 0 {
				it.ReceivedAt = time.Time{}
			}
		}, 3},
		"submitted_at": {func(it *Item, s string) {
			if len(s)%2 == 0 {
				it.SubmittedAt = time.Time{}.In(time.FixedZone("x", 3600))
			}
		}, 3},
		"attachments": {func(it *Item, s string) { it.Attachments = []Attachment{{SHA256: strings.Repeat("a", 64), Ref: s}} }, 128},
	}
	for _, c := range Channels {
		if errs := validItem(); true {
			errs.Channel = c
			if e := errs.validateAll(); len(e) > 0 {
				t.Errorf("channel %s: %v", c, e)
			}
		}
	}
	fast, slowOK := 0, 0
	check := func(what string, it *Item) {
		t.Helper()
		errs := it.validateAll()
		if len(errs) == 0 {
			slowOK++
		}
		if it.plainlyValid() {
			fast++
			if len(errs) > 0 {
				t.Fatalf("%s: plainly valid, but the validator says %v", what, errs)
			}
		}
	}
	names := make([]string, 0, len(edits))
	for n := range edits {
		names = append(names, n)
	}
	for _, n := range names {
		for _, s := range append(lengthsAround(edits[n].limit), "1", "desk", "newspaper", "fax") {
			it := base()
			edits[n].e(it, s)
			check(n, it)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		it := base()
		for range 1 + r.IntN(4) {
			n := names[r.IntN(len(names))]
			vals := append(lengthsAround(edits[n].limit), "1", "desk", "newspaper")
			edits[n].e(it, vals[r.IntN(len(vals))])
		}
		check("random edits", it)
	}
	if fast == 0 || fast == slowOK && fast < 100 {
		t.Fatalf("the fast check passed %d items (the validator %d): not exercised", fast, slowOK)
	}
	t.Logf("fast check passed %d items, the validator %d", fast, slowOK)
	// A field added to Item must be checked by plainlyValid too.
	if n := reflect.TypeOf(Item{}).NumField(); n != 18 {
		t.Errorf("Item has %d fields, plainlyValid knows 18: check the new one there (or leave such items to the validator)", n)
	}
}

// BenchmarkItemValidate: Validate on a valid item (the fast check), and the
// validator alone (validateAll), as before the fast check.
func BenchmarkItemValidate(b *testing.B) {
	it := validItem()
	it.Complainant = Complainant{Name: "李四", Phone: "13800000000"}
	it.Body = strings.Repeat(it.Body, 40)
	b.Run("validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if errs := it.Validate(); errs != nil {
				b.Fatal(errs)
			}
		}
	})
	b.Run("validator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if errs := it.validateAll(); errs != nil {
				b.Fatal(errs)
			}
		}
	})
}
