package minsheng

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The envelopes and ledger records are encoded on every item, once per
// destination and once for the ledger: encoding/json's reflection was the
// largest share of the gateway's CPU after syscalls (docs/benchmarks.md).
// AppendEnvelopeJSON and AppendRecordJSON write the same bytes as
// encoding/json does, field by field, without reflection. What they do
// not cover (a quarantined input, a person's review, a value encoding/json
// refuses) goes to encoding/json itself. jsonenc_test.go compares the two
// over random values of every field, so a field added to these types
// without being added here fails the tests.

// AppendEnvelopeJSON appends e's JSON to b: json.Marshal's bytes when
// escapeHTML is set, else those of a json.Encoder with SetEscapeHTML(false)
// (without its newline).
func AppendEnvelopeJSON(b []byte, e *Envelope, escapeHTML bool) ([]byte, error) {
	if e == nil || e.Quarantine != nil {
		return appendStdJSON(b, e, escapeHTML)
	}
	w := jsonWriter{b: slices.Grow(b, 768+itemSize(e.Item)+decisionSize(e.Decision)), html: escapeHTML}
	w.envelope(e)
	if w.bad {
		return appendStdJSON(b, e, escapeHTML)
	}
	return w.b, nil
}

// AppendRecordJSON appends r's JSON to b, as AppendEnvelopeJSON does an
// envelope's.
func AppendRecordJSON(b []byte, r *Record, escapeHTML bool) ([]byte, error) {
	if r == nil || r.Quarantine != nil || r.Review != nil {
		return appendStdJSON(b, r, escapeHTML)
	}
	w := jsonWriter{b: slices.Grow(b, 1024+itemSize(r.Item)+decisionSize(r.Decision)), html: escapeHTML}
	w.record(r)
	if w.bad {
		return appendStdJSON(b, r, escapeHTML)
	}
	return w.b, nil
}

// AppendDecisionJSON appends d's JSON to b, as AppendEnvelopeJSON does an
// envelope's.
func AppendDecisionJSON(b []byte, d *Decision, escapeHTML bool) ([]byte, error) {
	w := jsonWriter{b: slices.Grow(b, decisionSize(d)), html: escapeHTML}
	w.decision(d)
	if w.bad {
		return appendStdJSON(b, d, escapeHTML)
	}
	return w.b, nil
}

// itemSize and decisionSize guess how long an item's and a decision's
// JSON are, so that the buffer is allocated once (most of the time).
func itemSize(it *Item) int {
	if it == nil {
		return 0
	}
	n := 400 + len(it.Title) + len(it.Body) + len(it.Ref) + len(it.Complainant.Name) + len(it.Complainant.Email) + len(it.RawRef)
	for k, v := range it.Attrs {
		n += 8 + len(k) + len(v)
	}
	return n + 200*len(it.Attachments)
}

func decisionSize(d *Decision) int {
	if d == nil {
		return 0
	}
	n := 200 + len(d.Department) + len(d.ModelVersion)
	for i := range d.Reasons {
		n += 64 + len(d.Reasons[i].Code) + len(d.Reasons[i].Detail)
	}
	return n
}

// AppendJSONString appends s as encoding/json encodes a string, with or
// without its HTML escaping.
func AppendJSONString(b []byte, s string, escapeHTML bool) []byte {
	w := jsonWriter{b: b, html: escapeHTML}
	w.string(s)
	return w.b
}

