package minsheng

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// filler makes random values of any type, through reflection, so that a
// field added to Envelope, Record or a type they hold is filled too and a
// hand encoder that does not know it fails the comparison below.
type filler struct{ r *rand.Rand }

var fillStrings = []string{"", "a", "ms1abcdefghijklmnopqrstuvwxyz", "小区门口道路塌陷多日无人修复",
	"<script>&amp;</script>", "quote \" backslash \\ slash /", "\n\r\t\b\f\x00\x01\x1f\x7f",
	"\u2028\u2029", "bad utf8 \xff\xfe end", "\xe4\xb8", "emoji 😀 \U0010ffff", "gov_service", "\ufffd",
	"media_oversight", "2026-11-22T09:30:00+08:00", strings.Repeat("长", 300)}

var fillFloats = []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 0.1234567890123, 1e-6, 9.99e-7, 1e-7, 1.5e-300,
	1e20, 1e21, 123456789e15, -2.5e-9, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.30000000000000004}

func (f *filler) time() time.Time {
	zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("odd", -(3*3600 + 30*60)),
		time.FixedZone("secs", 3600+17), time.Local}
	switch f.r.IntN(12) {
	case 0:
		return time.Time{}
	case 1: // outside RFC 3339: encoding/json refuses it
		return time.Date(10000+f.r.IntN(100), 1, 1, 0, 0, 0, 0, time.UTC)
	case 2:
		return time.Date(2026, 12, 3, 13, 0, 0, 0, time.FixedZone("far", 25*3600))
	}
	t := time.Unix(f.r.Int64N(1<<33), f.r.Int64N(1e9)*int64(f.r.IntN(2)))
	if f.r.IntN(3) == 0 {
		t = t.Truncate(time.Millisecond)
	}
	return t.In(zones[f.r.IntN(len(zones))])
}

func (f *filler) fill(v reflect.Value, depth int) {
	if v.Type() == reflect.TypeOf(time.Time{}) {
		v.Set(reflect.ValueOf(f.time()))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if f.r.IntN(3) == 0 {
			v.SetString("")
		} else {
			v.SetString(fillStrings[f.r.IntN(len(fillStrings))])
		}
	case reflect.Bool:
		v.SetBool(f.r.IntN(2) == 0)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt([]int64{0, 1, -1, 42, math.MaxInt32, f.r.Int64()}[f.r.IntN(6)] >> (64 - v.Type().Bits()))
	case reflect.Uint8:
		v.SetUint(uint64(f.r.IntN(256)))
	case reflect.Float64:
		x := fillFloats[f.r.IntN(len(fillFloats))]
		if f.r.IntN(4) == 0 {
			x = f.r.Float64() * math.Pow(10, float64(f.r.IntN(40)-20))
		}
		if f.r.IntN(200) == 0 {
			x = math.NaN()
		}
		v.SetFloat(x)
	case reflect.Pointer:
		if depth > 4 || f.r.IntN(3) == 0 {
			v.SetZero()
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		switch n := f.r.IntN(5); {
		case n == 0 || depth > 4:
			v.SetZero()
		case n == 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			s := reflect.MakeSlice(v.Type(), n-1, n-1)
			for i := range n - 1 {
				f.fill(s.Index(i), depth+1)
			}
			v.Set(s)
		}
	case reflect.Map:
		switch n := f.r.IntN(6); {
		case n == 0:
			v.SetZero()
		case n == 1:
			v.Set(reflect.MakeMap(v.Type()))
		default:
			m := reflect.MakeMap(v.Type())
			for range n * 2 {
				k := reflect.New(v.Type().Key()).Elem()
				f.fill(k, depth+1)
				e := reflect.New(v.Type().Elem()).Elem()
				f.fill(e, depth+1)
				m.SetMapIndex(k, e)
			}
			v.Set(m)
		}
	default:
		panic("filler: no case for " + v.Type().String())
	}
}

func stdJSON(t *testing.T, v any, escapeHTML bool) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if escapeHTML { // json.Marshal's bytes, which the store writes
		m, err := json.Marshal(v)
		if err != nil || !bytes.Equal(m, out) {
			t.Fatalf("json.Marshal and an Encoder differ: %s\n%s", m, out)
		}
	}
	return out, nil
}

func compareJSON(t *testing.T, what string, v any, got []byte, gotErr error, escapeHTML bool) {
	t.Helper()
	want, wantErr := stdJSON(t, v, escapeHTML)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s (html %v): error %v, encoding/json's %v", what, escapeHTML, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%s (html %v) differs from encoding/json:\n got %s\nwant %s", what, escapeHTML, got, want)
	}
}

// TestAppendJSONMatchesEncodingJSON: the hand encoders write encoding/json's
// bytes exactly, with and without HTML escaping, for random envelopes,
// records and decisions (every field filled by reflection, nil and empty
// slices and maps, odd strings, floats and times).
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	f := &filler{r: rand.New(rand.NewPCG(1, 2))}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	prefix := []byte("prefix:")
	for i := range n {
		var e Envelope
		f.fill(reflect.ValueOf(&e).Elem(), 0)
		if i%2 == 0 {
			e.Quarantine = nil // the hand-written path; the other half checks the fallback
		}
		var r Record
		f.fill(reflect.ValueOf(&r).Elem(), 0)
		if i%2 == 0 {
			r.Quarantine, r.Review = nil, nil
		}
		for _, html := range []bool{true, false} {
			got, err := AppendEnvelopeJSON(nil, &e, html)
			compareJSON(t, "envelope", &e, got, err, html)
			got, err = AppendRecordJSON(nil, &r, html)
			compareJSON(t, "record", &r, got, err, html)
			got, err = AppendDecisionJSON(nil, e.Decision, html)
			compareJSON(t, "decision", e.Decision, got, err, html)
			// Appended after what b holds, which stays.
			got, err = AppendEnvelopeJSON(append([]byte(nil), prefix...), &e, html)
			if err == nil && !bytes.HasPrefix(got, prefix) {
				t.Fatalf("prefix lost: %s", got)
			}
		}
	}
}

