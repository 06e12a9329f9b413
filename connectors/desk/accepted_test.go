package desk

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	minsheng "github.com/minsheng/minsheng"
)

// TestAppendAcceptedMatchesEncoder: the 202's body is writeJSON's, byte
// for byte, for answers with and without each field.
func TestAppendAcceptedMatchesEncoder(t *testing.T) {
	texts := []string{"", "ms1abc", "<&>", "\u2028 \xff \"q\" \n", "城乡建设"}
	var decisions []*minsheng.Decision
	decisions = append(decisions, nil, &minsheng.Decision{})
	for _, s := range texts {
		decisions = append(decisions, &minsheng.Decision{Class: minsheng.Class(s), Confidence: 0.8123, Department: s, Review: s != "",
			Flags:        minsheng.Flags{DisciplineLead: s == "", Urgent: true, WeakLead: s != "", DepartmentUncertain: s == "<&>"},
			Reasons:      []minsheng.Reason{{Kind: "feature", Code: s, Detail: s, Weight: 1e-7}, {Kind: s, Lead: true}},
			ModelVersion: s, Case: &minsheng.CaseLink{ID: s, Nearest: s, Similarity: 0.5, Items: 2, Since: time.Unix(1e9, 5).In(time.FixedZone("x", 3600))}})
	}
	decisions = append(decisions, &minsheng.Decision{Confidence: math.NaN()}, &minsheng.Decision{Reasons: []minsheng.Reason{}})
	n := 0
	for _, id := range texts {
		for _, d := range decisions {
			for _, dests := range [][]string{nil, {}, {"gov_service"}, {"a<b", "discipline"}} {
				for _, dup := range []bool{false, true} {
					a := &Accepted{ID: id, TraceID: texts[n%len(texts)], Decision: d, Destinations: dests, Duplicate: dup}
					n++
					var want bytes.Buffer
					werr := json.NewEncoder(&want).Encode(a)
					got, err := appendAccepted(nil, a)
					if (err != nil) != (werr != nil) {
						t.Fatalf("%+v: error %v, encoding/json's %v", a, err, werr)
					}
					if err == nil && !bytes.Equal(got, want.Bytes()) {
						t.Fatalf("differs from encoding/json:\n got %s\nwant %s", got, want.Bytes())
					}
				}
			}
		}
	}
}

// BenchmarkAccepted: the 202's body by appendAccepted and by encoding/json
// (writeJSON's encoder), as before.
func BenchmarkAccepted(b *testing.B) {
	d := &minsheng.Decision{Class: minsheng.ClassGovService, Confidence: 0.8123, Department: "城乡建设", ModelVersion: "ngram-lr-20261202b",
		Reasons: []minsheng.Reason{{Kind: "feature", Code: "塌陷", Detail: "weighs for gov_service", Weight: 1.25},
			{Kind: "feature", Code: "修复", Detail: "weighs for gov_service", Weight: 0.75}}}
	a := &Accepted{ID: "ms1aaaaaaaaaaaaaaaaaaaaaaaaaa", TraceID: "0123456789abcdef0123456789abcdef", Decision: d, Destinations: []string{"gov_service"}}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			var err error
			if buf, err = appendAccepted(buf[:0], a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