func appendStdJSON(b []byte, v any, escapeHTML bool) ([]byte, error) {
	if escapeHTML {
		raw, err := json.Marshal(v)
		if err != nil {
			return b, err
		}
		return append(b, raw...), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return b, err
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// jsonWriter appends JSON; bad is set on a value it leaves to
// encoding/json (a time outside RFC 3339, a NaN).
type jsonWriter struct {
	b    []byte
	html bool
	bad  bool
}

// key appends a field's name and colon, after a comma unless first.
func (w *jsonWriter) key(k string, first bool) {
	if !first {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonWriter) bool(v bool) {
	w.b = strconv.AppendBool(w.b, v)
}

func (w *jsonWriter) time(t time.Time) {
	w.b = append(w.b, '"')
	var err error
	if w.b, err = t.AppendText(w.b); err != nil {
		w.bad = true
	}
	w.b = append(w.b, '"')
}

// float is encoding/json's float64 encoding.
func (w *jsonWriter) float(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		w.bad = true
		return
	}
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	w.b = strconv.AppendFloat(w.b, f, fmt, -1, 64)
	if fmt == 'e' {
		// clean up e-09 to e-9
		n := len(w.b)
		if n >= 4 && w.b[n-4] == 'e' && w.b[n-3] == '-' && w.b[n-2] == '0' {
			w.b[n-2] = w.b[n-1]
			w.b = w.b[:n-1]
		}
	}
}

const hexDigits = "0123456789abcdef"

// string is encoding/json's string encoding: invalid UTF-8 as U+FFFD,
// U+2028 and U+2029 escaped, and <, > and & too when html is set.
func (w *jsonWriter) string(s string) {
	dst := append(w.b, '"')
	start := 0
	if utf8.ValidString(s) {
		// Valid UTF-8 (all a desk may send): only ASCII and the line and
		// paragraph separators (E2 80 A8, E2 80 A9) are looked at.
		for i := 0; i < len(s); i++ {
			// Eight bytes at a time while none may need a look.
			for i+8 <= len(s) && !w.mayEscape(binary.LittleEndian.Uint64([]byte(s[i:i+8]))) {
				i += 8
			}
			if i == len(s) {
				break
			}
			c := s[i]
			if c >= utf8.RuneSelf {
				if c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && s[i+2]&^1 == 0xA8 {
					dst = append(dst, s[start:i]...)
					dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xF])
					i += 2
					start = i + 1
				}
				continue
			}
			if c >= 0x20 && c != '"' && c != '\\' && (!w.html || c != '<' && c != '>' && c != '&') {
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscaped(dst, c)
			start = i + 1
		}
		dst = append(dst, s[start:]...)
		w.b = append(dst, '"')
		return
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!w.html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendEscaped(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	w.b = append(dst, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// zeroByte is nonzero when a byte of x is zero (and perhaps, past one,
// when it is not: a word it flags is looked at byte by byte).
func zeroByte(x uint64) uint64 { return (x - lsb) &^ x & msb }

// mayEscape reports whether one of the eight bytes of x may need
// escaping or a closer look: below 0x20, '"', '\\', 0xE2 (which starts
// U+2028 and U+2029) and, with html, '<', '>' and '&'.
func (w *jsonWriter) mayEscape(x uint64) bool {
	m := (x-lsb*0x20)&^x&msb | zeroByte(x^(lsb*'"')) | zeroByte(x^(lsb*'\\')) | zeroByte(x^(lsb*0xE2))
	if w.html {
		m |= zeroByte(x^(lsb*'<')) | zeroByte(x^(lsb*'>')) | zeroByte(x^(lsb*'&'))
	}
	return m != 0
}

// appendEscaped appends the escape of an ASCII byte JSON text may not
// hold as it is.
func appendEscaped(dst []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// list appends a slice field, each element by f: null when nil.
func list[T any](w *jsonWriter, xs []T, f func(*T)) {
	if xs == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '[')
	for i := range xs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		f(&xs[i])
	}
	w.b = append(w.b, ']')
}

// strings is a []string field: null when nil.
func (w *jsonWriter) strings(ss []string) {
	list(w, ss, func(s *string) { w.string(*s) })
}

func (w *jsonWriter) envelope(e *Envelope) {
	w.b = append(w.b, '{')
	w.key("schema_version", true)
	w.string(e.SchemaVersion)
	w.key("destination", false)
	w.string(e.Destination)
	w.key("kind", false)
	w.string(e.Kind)
	w.key("id", false)
	w.string(e.ItemID)
	if e.TraceID != "" {
		w.key("trace_id", false)
		w.string(e.TraceID)
	}
	w.key("routed_at", false)
	w.time(e.RoutedAt)
	if e.Item != nil {
		w.key("item", false)
		w.item(e.Item)
	}
	if e.Decision != nil {
		w.key("decision", false)
		w.decision(e.Decision)
	}
	if e.Reason != "" {
		w.key("reason", false)
		w.string(e.Reason)
	}
	// Quarantine is left to encoding/json (AppendEnvelopeJSON).
	if len(e.Reached) > 0 {
		w.key("reached", false)
		w.strings(e.Reached)
	}
	if len(e.Undelivered) > 0 {
		w.key("undelivered", false)
		w.undelivered(e.Undelivered)
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) undelivered(us []Undelivered) {
	list(w, us, func(u *Undelivered) {
		w.b = append(w.b, '{')
		w.key("destination", true)
		w.string(u.Destination)
		w.key("reason", false)
		w.string(u.Reason)
		if u.Refused {
			w.key("refused", false)
			w.bool(true)
		}
		w.b = append(w.b, '}')
	})
}

func (w *jsonWriter) item(it *Item) {
	w.b = append(w.b, '{')
	w.key("schema_version", true)
	w.string(it.SchemaVersion)
	w.key("id", false)
	w.string(it.ID)
	w.key("trace_id", false)
	w.string(it.TraceID)
	w.key("channel", false)
	w.string(string(it.Channel))
	w.key("source", false)
	w.string(it.Source)
	if it.Via != "" {
		w.key("via", false)
		w.string(it.Via)
	}
	w.key("ref", false)
	w.string(it.Ref)
	w.key("received_at", false)
	w.time(it.ReceivedAt)
	w.key("submitted_at", false)
	w.time(it.SubmittedAt)
	w.key("title", false)
	w.string(it.Title)
	w.key("body", false)
	w.string(it.Body)
	w.key("complainant", false)
	c := &it.Complainant
	w.b = append(w.b, '{')
	first := true
	if c.Name != "" {
		w.key("name", first)
		w.string(c.Name)
		first = false
	}
	if c.Phone != "" {
		w.key("phone", first)
		w.string(c.Phone)
		first = false
	}
	if c.Email != "" {
		w.key("email", first)
		w.string(c.Email)
		first = false
	}
	w.key("anonymous", first)
	w.bool(c.Anonymous)
	w.key("consent_to_publish", false)
	w.bool(c.ConsentToPublish)
	w.b = append(w.b, '}')
	if it.Location != nil {
		w.key("location", false)
		w.b = append(w.b, '{')
		first := true
		if it.Location.District != "" {
			w.key("district", first)
			w.string(it.Location.District)
			first = false
		}
		if it.Location.Address != "" {
			w.key("address", first)
			w.string(it.Location.Address)
		}
		w.b = append(w.b, '}')
	}
	if len(it.Attachments) > 0 {
		w.key("attachments", false)
		list(w, it.Attachments, func(a *Attachment) {
			w.b = append(w.b, '{')
			w.key("name", true)
			w.string(a.Name)
			w.key("type", false)
			w.string(a.Type)
			w.key("size", false)
			w.b = strconv.AppendInt(w.b, a.Size, 10)
			w.key("sha256", false)
			w.string(a.SHA256)
			w.key("ref", false)
			w.string(a.Ref)
			w.b = append(w.b, '}')
		})
	}
	if it.RawRef != "" {
		w.key("raw_ref", false)
		w.string(it.RawRef)
	}
	if it.Automated != "" {
		w.key("automated", false)
		w.string(it.Automated)
	}
	if it.RevisionOf != "" {
		w.key("revision_of", false)
		w.string(it.RevisionOf)
	}
	if len(it.Attrs) > 0 {
		w.key("attrs", false)
		w.attrs(it.Attrs)
	}
	w.b = append(w.b, '}')
}

// attrs is a map[string]string, its keys sorted as encoding/json sorts
// them.
func (w *jsonWriter) attrs(m map[string]string) {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.string(k)
		w.b = append(w.b, ':')
		w.string(m[k])
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) decision(d *Decision) {
	if d == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.b = append(w.b, '{')
	first := true
	if d.Class != "" {
		w.key("class", true)
		w.string(string(d.Class))
		first = false
	}
	if d.Confidence != 0 {
		w.key("confidence", first)
		w.float(d.Confidence)
		first = false
	}
	w.key("flags", first)
	w.b = append(w.b, '{')
	w.key("discipline_lead", true)
	w.bool(d.Flags.DisciplineLead)
	if d.Flags.WeakLead {
		w.key("weak_lead", false)
		w.bool(true)
	}
	w.key("urgent", false)
	w.bool(d.Flags.Urgent)
	if d.Flags.DepartmentUncertain {
		w.key("department_uncertain", false)
		w.bool(true)
	}
	w.b = append(w.b, '}')
	if d.Department != "" {
		w.key("department", false)
		w.string(d.Department)
	}
	w.key("review", false)
	w.bool(d.Review)
	w.key("reasons", false)
	list(w, d.Reasons, func(r *Reason) {
		w.b = append(w.b, '{')
		w.key("kind", true)
		w.string(r.Kind)
		w.key("code", false)
		w.string(r.Code)
		if r.Detail != "" {
			w.key("detail", false)
			w.string(r.Detail)
		}
		if r.Weight != 0 {
			w.key("weight", false)
			w.float(r.Weight)
		}
		if r.Lead {
			w.key("lead", false)
			w.bool(true)
		}
		w.b = append(w.b, '}')
	})
	w.key("model_version", false)
	w.string(d.ModelVersion)
	if c := d.Case; c != nil {
		w.key("case", false)
		w.b = append(w.b, '{')
		w.key("id", true)
		w.string(c.ID)
		w.key("nearest", false)
		w.string(c.Nearest)
		w.key("similarity", false)
		w.float(c.Similarity)
		w.key("items", false)
		w.b = strconv.AppendInt(w.b, int64(c.Items), 10)
		w.key("since", false)
		w.time(c.Since)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, '}')
}

func (w *jsonWriter) record(r *Record) {
	w.b = append(w.b, '{')
	w.key("id", true)
	w.string(r.ID)
	if r.Item != nil {
		w.key("item", false)
		w.item(r.Item)
	}
	// Quarantine and Review are left to encoding/json (AppendRecordJSON).
	if r.Decision != nil {
		w.key("decision", false)
		w.decision(r.Decision)
	}
	w.key("destinations", false)
	w.strings(r.Destinations)
	if len(r.Undelivered) > 0 {
		w.key("undelivered", false)
		w.undelivered(r.Undelivered)
	}
	if r.Incomplete {
		w.key("incomplete", false)
		w.bool(true)
	}
	w.key("trail", false)
	list(w, r.Trail, func(ev *Event) {
		w.b = append(w.b, '{')
		w.key("step", true)
		w.string(ev.Step)
		w.key("at", false)
		w.time(ev.At)
		if ev.Detail != "" {
			w.key("detail", false)
			w.string(ev.Detail)
		}
		if len(ev.Destinations) > 0 {
			w.key("destinations", false)
			w.strings(ev.Destinations)
		}
		w.b = append(w.b, '}')
	})
	w.b = append(w.b, '}')
}
