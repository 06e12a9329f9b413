package textenc

import (
	"fmt"
	"strings"
)

// ControlAt is the byte offset of the first character in s that no text
// field of an item may hold, or -1: a C0 control character other than tab,
// line feed and carriage return, or DEL. A NUL cuts the text short in the
// C programs and databases downstream (PostgreSQL refuses it in text and
// jsonb), an escape redraws the terminal it is shown on. With breaks,
// vertical tab and form feed pass too: a letter's title and body taken
// from a word processor or a PDF hold them as line and page breaks (Word
// writes a manual line break as a vertical tab).
//
// The desk intake refuses such text (400 naming the field); the other
// intakes, which cannot refuse a mail, an order or a row, replace each
// such character (ScrubControls) and say so.
func ControlAt(s string, breaks bool) int {
	for i := 0; i < len(s); i++ {
		if controlByte(s[i], breaks) {
			return i
		}
	}
	return -1
}

func controlByte(c byte, breaks bool) bool {
	if c >= 0x20 && c != 0x7f || c == '\t' || c == '\n' || c == '\r' {
		return false
	}
	return !breaks || c != '\v' && c != '\f'
}

// Scrubbed tells what ScrubControls replaced: how many characters, and
// which (each once, in the order first met).
type Scrubbed struct {
	N     int
	Which []byte
}

// Add counts what another field gave up, so that one note may tell of
// several fields.
func (s *Scrubbed) Add(o Scrubbed) {
	s.N += o.N
	for _, c := range o.Which {
		if !strings.ContainsRune(string(s.Which), rune(c)) {
			s.Which = append(s.Which, c)
		}
	}
}

// String is "1 control character (U+0000)", "3 control characters
// (U+0000, U+001B)"; "" when none was replaced.
func (s Scrubbed) String() string {
	if s.N == 0 {
		return ""
	}
	codes := make([]string, len(s.Which))
	for i, c := range s.Which {
		codes[i] = fmt.Sprintf("U+%04X", c)
	}
	plural := "s"
	if s.N == 1 {
		plural = ""
	}
	return fmt.Sprintf("%d control character%s (%s)", s.N, plural, strings.Join(codes, ", "))
}

// ScrubControls returns s with each character ControlAt finds replaced by
// U+FFFD, as undecodable bytes are, and what it replaced. Replacing rather
// than dropping keeps the text's shape (a NUL between two words does not
// join them) and leaves a mark where something was.
func ScrubControls(s string, breaks bool) (string, Scrubbed) {
	i := ControlAt(s, breaks)
	if i < 0 {
		return s, Scrubbed{}
	}
	var sc Scrubbed
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if !controlByte(c, breaks) {
			b.WriteByte(c)
			continue
		}
		b.WriteString("\uFFFD")
		sc.Add(Scrubbed{N: 1, Which: []byte{c}})
	}
	return b.String(), sc
}

// Fields scrubs a record's text fields one by one (ScrubControls) and
// gathers what each gave up into one note.
type Fields struct {
	said []string
}

// Scrub replaces the control characters of *s (with breaks, vertical tab
// and form feed stay) and remembers what field gave up, if anything.
func (f *Fields) Scrub(field string, s *string, breaks bool) {
	var sc Scrubbed
	if *s, sc = ScrubControls(*s, breaks); sc.N > 0 {
		f.Told(field, sc)
	}
}

// Told records what field gave up when the caller scrubbed it itself
// (several values under one name: a map's keys and values).
func (f *Fields) Told(field string, sc Scrubbed) {
	if sc.N > 0 {
		f.said = append(f.said, field+" "+sc.String())
	}
}

// Note is "title 1 control character (U+0000); attrs 2 control
// characters (U+001B)", in the order the fields were scrubbed; "" when
// none gave up anything.
func (f *Fields) Note() string { return strings.Join(f.said, "; ") }
