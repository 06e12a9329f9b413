// Package jsonkeys finds a key that one JSON object gives twice.
//
// encoding/json keeps the last of two equal keys without a word, and it
// matches a struct's field names without regard to case, so a body of
// {"body":"…","Body":"…"} loses the first text. Intake refuses such a
// body instead of guessing which was meant.
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold tells Find how to compare the keys of one object: as
// encoding/json matches a struct's field names (true) or exactly, as it
// fills a map (false). depth is the object's depth (0 for the outermost),
// under the outermost key it sits under ("" at depth 0).
type Fold func(depth int, under string) bool

// Repeated returns the path of the first key given twice in one object
// of raw ("body", "complainant.name", "items[2].ref"; "" for the empty
// key of the outermost object) and whether there is one, comparing keys
// as fold says (nil: every object folds). raw should be valid JSON
// (decode it first): scanning stops quietly at anything that is not, and
// at nesting deeper than encoding/json reads (MaxDepth). Time and memory
// are linear in raw.
func Repeated(raw []byte, fold Fold) (string, bool) {
	all := Find(raw, Options{Fold: fold, Max: 1})
	if len(all) == 0 {
		return "", false
	}
	return all[0], true
}

// Options of Find.
type Options struct {
	Fold Fold // how to compare an object's keys; nil: folded everywhere
	// Keep, when set, says which repeats count, by the outermost key they
	// are under (the repeated key itself in the outermost object): those
	// under a field the reader ignores need not.
	Keep func(top string) bool
	Max  int // repeats to find, at least 1
}

// Find returns the repeats of raw that count, in the order met, up to
// o.Max: each key that equals an earlier one of its object, named once
// however often it is given. Time is linear in raw times the repeats
// found.
func Find(raw []byte, o Options) []string {
	if o.Max < 1 {
		return nil
	}
	s := scanner{raw: raw, fold: o.Fold, keep: o.Keep, max: o.Max}
	s.value(0, "")
	return s.paths()
}

// Names maps the JSON names of struct type t's fields, as encoding/json
// reads them (its tag's name, else the Go name; none for "-" or an
// unexported field), to the fields' indices.
func Names(t reflect.Type) map[string]int {
	names := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = i
	}
	return names
}

// FieldsOf returns a Keep for Options: true for the JSON names of struct
// type T's fields, in any case, as encoding/json reads them; a repeat
// under another name is one the decoder ignores (or refuses as unknown).
func FieldsOf[T any]() func(top string) bool {
	folded := map[string]bool{}
	for name := range Names(reflect.TypeFor[T]()) {
		folded[FoldName(name)] = true
	}
	return func(top string) bool { return folded[FoldName(top)] }
}

// RepeatedTop is Repeated for the keys of the outermost object alone
// (raw's, when it is an object), compared as encoding/json matches field
// names when fold is true: what lies inside a value is skipped.
func RepeatedTop(raw []byte, fold bool) (string, bool) {
	s := scanner{raw: raw, fold: func(int, string) bool { return fold }, top: true, max: 1}
	s.value(0, "")
	if p := s.paths(); len(p) > 0 {
		return p[0], true
	}
	return "", false
}

// MaxDepth is how deep Find follows objects and lists: encoding/json
// refuses to decode deeper.
const MaxDepth = 10000

// Same reports whether encoding/json would take keys a and b for the same
// field name: equal under Unicode simple case folding ("K", "k" and the
// Kelvin sign; "S", "s" and "ſ").
func Same(a, b string) bool { return FoldName(a) == FoldName(b) }

// FoldName maps a name to one representative of its case-folding class:
// ASCII letters to upper case, any other rune to the smallest rune of its
// simple-folding orbit. Folding is rune by rune, so the fold of a prefix
// is a prefix of the fold.
func FoldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// seg is one step of the path to a repeat: a key, or an index into a
// list when index ≥ 0.
type seg struct {
	key   string
	index int
}

type scanner struct {
	raw  []byte
	i    int
	fold Fold
	keep func(string) bool
	top  bool // only the outermost object's keys are compared
	max  int  // repeats to find before stopping
	// The repeats found, each path innermost first: a frame adds its step
	// to those found inside it as it returns, so no path is built while
	// scanning.
	trails [][]seg
}

// full reports whether max repeats were found.
func (s *scanner) full() bool { return len(s.trails) >= s.max }

// step adds a frame's step to the trails of the repeats found inside it,
// trails[from:].
func (s *scanner) step(from int, p seg) {
	for i := from; i < len(s.trails); i++ {
		s.trails[i] = append(s.trails[i], p)
	}
}

