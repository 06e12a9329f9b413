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
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold tells Repeated how to compare the keys of one object: as
// encoding/json matches a struct's field names (true) or exactly, as it
// fills a map (false). depth is the object's depth (0 for the outermost),
// under the outermost key it sits under ("" at depth 0).
type Fold func(depth int, under string) bool

// Repeated returns the path of the first key given twice in one object
// of raw ("body", "complainant.name", "items[2].ref"), and "" when there
// is none, comparing keys as fold says (nil: every object folds). raw
// should be valid JSON (decode it first): scanning stops quietly at
// anything that is not. Time and memory are linear in raw, however deep
// it nests.
func Repeated(raw []byte, fold Fold) string {
	s := scanner{raw: raw, fold: fold}
	s.value(0)
	return s.found
}

// RepeatedTop is Repeated for the keys of the outermost object alone
// (raw's, when it is an object), compared as encoding/json matches field
// names when fold is true: what lies inside a value is skipped.
func RepeatedTop(raw []byte, fold bool) string {
	s := scanner{raw: raw, fold: func(int, string) bool { return fold }, top: true}
	s.value(0)
	return s.found
}

// Same reports whether encoding/json would take keys a and b for the same
// field name: equal under Unicode simple case folding ("K", "k" and the
// Kelvin sign; "S", "s" and "ſ").
func Same(a, b string) bool { return foldName(a) == foldName(b) }

// foldName maps a name to one representative of its case-folding class:
// ASCII letters to upper case, any other rune to the smallest rune of its
// simple-folding orbit.
func foldName(s string) string {
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

// seg is one step of the path to the value being scanned: a key, or an
// index into a list when key is "" and index ≥ 0.
type seg struct {
	key   string
	index int
}

type scanner struct {
	raw   []byte
	i     int
	fold  Fold
	top   bool  // only the outermost object's keys are compared
	path  []seg // to the value being scanned; joined only when a repeat is found
	found string
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

// where joins the path, ending with key.
func (s *scanner) where(key string) string {
	var b strings.Builder
	for _, p := range s.path {
		if p.index >= 0 {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.key)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	return b.String()
}

// value scans one value at s.i, at depth objects and lists deep; it
// reports false to stop (a repeat found, or input that is not JSON).
func (s *scanner) value(depth int) bool {
	s.ws()
	if s.i >= len(s.raw) {
		return false
	}
	switch c := s.raw[s.i]; {
	case (c == '{' || c == '[') && s.top && depth > 0:
		return s.skip()
	case c == '{':
		return s.object(depth)
	case c == '[':
		return s.list(depth)
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

func (s *scanner) object(depth int) bool {
	s.i++ // {
	under := ""
	if len(s.path) > 0 {
		under = s.path[0].key
	}
	fold := s.fold == nil || s.fold(depth, under)
	var seen map[string]bool
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
			key = foldName(k)
		}
		if seen[key] {
			s.found = s.where(k)
			return false
		}
		if seen == nil {
			seen = make(map[string]bool, 8)
		}
		seen[key] = true
		s.ws()
		if s.i >= len(s.raw) || s.raw[s.i] != ':' {
			return false
		}
		s.i++
		s.path = append(s.path, seg{key: k, index: -1})
		ok = s.value(depth + 1)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
	}
}

func (s *scanner) list(depth int) bool {
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
		s.path = append(s.path, seg{index: n})
		ok := s.value(depth + 1)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
		n++
	}
}
