package desk

import (
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
)

// decodePlain decodes the submission nearly every desk sends, without
// encoding/json's reflection (a twentieth of the gateway's CPU at full
// load): one object in UTF-8, each field once under its own name in lower
// case, of its own type, strings without \u escapes, no null and no
// number. It returns false for anything else, leaving the body to
// decodeSubmission, which also names every problem; so it needs to be
// right only about the bodies it takes, for which it gives what
// encoding/json gives (plain_test.go compares the two).
func decodePlain(raw []byte) (*Submission, bool) {
	if !utf8.Valid(raw) {
		return nil, false
	}
	p := plainParser{b: raw}
	s := &Submission{}
	ok := p.fields(func(key string) (bit uint8, ok bool) {
		switch key {
		case "ref":
			s.Ref, ok = p.str()
			return 1, ok
		case "title":
			s.Title, ok = p.str()
			return 2, ok
		case "body":
			s.Body, ok = p.str()
			return 4, ok
		case "submitted_at":
			from := p.i
			if _, ok = p.str(); !ok {
				return 0, false
			}
			// The quoted text, as encoding/json hands it to the time.
			return 8, s.SubmittedAt.UnmarshalJSON(p.b[from:p.i]) == nil
		case "complainant":
			c := &Complainant{}
			s.Complainant = c
			return 16, p.fields(func(key string) (bit uint8, ok bool) {
				switch key {
				case "name":
					c.Name, ok = p.str()
					return 1, ok
				case "phone":
					c.Phone, ok = p.str()
					return 2, ok
				case "email":
					c.Email, ok = p.str()
					return 4, ok
				case "anonymous":
					c.Anonymous, ok = p.boolean()
					return 8, ok
				case "consent_to_publish":
					c.ConsentToPublish, ok = p.boolean()
					return 16, ok
				}
				return 0, false
			})
		case "location":
			l := &minsheng.Location{}
			s.Location = l
			return 32, p.fields(func(key string) (bit uint8, ok bool) {
				switch key {
				case "district":
					l.District, ok = p.str()
					return 1, ok
				case "address":
					l.Address, ok = p.str()
					return 2, ok
				}
				return 0, false
			})
		case "attrs":
			m := map[string]string{}
			s.Attrs = m
			return 64, p.object(func(key string) bool {
				if _, dup := m[key]; dup {
					return false
				}
				v, ok := p.str()
				m[key] = v
				return ok
			})
		case "revision_of":
			s.RevisionOf, ok = p.str()
			return 128, ok
		}
		return 0, false
	})
	p.ws()
	return s, ok && p.i == len(p.b)
}

// fields reads an object of known keys, each at most once: field reads the
// value of a key and returns the key's bit (0 for an unknown key).
func (p *plainParser) fields(field func(key string) (bit uint8, ok bool)) bool {
	var got uint8
	return p.object(func(key string) bool {
		bit, ok := field(key)
		if !ok || bit == 0 || got&bit != 0 {
			return false
		}
		got |= bit
		return true
	})
}

// plainParser reads the JSON decodePlain takes.
type plainParser struct {
	b []byte
	i int
}

func (p *plainParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object reads an object, calling value with each key once the reader
// stands at its value, which value reads.
func (p *plainParser) object(value func(key string) bool) bool {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	p.i++
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		p.ws()
		if !value(key) {
			return false
		}
		p.ws()
		if p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string: its text, or false for anything but a string and
// for one with a \u escape (left to encoding/json, as are lone surrogates).
func (p *plainParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

// escaped reads the rest of a string holding an escape, from start.
func (p *plainParser) escaped(start int) (string, bool) {
	out := make([]byte, 0, p.i-start+64)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default: // \u and anything else
			return "", false
		}
		p.i += 2
	}
	return "", false
}

// boolean reads true or false as a *bool.
func (p *plainParser) boolean() (*bool, bool) {
	for _, v := range []bool{true, false} {
		lit := "false"
		if v {
			lit = "true"
		}
		if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
			p.i += len(lit)
			return &v, true
		}
	}
	return nil, false
}
