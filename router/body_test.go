package router

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// TestReadObject: a body is read strictly as one JSON object; a body that
// is not one is named alone, with the offset of malformed JSON; otherwise
// every field of a wrong type or an unknown name is named at once; a body
// not declared JSON is 415, one over the limit 413.
func TestReadObject(t *testing.T) {
	for _, c := range []struct {
		name, ctype, body string
		enc               string   // Content-Encoding
		status            int      // 0: read, fields named by want
		want              []string // bad fields, in order
		msg               string   // in the body-level message
	}{
		{name: "good", ctype: "application/json", body: `{"class":"petition","n":3}`},
		{name: "charset", ctype: "application/json; charset=utf-8", body: `{"class":"petition"}`},
		{name: "empty object", ctype: "application/json", body: ` {} `},
		{name: "text/plain", ctype: "text/plain", body: `{"class":"petition"}`, status: 415},
		{name: "no content type", body: `{"class":"petition"}`, status: 415},
		{name: "malformed", ctype: "application/json", body: `{"class":"petition",}`, status: 400, msg: "offset 20"},
		{name: "cut short", ctype: "application/json", body: `{"class":"peti`, status: 400, msg: "cut short"},
		{name: "empty", ctype: "application/json", body: ``, status: 400, msg: "cut short or empty"},
		{name: "array", ctype: "application/json", body: `[{"class":"petition"}]`, status: 400, msg: "not one JSON object"},
		{name: "two objects", ctype: "application/json", body: `{"class":"petition"}{"n":1}`, status: 400, msg: "more than one"},
		{name: "not UTF-8", ctype: "application/json", body: "{\"class\":\"\xb7\xa8\"}", status: 400, msg: "offset 10"},
		{name: "over the limit", ctype: "application/json", body: `{"class":"` + strings.Repeat("信", 100) + `"}`, status: 413, msg: "over 256 bytes"},
		{name: "every bad field", ctype: "application/json", body: `{"class":1,"foo":true,"n":"3","bar":null}`, want: []string{"class", "foo", "n", "bar"}},
		{name: "twice", ctype: "application/json", body: `{"class":"petition","class":"discipline"}`, want: []string{"class"}},
		{name: "any case", ctype: "application/json", body: `{"CLASS":"petition","N":3}`},
		{name: "twice in two cases", ctype: "application/json", body: `{"class":"petition","Class":"discipline"}`, want: []string{"Class"}},
		{name: "byte order mark", ctype: "application/json", body: "\ufeff{\"class\":\"petition\"}", status: 400, msg: "byte order mark (bytes EF BB BF)"},
		{name: "gzip", ctype: "application/json", enc: "gzip", body: "\x1f\x8b\x08\x00", status: 415, msg: `Content-Encoding "gzip"`},
		{name: "identity", ctype: "application/json", enc: "identity", body: `{"class":"petition","n":3}`},
		{name: "charset in capitals", ctype: "application/json; charset=UTF-8", body: `{"class":"petition"}`},
		{name: "us-ascii", ctype: "application/json; charset=US-ASCII", body: `{"class":"petition"}`},
		{name: "utf-16", ctype: "application/json; charset=utf-16", body: `{"class":"petition"}`, status: 415, msg: `charset "utf-16"`},
		{name: "gbk", ctype: "application/json; charset=GBK", body: `{"class":"petition"}`, status: 415, msg: `charset "GBK"`},
		{name: "unreadable parameters", ctype: "application/json; charset=gbk; x", body: `{"class":"petition"}`, status: 415, msg: "charset cannot be told"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var class string
			var n int
			req := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.enc != "" {
				req.Header.Set("Content-Encoding", c.enc)
			}
			w := httptest.NewRecorder()
			errs, ok := readObject(w, req, 256, map[string]any{"class": &class, "n": &n}, `{"class": "…"}`)
			if c.status != 0 {
				var p problem
				json.Unmarshal(w.Body.Bytes(), &p)
				if ok || w.Code != c.status || !strings.Contains(p.Message, c.msg) {
					t.Fatalf("ok %v, %d %s; want %d with %q", ok, w.Code, w.Body, c.status, c.msg)
				}
				return
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Path)
			}
			if !ok || w.Body.Len() != 0 || !slices.Equal(got, c.want) {
				t.Fatalf("ok %v, answered %q, bad fields %v; want %v", ok, w.Body, got, c.want)
			}
			if (c.name == "good" || c.name == "any case" || c.name == "identity") && (class != "petition" || n != 3) {
				t.Errorf("decoded class %q n %d", class, n)
			}
		})
	}
}

