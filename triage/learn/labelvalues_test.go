package learn

import (
	"encoding/json"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want minsheng.Class
		ok   bool
	}{
		{"media_oversight", minsheng.ClassMediaOversight, true},
		{"Media Oversight", minsheng.ClassMediaOversight, true},
		{" media-oversight ", minsheng.ClassMediaOversight, true},
		{"舆论监督", minsheng.ClassMediaOversight, true},
		{"PETITION", minsheng.ClassPetition, true},
		{"信访事项", minsheng.ClassPetition, true},
		{"信访", minsheng.ClassPetition, true},
		{"gov service", minsheng.ClassGovService, true},
		{"Government Service", minsheng.ClassGovService, true},
		{"政务服务", minsheng.ClassGovService, true},
		{"discipline", minsheng.ClassDiscipline, true},
		{"Discipline inspection", minsheng.ClassDiscipline, true},
		{"纪检监察", minsheng.ClassDiscipline, true},
		{"无效", minsheng.ClassInvalid, true},
		{"invalid", minsheng.ClassInvalid, true},
		{"", "", false},
		{"urgent", "", false},
		{"media oversight desk", "", false},
		{"gov_service_x", "", false},
	} {
		got, ok := ClassOf(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ClassOf(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLeadOf(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		in      string
		want    *bool
		wantErr bool
	}{
		{`true`, &yes, false}, {`false`, &no, false},
		{`1`, &yes, false}, {`0`, &no, false},
		{`"yes"`, &yes, false}, {`"No"`, &no, false}, {`"Y"`, &yes, false},
		{`"TRUE"`, &yes, false}, {`"0"`, &no, false}, {`"是"`, &yes, false}, {`"否"`, &no, false},
		{`null`, nil, false}, {``, nil, false}, {`""`, nil, false},
		{`2`, nil, true}, {`"maybe"`, nil, true}, {`[true]`, nil, true}, {`"unterminated`, nil, true},
	} {
		got, err := LeadOf(json.RawMessage(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("LeadOf(%s): error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && *got != *tc.want {
			t.Errorf("LeadOf(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIDOf(t *testing.T) {
	for in, want := range map[string]string{`"a-1"`: "a-1", `42`: "42", ` 7 `: "7", `"4\"2"`: `4"2`, `null`: ""} {
		if got := IDOf(json.RawMessage(in)); got != want {
			t.Errorf("IDOf(%s) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLabelValues: the readers never panic, a class they return reads back
// as itself, and a lead they read is the one its JSON boolean gives.
func FuzzLabelValues(f *testing.F) {
	for _, s := range []string{"media_oversight", "Media Oversight", "舆论监督", `"yes"`, `1`, `null`, `"是"`, `[]`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, ok := ClassOf(s); ok {
			if !c.Valid() {
				t.Fatalf("ClassOf(%q) = %q, not a class", s, c)
			}
			if back, ok := ClassOf(string(c)); !ok || back != c {
				t.Fatalf("ClassOf(%q) = %q, which reads back as %q, %v", s, c, back, ok)
			}
		}
		v, err := LeadOf(json.RawMessage(s))
		if err == nil && v != nil {
			b, _ := json.Marshal(*v)
			if again, err := LeadOf(b); err != nil || again == nil || *again != *v {
				t.Fatalf("LeadOf(%q) = %v, but its JSON %s reads as %v, %v", s, *v, b, again, err)
			}
		}
		_ = IDOf(json.RawMessage(s))
	})
}