// TestAppendJSONEveryField: a value with every field set (no field left
// to chance) encodes as encoding/json encodes it.
func TestAppendJSONEveryField(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	it := &Item{SchemaVersion: "1", ID: "ms1aaaaaaaaaaaaaaaaaaaaaaaaaa", TraceID: "t", Channel: ChannelNewspaper, Source: "qd",
		Via: ViaDesk, Ref: "QD-1", ReceivedAt: now, SubmittedAt: now.UTC(), Title: "标题 <b>", Body: "正文 & more",
		Complainant: Complainant{Name: "李四", Phone: "138", Email: "a@b.c", Anonymous: true, ConsentToPublish: true},
		Location:    &Location{District: "市南区", Address: "东门"},
		Attachments: []Attachment{{Name: "a.jpg", Type: "image/jpeg", Size: 12, SHA256: strings.Repeat("a", 64), Ref: "sha256:x"}},
		RawRef:      "sha256:y", Automated: "auto", RevisionOf: "ms1b", Attrs: map[string]string{"z": "1", "a": "2", "m": "<"}}
	d := &Decision{Class: ClassGovService, Confidence: 0.87, Flags: Flags{DisciplineLead: true, WeakLead: true, Urgent: true, DepartmentUncertain: true},
		Department: "城乡建设", Review: true, Reasons: []Reason{{Kind: "feature", Code: "x", Detail: "d", Weight: -0.25, Lead: true}, {Kind: "rule", Code: "y"}},
		ModelVersion: "m1", Case: &CaseLink{ID: "c", Nearest: "n", Similarity: 0.5, Items: 3, Since: now}}
	e := &Envelope{SchemaVersion: "1", Destination: "gov_service", Kind: KindDeadLetter, ItemID: it.ID, TraceID: "t", RoutedAt: now,
		Item: it, Decision: d, Reason: "r", Reached: []string{"a"}, Undelivered: []Undelivered{{Destination: "b", Reason: "c", Refused: true}}}
	r := &Record{ID: it.ID, Item: it, Decision: d, Destinations: []string{"a", "b"}, Undelivered: e.Undelivered,
		Trail: []Event{{Step: StepReceived, At: now, Detail: "x", Destinations: []string{"q"}}, {Step: StepAcked, At: now}}}
	for _, html := range []bool{true, false} {
		got, err := AppendEnvelopeJSON(nil, e, html)
		compareJSON(t, "envelope", e, got, err, html)
		got, err = AppendRecordJSON(nil, r, html)
		compareJSON(t, "record", r, got, err, html)
	}
}

// FuzzAppendJSONStrings: any text in the fields a desk sends encodes as
// encoding/json encodes it.
func FuzzAppendJSONStrings(f *testing.F) {
	for _, s := range fillStrings {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, title, body string) {
		it := &Item{Title: title, Body: body, Attrs: map[string]string{title: body, body: title}}
		r := &Record{ID: "x", Item: it}
		for _, html := range []bool{true, false} {
			got, err := AppendRecordJSON(nil, r, html)
			compareJSON(t, "record", r, got, err, html)
		}
	})
}

func benchEnvelope() *Envelope {
	now := time.Date(2026, 12, 3, 14, 0, 0, 123456789, time.UTC)
	it := &Item{SchemaVersion: "1", ID: "ms1aaaaaaaaaaaaaaaaaaaaaaaaaa", TraceID: "0123456789abcdef0123456789abcdef", Channel: ChannelNewspaper,
		Source: "loadgen", Via: ViaDesk, Ref: "QD-2026-0001", ReceivedAt: now, SubmittedAt: now,
		Title: "小区门口道路塌陷多日无人修复", Body: strings.Repeat("东门外人行道塌陷成坑，已有老人摔伤，物业和社区互相推诿，请尽快修复。", 6),
		Complainant: Complainant{Name: "李四", Phone: "13800000000"}}
	d := &Decision{Class: ClassGovService, Confidence: 0.8123, Department: "城乡建设", ModelVersion: "ngram-lr-20261202b",
		Reasons: []Reason{{Kind: "feature", Code: "塌陷", Detail: "weighs for gov_service", Weight: 1.25},
			{Kind: "feature", Code: "修复", Detail: "weighs for gov_service", Weight: 0.75},
			{Kind: "feature", Code: "物业", Detail: "weighs for gov_service", Weight: 0.5}}}
	return &Envelope{SchemaVersion: "1", Destination: "gov_service", Kind: KindItem, ItemID: it.ID, TraceID: it.TraceID, RoutedAt: now, Item: it, Decision: d}
}

func BenchmarkEnvelopeJSON(b *testing.B) {
	e := benchEnvelope()
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := AppendEnvelopeJSON(nil, e, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("append-reused-buffer", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = AppendEnvelopeJSON(buf[:0], e, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