// TestReviewNamesEveryBadField: a review decision with several mistakes is
// answered with all of them, the value checks included, in the desk API's
// error shape; a body not declared JSON is 415 and decides nothing.
func TestReviewNamesEveryBadField(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seed(t, "R-1", false)
	code, body := f.decide(t, "reviewers", it.ID, `{"class":"services","foo":1,"department":"火星"}`)
	var p problem
	if err := json.Unmarshal([]byte(body), &p); err != nil || code != 400 || p.Error != "bad_request" {
		t.Fatalf("%d %s", code, body)
	}
	var got []string
	for _, e := range p.Fields {
		got = append(got, e.Path)
	}
	if want := []string{"foo", "class", "department"}; !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v: %s", got, want, body)
	}
	req := httptest.NewRequest("POST", "/v1/reviews/"+it.ID, strings.NewReader(`{"class":"petition"}`))
	req.Header.Set("X-Desk", "reviewers")
	req.Header.Set("Content-Type", "text/plain")
	w := httptest.NewRecorder()
	f.mux.ServeHTTP(w, req)
	if w.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d %s", w.Code, w.Body)
	}
	rec, err := f.led.Lookup(t.Context(), it.ID)
	if err != nil || rec.Review != nil {
		t.Errorf("a refused request decided the item: %+v %v", rec.Review, err)
	}
}

// FuzzDecodeObject: no body panics the decoder, and a body it accepts
// whole names only fields it was given or that it refused.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"class":"petition"}`, `{"ids":["a","b"]}`, `{"class":1,"x":{}}`, `[`, "{\"a\":\"\xff\"}", `{"class":"a"}{}`, `{"class":"a","class":"b"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var class string
		var ids []string
		var lead *bool
		errs := decodeObject(raw, 1<<16, map[string]any{"class": &class, "ids": &ids, "discipline_lead": &lead})
		for _, e := range errs {
			if e.Path == bodyPath && len(errs) != 1 {
				t.Fatalf("a body-level problem with others: %v", errs)
			}
			if e.Msg == "" {
				t.Fatalf("a problem without a message: %v", errs)
			}
		}
		if len(errs) == 0 && !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
	})
}

// TestBodyOverLimit413: an ack or release body over 1 MiB and a review
// body over 64 KiB are answered 413 naming the limit, as the README says,
// and act on nothing; a body just within the limit is read.
func TestBodyOverLimit413(t *testing.T) {
	s := openStore(t)
	f := newReviewFixture(t, withDepartments(DefaultConfig()), s, s)
	it := f.seed(t, "R-1", false)
	queues := queueAPI(t, "m1")
	// pad makes a JSON object of exactly n bytes.
	pad := func(prefix string, n int) string {
		return prefix + `,"x":"` + strings.Repeat("a", n-len(prefix)-len(`,"x":""}`)) + `"}`
	}
	for _, c := range []struct {
		name, target string
		mux          http.Handler
		limit        int
	}{
		{"ack", "/v1/queues/petition/ack", queues, 1 << 20},
		{"release", "/v1/queues/petition/release", queues, 1 << 20},
		{"review", "/v1/reviews/" + it.ID, f.mux, 64 << 10},
	} {
		for _, n := range []int{c.limit, c.limit + 1} {
			prefix := `{"ids":["m1"]`
			if c.name == "review" {
				prefix = `{"class":"petition"`
			}
			req := httptest.NewRequest("POST", c.target, strings.NewReader(pad(prefix, n)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Desk", map[bool]string{true: "reviewers", false: "desk-a"}[c.name == "review"])
			w := httptest.NewRecorder()
			c.mux.ServeHTTP(w, req)
			var p problem
			json.Unmarshal(w.Body.Bytes(), &p)
			if n > c.limit {
				if w.Code != http.StatusRequestEntityTooLarge || p.Error != "too_large" || !strings.Contains(p.Message, fmt.Sprintf("over %d bytes", c.limit)) {
					t.Errorf("%s of %d bytes: %d %.200s; want 413 naming %d bytes", c.name, n, w.Code, w.Body, c.limit)
				}
				continue
			}
			// Within the limit the body is read: refused for the unknown
			// field x (400), not for its size.
			if w.Code != http.StatusBadRequest || !slices.ContainsFunc(p.Fields, func(fe minsheng.FieldError) bool { return fe.Path == "x" }) {
				t.Errorf("%s of %d bytes: %d %.200s; want 400 naming x", c.name, n, w.Code, w.Body)
			}
		}
	}
	if rec, err := f.led.Lookup(t.Context(), it.ID); err != nil || rec.Review != nil {
		t.Errorf("a refused request decided the item: %+v %v", rec.Review, err)
	}
}
