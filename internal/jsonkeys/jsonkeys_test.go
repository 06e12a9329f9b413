package jsonkeys

import (
	"bytes"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRepeated(t *testing.T) {
	exactAttrs := func(depth int, under string) bool { return depth != 1 || !Same(under, "attrs") }
	for _, c := range []struct {
		raw  string
		fold Fold
		want string
	}{
		{`{"ref":"a","body":"一","title":"二"}`, nil, ""},
		{`{"body":"一","body":"二"}`, nil, "body"},
		{`{"body":"一","Body":"二"}`, nil, "Body"},
		{`{"body":"一","Body":"二"}`, func(int, string) bool { return false }, ""},
		{`{"anonymous":true,"anonymouſ":false}`, nil, "anonymouſ"}, // ſ folds to s, as encoding/json matches names
		{`{"kelvin":1,"\u212aelvin":2}`, nil, "\u212aelvin"},       // the Kelvin sign folds to k
		{`{"tİtle":"y","title":"t"}`, nil, ""},                     // İ does not fold to i
		{`{"Attrs":{"k":"1","K":"2"}}`, exactAttrs, ""},
		{`{"x":{"attrs":{"k":"1","K":"2"}}}`, exactAttrs, "x.attrs.K"},
		{`{"b\u006fdy":"一","body":"二"}`, nil, "body"},
		{` { "a" : 1 , "b" : [ 1 , 2 ] , "a" : 3 } `, nil, "a"},
		{`{"complainant":{"name":"张","phone":"1","NAME":"李"}}`, exactAttrs, "complainant.NAME"},
		{`{"attrs":{"k":"1","K":"2"}}`, exactAttrs, ""},
		{`{"attrs":{"k":"1","k":"2"}}`, exactAttrs, "attrs.k"},
		{`{"items":[{"ref":"a"},{"ref":"b","ref":"c"}]}`, nil, "items[1].ref"},
		{`{"items":[[1,{"x":1,"x":2}]]}`, nil, "items[0][1].x"},
		{`{"a":{"b":1},"c":{"b":1}}`, nil, ""},
		{`{"s":"a \"quoted\" }{ text","s2":"\\","t":null,"u":true,"v":-1.5e3}`, nil, ""},
		{`[{"a":1},{"a":1}]`, nil, ""},
		{"{\"\xc3\":0,\"\x89\":0}", nil, "\ufffd"}, // invalid UTF-8 decodes to U+FFFD, as encoding/json's
		{`{"a\\":1,"a\\":2}`, nil, `a\`},
		{`"plain"`, nil, ""},
		{`{"a":1,`, nil, ""}, // not JSON: stops quietly
		{``, nil, ""},
	} {
		if got, found := Repeated([]byte(c.raw), c.fold); got != c.want || found != (c.want != "") {
			t.Errorf("Repeated(%s) = %q, %v; want %q", c.raw, got, found, c.want)
		}
	}
	// The empty key given twice is a repeat with an empty path.
	if got, found := Repeated([]byte(`{"":1,"":2}`), nil); got != "" || !found {
		t.Errorf(`Repeated({"":1,"":2}) = %q, %v; want "", true`, got, found)
	}
	if got, found := RepeatedTop([]byte(`{"a":1,"":2,"":3}`), false); got != "" || !found {
		t.Errorf("RepeatedTop with the empty key twice = %q, %v", got, found)
	}
}

func TestRepeatedTop(t *testing.T) {
	for _, c := range []struct {
		raw  string
		fold bool
		want string
	}{
		{`{"meta":{"a":1,"a":2},"id":1,"id":2}`, false, "id"},
		{`{"meta":{"a":1,"a":2},"id":1}`, false, ""},
		{`{"id":1,"ID":2}`, false, ""},
		{`{"id":1,"ID":2}`, true, "ID"},
		{`[{"id":1,"id":2}]`, false, ""},
	} {
		if got, _ := RepeatedTop([]byte(c.raw), c.fold); got != c.want {
			t.Errorf("RepeatedTop(%s, %v) = %q, want %q", c.raw, c.fold, got, c.want)
		}
	}
}

func TestSame(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"body", "BODY", true}, {"ſubmitted_at", "submitted_at", true}, {"\u212a", "k", true},
		{"tİtle", "title", false}, {"body", "bodies", false}, {"正文", "正文", true}, {"", "", true},
	} {
		if Same(c.a, c.b) != c.want || Same(c.b, c.a) != c.want {
			t.Errorf("Same(%q, %q) = %v", c.a, c.b, !c.want)
		}
	}
}

// TestDeepNesting: a body nested as deep as encoding/json allows, with
// long keys, is scanned in memory linear in its size (a path built at
// every level had taken gigabytes).
func TestDeepNesting(t *testing.T) {
	const depth = 9000
	for _, key := range []string{strings.Repeat("k", 100), "k"} {
		raw := []byte(`{"body":"x","x":` + strings.Repeat(`{"`+key+`":`, depth) + "1" + strings.Repeat("}", depth) + `,"body":"y"}`)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, _ := Repeated(raw, nil)
		top, _ := RepeatedTop(raw, true)
		runtime.ReadMemStats(&after)
		if got != "body" || top != "body" {
			t.Errorf("keys of %d bytes: Repeated = %q, RepeatedTop = %q; want body", len(key), got, top)
		}
		if used := after.TotalAlloc - before.TotalAlloc; used > 8*uint64(len(raw)) {
			t.Errorf("keys of %d bytes: scanning %d bytes allocated %d", len(key), len(raw), used)
		}
	}
	// Deeper than encoding/json reads (so never valid input to a caller):
	// the scan stops there rather than growing the stack without bound.
	deep := []byte(strings.Repeat("[", 4<<20))
	if _, found := Repeated(deep, nil); found {
		t.Error("a repeat in a list of lists")
	}
}

// reference finds every repeated key with encoding/json's tokens, in the
// order met, comparing keys as bytes.EqualFold does (encoding/json's own
// matching of field names), in every object or, with top, in the
// outermost only: what All, Repeated and RepeatedTop must agree with on
// valid JSON.
func reference(raw []byte, top bool) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var found []string
	var walk func(path string, depth int) bool // false: stop
	walk = func(at string, depth int) bool {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			var seen []string
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return false
				}
				k := kt.(string)
				sub := k
				if at != "" || depth > 0 {
					sub = at + "." + k
				}
				if !top || depth == 0 {
					n := 0 // earlier keys equal to k
					for _, s := range seen {
						if bytes.EqualFold([]byte(s), []byte(k)) {
							n++
						}
					}
					if n == 1 { // named once, the second time
						found = append(found, sub)
					}
					seen = append(seen, k)
				}
				if !walk(sub, depth+1) {
					return false
				}
			}
			d.Token()
		case json.Delim('['):
			for n := 0; d.More(); n++ {
				if !walk(at+"["+strconv.Itoa(n)+"]", depth+1) {
					return false
				}
			}
			d.Token()
		}
		return true
	}
	walk("", 0)
	return found
}

func FuzzRepeated(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"x":[{"y":"\"}","y":1}]}`, `{"k\u00e9":1,"kÉ":2}`, `[1,"2",{"3":[]}]`, `{"complainant":{"name":"张"}}`, `{"":{"":1,"":2}}`, `{"a":{"b":1,"b":2},"a":3}`, `{"a":1,"a":2,"a":3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		all := Find(raw, Options{Max: 1000}) // none panics, whatever raw is
		got, found := Repeated(raw, nil)
		top, topFound := RepeatedTop(raw, true)
		if !json.Valid(raw) {
			return
		}
		want := reference(raw, false)
		if len(want) > 1000 {
			want = want[:1000]
		}
		if !slices.Equal(all, want) {
			t.Errorf("Find(%q) = %q; encoding/json's tokens say %q", raw, all, want)
		}
		if found != (len(want) > 0) || found && got != want[0] {
			t.Errorf("Repeated(%q) = %q, %v; encoding/json's tokens say %q", raw, got, found, want)
		}
		wantTop := reference(raw, true)
		if topFound != (len(wantTop) > 0) || topFound && top != wantTop[0] {
			t.Errorf("RepeatedTop(%q) = %q, %v; encoding/json's tokens say %q", raw, top, topFound, wantTop)
		}
	})
}

func TestFind(t *testing.T) {
	raw := []byte(`{"a":1,"a":2,"A":3,"b":{"c":1,"c":2},"l":[{"d":1,"D":2}],"x":{"e":1,"e":2}}`)
	for _, c := range []struct {
		o    Options
		want []string
	}{
		{Options{Max: 16}, []string{"a", "b.c", "l[0].D", "x.e"}}, // a given three times is named once
		{Options{Max: 2}, []string{"a", "b.c"}},
		{Options{Max: 0}, nil},
		// Repeats under fields the reader ignores do not count, nor take
		// a place of the Max.
		{Options{Max: 1, Keep: func(top string) bool { return top == "x" }}, []string{"x.e"}},
		{Options{Max: 16, Keep: func(top string) bool { return top != "a" && top != "b" }}, []string{"l[0].D", "x.e"}},
	} {
		if got := Find(raw, c.o); !slices.Equal(got, c.want) {
			t.Errorf("Find, Max %d = %q, want %q", c.o.Max, got, c.want)
		}
	}
	if got := Find([]byte(`{"a":1,"b":2}`), Options{Max: 16}); len(got) != 0 {
		t.Errorf("no repeat: %q", got)
	}
}

// BenchmarkRepeated: a letter of about 2 KB with a nested object.
func BenchmarkRepeated(b *testing.B) {
	raw := []byte(`{"ref":"QD-2026-0001","title":"小区噪音扰民","body":"` + strings.Repeat("楼下商铺夜间施工，噪音很大，多次反映无果。", 30) +
		`","submitted_at":"2026-11-20T21:15:00+08:00","complainant":{"name":"张三","phone":"13800000000","anonymous":false,"consent_to_publish":false}}`)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, found := Repeated(raw, nil); found {
			b.Fatal("repeat")
		}
	}
}

func TestFieldsOf(t *testing.T) {
	type order struct {
		No     string `json:"order_no"`
		Title  string `json:"title,omitempty"`
		Plain  string
		Hidden string `json:"-"`
		hidden string
	}
	_ = order{}.hidden
	known := FieldsOf[order]()
	for name, want := range map[string]bool{"order_no": true, "ORDER_NO": true, "title": true, "plain": true, "Hidden": false, "hidden": false, "ext": false} {
		if known(name) != want {
			t.Errorf("FieldsOf[order](%q) = %v", name, !want)
		}
	}
}