func (s *scanner) ws() {
	for s.i < len(s.raw) {
		switch s.raw[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// paths joins the trail of each repeat, outermost first: "items[1].ref"
// (an empty key still takes its place: {"":{"":1,"":2}} repeats at ".").
func (s *scanner) paths() []string {
	out := make([]string, 0, len(s.trails))
	for _, t := range s.trails {
		var b strings.Builder
		for i := len(t) - 1; i >= 0; i-- {
			p := t[i]
			switch {
			case p.index >= 0:
				b.WriteString("[" + strconv.Itoa(p.index) + "]")
				continue
			case i < len(t)-1:
				b.WriteByte('.')
			}
			b.WriteString(p.key)
		}
		out = append(out, b.String())
	}
	return out
}

// value scans one value at s.i, at depth objects and lists deep, under
// the outermost key under; it reports false to stop (a repeat found, or
// input that is not JSON).
func (s *scanner) value(depth int, under string) bool {
	s.ws()
	if s.i >= len(s.raw) || depth > MaxDepth {
		return false
	}
	switch c := s.raw[s.i]; {
	case (c == '{' || c == '[') && s.top && depth > 0:
		return s.skip()
	case c == '{':
		return s.object(depth, under)
	case c == '[':
		return s.list(depth, under)
	case c == '"':
		_, ok := s.str(false)
		return ok
	}
	start := s.i
	for s.i < len(s.raw) { // a number, true, false or null
		switch s.raw[s.i] {
		case ',', '}', ']', ':', ' ', '\t', '\n', '\r', '"', '{', '[':
			return s.i > start // nothing at all is not a value
		}
		s.i++
	}
	return true
}

// skip passes over the object or list at s.i without looking at its keys.
func (s *scanner) skip() bool {
	depth := 0
	for s.i < len(s.raw) {
		switch s.raw[s.i] {
		case '"':
			if _, ok := s.str(false); !ok {
				return false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
		s.i++
		if depth == 0 {
			return true
		}
	}
	return false
}

// str scans a string at s.i and returns its value when decode is set (as
// encoding/json decodes it: escapes, and invalid UTF-8 as U+FFFD).
func (s *scanner) str(decode bool) (string, bool) {
	start := s.i
	s.i++
	escaped := false
	for {
		n := bytes.IndexByte(s.raw[s.i:], '"')
		if n < 0 {
			return "", false
		}
		if bytes.IndexByte(s.raw[s.i:s.i+n], '\\') >= 0 {
			escaped = true
		}
		s.i += n
		odd := false // the quote is escaped by an odd run of backslashes
		for j := s.i - 1; j > start && s.raw[j] == '\\'; j-- {
			odd = !odd
		}
		s.i++
		if odd {
			continue
		}
		switch raw := s.raw[start+1 : s.i-1]; {
		case !decode:
			return "", true
		case !escaped && utf8.Valid(raw):
			return string(raw), true
		}
		var v string
		if json.Unmarshal(s.raw[start:s.i], &v) != nil {
			return "", false
		}
		return v, true
	}
}

func (s *scanner) object(depth int, under string) bool {
	s.i++ // {
	fold := s.fold == nil || s.fold(depth, under)
	// The first key is held alone: most objects nested in a body are
	// small, and a map each would cost more than the body. A key is seen
	// once, then reported once.
	const seen, reported = 1, 2
	var first string
	var firstState uint8
	var state map[string]uint8
	keys := 0
	for {
		s.ws()
		if s.i >= len(s.raw) {
			return false
		}
		switch s.raw[s.i] {
		case '}':
			s.i++
			return true
		case ',':
			s.i++
			continue
		case '"':
		default:
			return false
		}
		k, ok := s.str(true)
		if !ok {
			return false
		}
		key := k
		if fold {
			key = FoldName(k)
		}
		var was uint8 // what this object has had of key so far
		switch {
		case keys == 0:
			first = key
		case key == first:
			was = firstState
		default:
			if state == nil {
				state = map[string]uint8{}
			}
			was = state[key]
		}
		keys++
		now := was
		if was < reported {
			now = was + 1
		}
		if key == first {
			firstState = now
		} else {
			state[key] = now
		}
		if was == seen { // the second time: a repeat, named once
			top := k
			if depth > 0 {
				top = under
			}
			if s.keep == nil || s.keep(top) {
				s.trails = append(s.trails, []seg{{key: k, index: -1}})
				if s.full() {
					return false
				}
			}
		}
		s.ws()
		if s.i >= len(s.raw) || s.raw[s.i] != ':' {
			return false
		}
		s.i++
		inner := under
		if depth == 0 {
			inner = k
		}
		from := len(s.trails)
		ok = s.value(depth+1, inner)
		s.step(from, seg{key: k, index: -1})
		if !ok {
			return false
		}
	}
}

func (s *scanner) list(depth int, under string) bool {
	s.i++ // [
	for n := 0; ; {
		s.ws()
		if s.i >= len(s.raw) {
			return false
		}
		switch s.raw[s.i] {
		case ']':
			s.i++
			return true
		case ',':
			s.i++
			continue
		}
		from := len(s.trails)
		ok := s.value(depth+1, under)
		s.step(from, seg{index: n})
		if !ok {
			return false
		}
		n++
	}
}
