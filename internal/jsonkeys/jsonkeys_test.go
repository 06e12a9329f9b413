package jsonkeys

import (
	"bytes"
	"encoding/json"
	"runtime"
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
		if got := Repeated([]byte(c.raw), c.fold); got != c.want {
			t.Errorf("Repeated(%s) = %q, want %q", c.raw, got, c.want)
		}
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
		if got := RepeatedTop([]byte(c.raw), c.fold); got != c.want {
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
	key := strings.Repeat("k", 100)
	const depth = 9000
	raw := []byte(`{"body":"x","x":` + strings.Repeat(`{"`+key+`":`, depth) + "1" + strings.Repeat("}", depth) + `,"body":"y"}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := Repeated(raw, nil)
	top := RepeatedTop(raw, true)
	runtime.ReadMemStats(&after)
	if got != "body" || top != "body" {
		t.Errorf("Repeated = %q, RepeatedTop = %q; want body", got, top)
	}
	if used := after.TotalAlloc - before.TotalAlloc; used > 8*uint64(len(raw)) {
		t.Errorf("scanning %d bytes allocated %d", len(raw), used)
	}
}

// reference finds the first repeated key with encoding/json's tokens,
// folding every object: what Repeated must agree with on valid JSON.
func reference(raw []byte) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var walk func(path string) (string, bool)
	walk = func(path string) (string, bool) {
		tok, err := d.Token()
		if err != nil {
			return "", false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return "", false
				}
				k := kt.(string)
				sub := k
				if path != "" {
					sub = path + "." + k
				}
				for s := range seen {
					if bytes.EqualFold([]byte(s), []byte(k)) {
						return sub, false
					}
				}
				seen[k] = true
				if f, ok := walk(sub); !ok {
					return f, false
				}
			}
			d.Token()
		case json.Delim('['):
			for n := 0; d.More(); n++ {
				if f, ok := walk(path + "[" + strconv.Itoa(n) + "]"); !ok {
					return f, false
				}
			}
			d.Token()
		}
		return "", true
	}
	f, _ := walk("")
	return f
}

func FuzzRepeated(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"x":[{"y":"\"}","y":1}]}`, `{"k\u00e9":1,"kÉ":2}`, `[1,"2",{"3":[]}]`, `{"complainant":{"name":"张"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := Repeated(raw, nil) // never panics, whatever raw is
		if !json.Valid(raw) {
			return
		}
		if want := reference(raw); got != want {
			t.Errorf("Repeated(%q) = %q, encoding/json's tokens say %q", raw, got, want)
		}
	})
}

// BenchmarkRepeated: a letter of about 2 KB with a nested object.
func BenchmarkRepeated(b *testing.B) {
	raw := []byte(`{"ref":"QD-2026-0001","title":"小区噪音扰民","body":"` + strings.Repeat("楼下商铺夜间施工，噪音很大，多次反映无果。", 30) +
		`","submitted_at":"2026-11-20T21:15:00+08:00","complainant":{"name":"张三","phone":"13800000000","anonymous":false,"consent_to_publish":false}}`)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if Repeated(raw, nil) != "" {
			b.Fatal("repeat")
		}
	}
}
