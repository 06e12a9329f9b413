package desk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/jsonkeys"
)

const goodJSON = `{"ref":"QD-2026-0001","title":"小区噪音扰民","body":"楼下商铺夜间施工，噪音很大，多次反映无果。",
"submitted_at":"2026-11-20T21:15:00+08:00","complainant":{"name":"张三","phone":"13800000000","anonymous":false,"consent_to_publish":false}}`

func TestDecodeSubmission(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		field string // "" when valid
		msg   string // part of the message
	}{
		{"valid", goodJSON, "", ""},
		{"malformed", `{"ref": "x",`, "(body)", "ends in the middle"},
		{"syntax", `{"ref" "x"}`, "(body)", "not valid JSON at offset"},
		{"empty", ``, "(body)", "empty"},
		{"not an object", `[1,2]`, "(body)", "must be an object"},
		{"wrong type", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, `"ref":12`, 1), "ref", "must be a string"},
		{"wrong nested type", strings.Replace(goodJSON, `"anonymous":false`, `"anonymous":"no"`, 1), "complainant.anonymous", "true or false"},
		{"bad time", strings.Replace(goodJSON, `2026-11-20T21:15:00+08:00`, `2026/11/20 21:15`, 1), "submitted_at", "RFC 3339"},
		// In UTC, as the item holds it, these fall in year -1 and 10000,
		// which encoding/json cannot write: taken, the item could be
		// neither queued nor recorded, and the desk was told 503.
		{"time before year 0 in UTC", strings.Replace(goodJSON, `2026-11-20T21:15:00+08:00`, `0000-01-01T00:00:00+01:00`, 1), "submitted_at", "between the years 0000 and 9999"},
		{"time after year 9999 in UTC", strings.Replace(goodJSON, `2026-11-20T21:15:00+08:00`, `9999-12-31T23:59:59-01:00`, 1), "submitted_at", "between the years 0000 and 9999"},
		{"year 0 in UTC", strings.Replace(goodJSON, `2026-11-20T21:15:00+08:00`, `0000-01-01T00:00:00Z`, 1), "", ""},
		{"unknown field", strings.Replace(goodJSON, `"ref"`, `"channel":"hotline","ref"`, 1), "channel", "not a field"},
		{"missing ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001",`, ``, 1), "ref", "is required"},
		{"missing complainant", `{"ref":"a","title":"t","submitted_at":"2026-11-20T21:15:00Z"}`, "complainant", "is required"},
		{"missing submitted_at", `{"ref":"a","title":"t","complainant":{}}`, "submitted_at", "is required"},
		{"no title no body", `{"ref":"a","submitted_at":"2026-11-20T21:15:00Z","complainant":{}}`, "body", "is required when title is empty"},
		{"missing anonymous", strings.Replace(goodJSON, `"anonymous":false,`, ``, 1), "complainant.anonymous", "is required"},
		{"null anonymous", strings.Replace(goodJSON, `"anonymous":false`, `"anonymous":null`, 1), "complainant.anonymous", "is required"},
		{"missing consent_to_publish", strings.Replace(goodJSON, `,"consent_to_publish":false`, ``, 1), "complainant.consent_to_publish", "is required"},
		{"null consent_to_publish", strings.Replace(goodJSON, `"consent_to_publish":false`, `"consent_to_publish":null`, 1), "complainant.consent_to_publish", "is required"},
		{"empty complainant", strings.Replace(goodJSON, `{"name":"张三","phone":"13800000000","anonymous":false,"consent_to_publish":false}`, `{}`, 1), "complainant.anonymous", "is required"},
		{"bad email", strings.Replace(goodJSON, `"phone"`, `"email":"nobody","phone"`, 1), "complainant.email", "e-mail"},
		{"trailing data", goodJSON + `{}`, "(body)", "data after"},
		// Saved by Notepad or PowerShell: named as such, not as "invalid
		// character 'ï'", a character the body does not hold.
		{"byte order mark", "\xef\xbb\xbf" + goodJSON, "(body)", "starts with a UTF-8 byte order mark"},
		{"invalid utf-8", strings.Replace(goodJSON, "噪音", "\xb8\xdf", 1), "(body)", "not valid UTF-8"},
		{"half a surrogate pair", strings.Replace(goodJSON, "噪音", `\ud800`, 1), "(body)", "half a UTF-16 surrogate pair"},
		{"NUL in ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, `"ref":"QD\u0000-1"`, 1), "ref", "control character (U+0000 at byte 2)"},
		{"newline in ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, `"ref":"QD-1\n"`, 1), "ref", "control character"},
		{"right-to-left override in ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, `"ref":"QD-1\u202e01"`, 1), "ref", "bidirectional control (U+202E at byte 4)"},
		{"paragraph separator in ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, "\"ref\":\"QD-1\u2029\"", 1), "ref", "line or paragraph separator"},
		{"zero-width space in ref", strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, `"ref":"QD-\u200b1"`, 1), "ref", "invisible character"},
		{"NUL in title", strings.Replace(goodJSON, `小区噪音扰民`, `小区\u0000噪音`, 1), "title", "control character (U+0000 at byte 6)"},
		{"bell in body", strings.Replace(goodJSON, `噪音很大`, `噪音\u0007很大`, 1), "body", "control character (U+0007"},
		{"form feed and vertical tab in body: page and line breaks", strings.Replace(goodJSON, `噪音很大`, `噪音\f很\u000b大`, 1), "", ""},
		{"tab, line break and bidirectional isolate in title", strings.Replace(goodJSON, `小区噪音扰民`, `小区\t噪音\r\n\u2067扰民\u2069`, 1), "", ""},
		{"escape in an attrs key", strings.Replace(goodJSON, `"ref"`, `"attrs":{"k\u001b":"v"},"ref"`, 1), "attrs", `key "k\x1b"`},
		{"body twice", strings.Replace(goodJSON, `"ref"`, `"body":"前一封信","ref"`, 1), "body", "is given twice"},
		{"body twice in two cases", strings.Replace(goodJSON, `"ref"`, `"BODY":"前一封信","ref"`, 1), "body", "is given twice"},
		{"name twice", strings.Replace(goodJSON, `"phone"`, `"Name":"李四","phone"`, 1), "complainant.Name", "is given twice"},
		{"anonymous twice, once with a long s", strings.Replace(goodJSON, `"anonymous":false`, `"anonymous":true,"anonymouſ":false`, 1), "complainant.anonymouſ", "is given twice"},
		{"attrs keys in two cases", strings.Replace(goodJSON, `"ref"`, `"attrs":{"k":"1","K":"2"},"ref"`, 1), "", ""},
		{"attrs key twice", strings.Replace(goodJSON, `"ref"`, `"attrs":{"k":"1","k":"2"},"ref"`, 1), "attrs.k", "is given twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeSubmission([]byte(tc.raw))
			if tc.field == "" {
				if err != nil || s.Ref != "QD-2026-0001" || s.Complainant.Name != "张三" {
					t.Fatalf("%+v %v", s, err)
				}
				return
			}
			var fes minsheng.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("want field errors, got %v", err)
			}
			for _, fe := range fes {
				if fe.Path == tc.field && strings.Contains(fe.Msg, tc.msg) {
					return
				}
			}
			t.Fatalf("want %s: ...%s..., got %v", tc.field, tc.msg, fes)
		})
	}
}

// TestRepeatNamedOnce: a field given twice is named once, for the repeat,
// whatever its values; an unknown name given twice stays unknown.
func TestRepeatNamedOnce(t *testing.T) {
	for _, c := range []struct{ raw, path, msg string }{
		{strings.Replace(goodJSON, `"ref"`, `"body":"x","body":1,"ref"`, 1), "body", "is given twice"},
		{strings.Replace(goodJSON, `"ref"`, `"Body":1,"body":"x","ref"`, 1), "body", "is given twice"},
		{strings.Replace(goodJSON, `"ref"`, `"zz":1,"zz":2,"ref"`, 1), "zz", "is not a field"},
		{strings.Replace(goodJSON, `"phone"`, `"name":1,"phone"`, 1), "complainant.name", "is given twice"},
		// What lies inside the repeated field is not judged too.
		{strings.Replace(goodJSON, `"ref"`, `"Complainant":{"name":5,"anonymous":true,"consent_to_publish":true},"ref"`, 1), "complainant", "is given twice"},
		// A field refused as a whole stays refused as it was.
		{strings.Replace(goodJSON, `"ref"`, `"zz":{"a":1,"a":2},"ref"`, 1), "zz", "is not a field"},
		{strings.Replace(goodJSON, `"ref"`, `"attrs":[{"a":"1","a":"2"}],"ref"`, 1), "attrs", "must be an object"},
		// A field given three times is named once.
		{strings.Replace(goodJSON, `"ref"`, `"body":"一","BODY":"二","ref"`, 1), "body", "is given twice"},
	} {
		_, err := DecodeSubmission([]byte(c.raw))
		var fes minsheng.FieldErrors
		if !errors.As(err, &fes) || len(fes) != 1 || !jsonkeys.Same(fes[0].Path, c.path) || !strings.Contains(fes[0].Msg, c.msg) {
			t.Errorf("%s: %v; want only %s %s", c.raw, err, c.path, c.msg)
		}
	}
}

// TestEveryRepeatNamed: each field given twice is named, in one answer.
func TestEveryRepeatNamed(t *testing.T) {
	raw := strings.Replace(goodJSON, `"ref"`, `"Title":"一","Ref":"QD-1","ref"`, 1)
	raw = strings.Replace(raw, `"phone"`, `"Phone":"1","phone"`, 1)
	_, err := DecodeSubmission([]byte(raw))
	var fes minsheng.FieldErrors
	errors.As(err, &fes)
	var got []string
	for _, fe := range fes {
		got = append(got, jsonkeys.FoldName(fe.Path)+": "+fe.Msg)
	}
	slices.Sort(got)
	want := []string{"COMPLAINANT.PHONE: " + givenTwice, "REF: " + givenTwice, "TITLE: " + givenTwice}
	if !slices.Equal(got, want) {
		t.Errorf("errors %q, want %q", got, want)
	}
}

// TestRepeatsCapped: a field given many times, or repeats inside an
// unknown name, do not crowd a later repeat out of the answer; the answer
// holds at most maxRefused fields and then says there are more.
func TestRepeatsCapped(t *testing.T) {
	many := strings.Repeat(`"title":"x",`, 17)
	inner := `"zz":{` + strings.TrimSuffix(strings.Repeat(`"a":1,`, 17), ",") + `},`
	for _, c := range []struct{ raw, want string }{
		{strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, many+`"Ref":"b","ref":"QD-2026-0001"`, 1), "ref"},
		{strings.Replace(goodJSON, `"ref":"QD-2026-0001"`, inner+`"Ref":"b","ref":"QD-2026-0001"`, 1), "ref"},
	} {
		_, err := DecodeSubmission([]byte(c.raw))
		var fes minsheng.FieldErrors
		errors.As(err, &fes)
		if !slices.ContainsFunc(fes, func(fe minsheng.FieldError) bool { return jsonkeys.Same(fe.Path, c.want) && fe.Msg == givenTwice }) {
			t.Errorf("%.60s…: %v; want %s named", c.raw, err, c.want)
		}
	}
	var unknown strings.Builder
	for i := range 15 {
		fmt.Fprintf(&unknown, `"u%d":1,`, i)
	}
	raw := strings.Replace(goodJSON, `"ref"`, unknown.String()+`"Title":"a","Body":"b","Ref":"c","Submitted_at":"2026-11-20T21:15:00Z","ref"`, 1)
	_, err := DecodeSubmission([]byte(raw))
	var fes minsheng.FieldErrors
	errors.As(err, &fes)
	if len(fes) != maxRefused+1 || fes[maxRefused].Path != "(body)" || !strings.Contains(fes[maxRefused].Msg, "more refused fields") {
		t.Errorf("%d errors, the last %+v; want %d and a last saying there are more", len(fes), fes[len(fes)-1], maxRefused+1)
	}
}

// FuzzDecodeSubmission: no input panics; whatever is accepted is a
// complete, valid submission with valid UTF-8 text.
func FuzzDecodeSubmission(f *testing.F) {
	f.Add([]byte(goodJSON))
	f.Add([]byte(`{"ref":"r","title":"標題（繁體）","body":"😀 ｆｕｌｌ ｗｉｄｔｈ","submitted_at":"2026-01-01T00:00:00Z","complainant":{"anonymous":true,"consent_to_publish":false},"location":{"district":"市南区"},"attrs":{"k":"v"}}`))
	f.Add([]byte(`{"ref":"r","body":"x","submitted_at":"2026-01-01T00:00:00Z","complainant":null}`))
	f.Add([]byte("{\"ref\":\"\xff\"}"))
	f.Add([]byte(`{"ref":"r","title":"\u0000\ud800","submitted_at":"0001-01-01T00:00:00Z","complainant":{}}`))
	f.Add([]byte(`{"ref":"r","body":"x","submitted_at":"0000-01-01T00:00:00+01:00","complainant":{"anonymous":true,"consent_to_publish":false}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		s, err := DecodeSubmission(raw)
		if err != nil {
			var fes minsheng.FieldErrors
			if !errors.As(err, &fes) || len(fes) == 0 {
				t.Fatalf("error without field errors: %v", err)
			}
			return
		}
		if _, twice := jsonkeys.Repeated(raw, mapsExact); twice {
			t.Fatalf("accepted a field given twice: %s", raw)
		}
		if s.Ref == "" || s.Complainant == nil || s.Complainant.Anonymous == nil || s.Complainant.ConsentToPublish == nil || s.SubmittedAt.IsZero() || (s.Title == "" && s.Body == "") {
			t.Fatalf("accepted an incomplete submission: %+v", s)
		}
		if !utf8.ValidString(s.Title) || !utf8.ValidString(s.Body) {
			t.Fatal("accepted invalid UTF-8")
		}
		if _, err := s.SubmittedAt.UTC().MarshalJSON(); err != nil {
			t.Fatalf("accepted a time the item cannot hold: %v", err)
		}
	})
}

