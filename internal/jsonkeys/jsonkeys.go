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
	"unicode/utf8"
)

// Repeated returns the path of the first key given twice in one object
// of raw ("body", "complainant.name", "items[2].ref"), and "" when there
// is none. Keys compare without regard to case in an object whose path
// fold reports true (a struct's fields, as encoding/json matches them),
// and exactly in the others (a map's keys); a nil fold folds every
// object. raw should be valid JSON (decode it first): scanning stops
// quietly at anything that is not.
func Repeated(raw []byte, fold func(path string) bool) string {
	s := scanner{raw: raw, fold: fold}
	s.value("")
	return s.found
}

// RepeatedTop is Repeated for the keys of the outermost object alone
// (raw's, when it is an object), compared without regard to case when
// fold is true: a repeat inside a value is not looked for.
func RepeatedTop(raw []byte, fold bool) string {
	s := scanner{raw: raw, fold: func(string) bool { return fold }, top: true}
	s.value("")
	return s.found
}

// Top reports whether path names a key of the outermost object.
func Top(path string) bool { return path != "" && !strings.ContainsAny(path, ".[") }

type scanner struct {
	raw   []byte
	i     int
	fold  func(string) bool
	found string
	top   bool // only the outermost object's keys are compared
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

// value scans one value at s.i; it reports false to stop (a repeat found,
// or input that is not JSON).
func (s *scanner) value(path string) bool {
	s.ws()
	if s.i >= len(s.raw) {
		return false
	}
	switch s.raw[s.i] {
	case '{':
		return s.object(path)
	case '[':
		return s.array(path)
	case '"':
		_, ok := s.str(false)
		return ok
	}
	start := s.i
	for s.i < len(s.raw) { // a number, true, false or null
		switch s.raw[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return s.i > start // nothing at all is not a value
		}
		s.i++
	}
	return true
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

func (s *scanner) object(path string) bool {
	s.i++ // {
	fold := s.fold == nil || s.fold(path)
	check := !s.top || path == ""
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
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		if check {
			key := k
			if fold {
				key = strings.ToLower(k)
			}
			if seen[key] {
				s.found = sub
				return false
			}
			if seen == nil {
				seen = make(map[string]bool, 8)
			}
			seen[key] = true
		}
		s.ws()
		if s.i >= len(s.raw) || s.raw[s.i] != ':' {
			return false
		}
		s.i++
		if !s.value(sub) {
			return false
		}
	}
}

func (s *scanner) array(path string) bool {
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
		if !s.value(path + "[" + strconv.Itoa(n) + "]") {
			return false
		}
		n++
	}
}
