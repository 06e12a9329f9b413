package desk

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// TestPlainlyValidAgreesWithValidator: a submission the fast check passes
// the validator passes too. Each field is set to values about its limit,
// one at a time and several at once, on a submission valid otherwise.
func TestPlainlyValidAgreesWithValidator(t *testing.T) {
	yes, no := true, false
	base := func() *Submission {
		return &Submission{Ref: "QD-1", Title: "标题", Body: "正文", SubmittedAt: time.Date(2026, 11, 22, 9, 30, 0, 0, time.FixedZone("", 8*3600)),
			Complainant: &Complainant{Name: "李四", Phone: "138", Anonymous: &no, ConsentToPublish: &yes},
			Location:    &minsheng.Location{District: "市南区"}, Attrs: map[string]string{"k": "v"}}
	}
	around := func(limit int) []string {
		var out []string
		for _, n := range []int{0, 1, limit/3 - 1, limit / 3, limit/3 + 1, limit - 1, limit, limit + 1} {
			if n >= 0 {
				out = append(out, strings.Repeat("a", n), strings.Repeat("长", n))
			}
		}
		return append(out, "a@example.com", "not an address", "x\x00y")
	}
	loc := func(s *Submission) *minsheng.Location {
		if s.Location == nil {
			s.Location = &minsheng.Location{}
		}
		return s.Location
	}
	comp := func(s *Submission) *Complainant {
		if s.Complainant == nil {
			s.Complainant = &Complainant{}
		}
		return s.Complainant
	}
	attrs := func(s *Submission) map[string]string {
		if s.Attrs == nil {
			s.Attrs = map[string]string{}
		}
		return s.Attrs
	}
	type edit struct {
		f     func(*Submission, string)
		limit int
	}
	edits := map[string]edit{
		"ref":   {func(s *Submission, v string) { s.Ref = v }, 256},
		"title": {func(s *Submission, v string) { s.Title = v }, 500},
		"body":  {func(s *Submission, v string) { s.Body = v }, 100000},
		"name":  {func(s *Submission, v string) { comp(s).Name = v }, 100},
		"phone": {func(s *Submission, v string) { comp(s).Phone = v }, 40},
		"email": {func(s *Submission, v string) { comp(s).Email = v }, 254},
		"anonymous": {func(s *Submission, v string) {
			comp(s).Anonymous = map[bool]*bool{true: &yes, false: nil}[len(v)%2 == 0]
		}, 3},
		"consent": {func(s *Submission, v string) {
			comp(s).ConsentToPublish = map[bool]*bool{true: &no, false: nil}[len(v)%2 == 0]
		}, 3},
		"complainant": {func(s *Submission, v string) { s.Complainant = nil }, 1},
		"district":    {func(s *Submission, v string) { loc(s).District = v }, 100},
		"address":     {func(s *Submission, v string) { loc(s).Address = v }, 300},
		"location":    {func(s *Submission, v string) { s.Location = nil }, 1},
		"attr key":    {func(s *Submission, v string) { attrs(s)[v] = "v" }, 64},
		"attr value":  {func(s *Submission, v string) { attrs(s)["k"] = v }, 2000},
		"attrs": {func(s *Submission, v string) {
			s.Attrs = map[string]string{}
			for i := range len(v) % 60 {
				s.Attrs[strings.Repeat("k", i+1)] = ""
			}
		}, 150},
		"submitted_at": {func(s *Submission, v string) {
			if len(v)%2 == 0 {
				s.SubmittedAt = time.Time{}
			}
		}, 3},
	}
	names := make([]string, 0, len(edits))
	for n := range edits {
		names = append(names, n)
	}
	fast := 0
	check := func(what string, s *Submission) {
		t.Helper()
		if !s.plainlyValid() {
			return
		}
		fast++
		if err := minsheng.Validator().Struct(s); err != nil {
			t.Fatalf("%s: plainly valid, but the validator says %v", what, err)
		}
	}
	for _, n := range names {
		for _, v := range around(edits[n].limit) {
			s := base()
			edits[n].f(s, v)
			check(n, s)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 5000 {
		s := base()
		for range 1 + r.IntN(4) {
			n := names[r.IntN(len(names))]
			vals := around(edits[n].limit)
			edits[n].f(s, vals[r.IntN(len(vals))])
		}
		check("random edits", s)
	}
	if fast < 100 {
		t.Fatalf("the fast check passed only %d submissions: not exercised", fast)
	}
	// RevisionOf has no validator tag (validate checks it by hand), so
	// plainlyValid has nothing to know of it: 8 fields, 7 it checks.
	if n, m := reflect.TypeOf(Submission{}).NumField(), reflect.TypeOf(Complainant{}).NumField(); n != 8 || m != 5 {
		t.Errorf("Submission has %d fields and Complainant %d, plainlyValid knows 8 and 5: check the new one there", n, m)
	}
}