// TestExampleFilesDecode keeps the README's examples valid.
func TestExampleFilesDecode(t *testing.T) {
	raw, err := os.ReadFile("testdata/letter.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeSubmission(raw); err != nil {
		t.Fatalf("testdata/letter.json: %v", err)
	}
	raw, _ = os.ReadFile("testdata/batch.json")
	var batch struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil || len(batch.Items) != 2 {
		t.Fatalf("testdata/batch.json: %v", err)
	}
	for i, it := range batch.Items {
		if _, err := DecodeSubmission(it); err != nil {
			t.Fatalf("batch item %d: %v", i, err)
		}
	}
}

// TestDecodeSubmissionListsEveryProblem: one answer names every bad field,
// those the decoder refuses (a wrong type, an unknown name, a bad time)
// and those missing or over a limit, each once; a field refused is not
// named again as missing.
func TestDecodeSubmissionListsEveryProblem(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []string // "path: part of the message", in order: the refused fields by name, then the missing and over-long
	}{
		{"a desk's first try", `{"ref":5,"titel":"噪音","body":"楼下夜间施工","submitted_at":"yesterday","complainant":{"name":"a"}}`, []string{
			"ref: must be a string", "submitted_at: RFC 3339", "titel: not a field",
			"complainant.anonymous: is required", "complainant.consent_to_publish: is required"}},
		{"two unknown fields", strings.Replace(goodJSON, `"ref"`, `"channel":"hotline","Desk":"x","ref"`, 1), []string{
			"Desk: not a field", "channel: not a field"}},
		{"a type inside an object and a limit", strings.Replace(strings.Replace(goodJSON, `"anonymous":false`, `"anonymous":"no"`, 1), `"QD-2026-0001"`, `"`+strings.Repeat("r", 300)+`"`, 1), []string{
			"complainant.anonymous: true or false", "ref: longer than 256"}},
		{"an unknown name inside an object", strings.Replace(goodJSON, `"name":"张三"`, `"nme":"张三"`, 1), []string{"complainant.nme: not a field"}},
		// A name inside an object that is also a top-level name blames
		// only the inner one: body was sent.
		{"an inner name like an outer one", strings.Replace(goodJSON, `"ref"`, `"location":{"Body":1},"ref"`, 1), []string{"location.Body: not a field"}},
		{"a bad time under a name in other case", strings.Replace(goodJSON, `"submitted_at":"2026-11-20T21:15:00+08:00"`, `"Submitted_At":"yesterday"`, 1), []string{
			"Submitted_At: RFC 3339"}},
		{"two bad fields in one object", strings.Replace(goodJSON, `"anonymous":false,"consent_to_publish":false`, `"anonymous":"no","consent_to_publish":"no"`, 1), []string{
			"complainant.anonymous: true or false"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSubmission([]byte(tc.raw))
			var fes minsheng.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("want field errors, got %v", err)
			}
			var got []string
			for _, fe := range fes {
				got = append(got, fe.Path+": "+fe.Msg)
			}
			ok := len(got) == len(tc.want)
			for i := 0; ok && i < len(got); i++ {
				ok = strings.HasPrefix(got[i], tc.want[i][:strings.Index(tc.want[i], ":")+1]) && strings.Contains(got[i], tc.want[i][strings.Index(tc.want[i], ":")+2:])
			}
			if !ok {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestDecodeSubmissionManyBadFields: a body of tens of thousands of
// unknown keys (1 MiB, the default max_body_bytes) is decoded in one more
// pass, not one per key; maxRefused fields are listed, then one error says
// there are more. The time is logged, not asserted (a shared machine).
func TestDecodeSubmissionManyBadFields(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"ref":"r","body":"b","submitted_at":"2026-11-20T21:15:00Z","complainant":{"anonymous":true,"consent_to_publish":false}`)
	for i := 0; b.Len() < 1<<20-32; i++ {
		fmt.Fprintf(&b, `,"x%d":%d`, i, i)
	}
	b.WriteString("}")
	start := time.Now()
	_, err := DecodeSubmission([]byte(b.String()))
	t.Logf("%d bytes: %s", b.Len(), time.Since(start))
	var fes minsheng.FieldErrors
	if !errors.As(err, &fes) || len(fes) != maxRefused+1 || !strings.Contains(fes[maxRefused].Msg, "more fields") {
		t.Fatalf("%d errors: %v", len(fes), err)
	}
}

// BenchmarkDecodeSubmission: one letter-sized submission, decoded and
// checked (the scan for a field given twice included).
func BenchmarkDecodeSubmission(b *testing.B) {
	raw := []byte(strings.Replace(goodJSON, "楼下商铺夜间施工，噪音很大，多次反映无果。", strings.Repeat("楼下商铺夜间施工，噪音很大，多次反映无果。", 30), 1))
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := DecodeSubmission(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEachItem: a batch body is decoded once, item by item; a problem of
// the body as a whole is named alone, and no item beyond max is handed on.
func TestEachItem(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		n         int    // items counted
		handed    int    // items handed to f
		err       string // "path: part of the message", or ""
	}{
		{"two items", `{"items":[{"a":1},{"b":2}]}`, 2, 2, ""},
		{"in another case", `{"Items":[{}]}`, 1, 1, ""},
		{"null", `{"items":null}`, 0, 0, ""},
		{"no list", `{}`, 0, 0, ""},
		{"beyond max", `{"items":[1,2,3,4]}`, 4, 3, ""},
		{"not UTF-8", "{\"items\":[\"\xff\"]}", 0, 0, "(body): not valid UTF-8"},
		{"half a surrogate pair", `{"items":["\udc00"]}`, 0, 0, "(body): a \\u escape at byte 11 is half a UTF-16 surrogate pair"},
		{"malformed", `{"items":[{"a":1},}`, 0, 1, "(body): not valid JSON at offset"},
		{"cut short", `{"items":[{"a":1}`, 0, 1, "(body): ends in the middle"},
		{"empty", ``, 0, 0, "(body): is empty"},
		{"a list", `[1]`, 0, 0, "(body): must be an object"},
		{"another name", `{"letters":[]}`, 0, 0, "letters: " + notAField},
		{"twice", `{"items":[1],"ITEMS":[2]}`, 0, 1, "ITEMS: " + listTwice},
		{"not a list", `{"items":{"a":1}}`, 0, 0, "items: must be a list, not object"},
		{"a string", `{"items":"x"}`, 0, 0, "items: must be a list, not string"},
		{"data after", `{"items":[1]} {}`, 0, 1, "(body): has data after"},
		{"byte order mark", "\xef\xbb\xbf{\"items\":[1]}", 0, 0, "(body): starts with a UTF-8 byte order mark"},
	} {
		t.Run(c.name, func(t *testing.T) {
			handed := 0
			n, fes := eachItem([]byte(c.raw), 3, func(i int, r json.RawMessage) {
				if i != handed {
					t.Errorf("item %d handed as %d", handed, i)
				}
				handed++
			})
			if handed != c.handed {
				t.Errorf("%d items handed, want %d", handed, c.handed)
			}
			if c.err == "" {
				if len(fes) > 0 || n != c.n {
					t.Errorf("%d items, %v; want %d and no error", n, fes, c.n)
				}
				return
			}
			path, msg, _ := strings.Cut(c.err, ": ")
			if len(fes) != 1 || fes[0].Path != path || !strings.Contains(fes[0].Msg, msg) {
				t.Errorf("%v; want only %s", fes, c.err)
			}
		})
	}
}
