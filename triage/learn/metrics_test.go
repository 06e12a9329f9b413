package learn

import (
	"strings"
	"testing"
)

func TestReportAddLabel(t *testing.T) {
	for _, tc := range []struct {
		gold, pred string
		wantErr    string
	}{
		{"b", "a", ""},
		{"c", "a", `gold label "c" is not one of a, b`},
		{"a", "", `predicted label "" is not one of a, b`},
	} {
		r := NewReport([]string{"a", "b"})
		err := r.AddLabel(tc.gold, tc.pred)
		if tc.wantErr == "" {
			if err != nil || r.N != 1 || r.Confusion[1][0] != 1 {
				t.Errorf("AddLabel(%q, %q) = %v, n=%d %v", tc.gold, tc.pred, err, r.N, r.Confusion)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || r.N != 0 {
			t.Errorf("AddLabel(%q, %q) = %v (n=%d), want an error containing %q and nothing counted", tc.gold, tc.pred, err, r.N, tc.wantErr)
		}
	}
}

// TestPrintAligns: the columns of a printed report line up whether the
// labels are Chinese (two columns a character) or English.
func TestPrintAligns(t *testing.T) {
	r := NewReport([]string{"劳动和社会保障", "gov_service", "卫生计生"})
	r.Add(0, 0)
	r.Add(1, 2)
	var b strings.Builder
	r.Print(&b)
	for r, want := range map[rune]bool{'劳': true, '，': true, 'Ｂ': true, 'a': false, 'é': false, '-': false} {
		if wide(r) != want {
			t.Errorf("wide(%q) = %v", r, !want)
		}
	}
	cols := columns
	lines := strings.Split(b.String(), "\n")
	metrics, confusion := lines[1:4], lines[7:10] // after the header and after the confusion's header
	for _, group := range [][]string{metrics, confusion} {
		for _, l := range group {
			if cols(l) != cols(group[0]) {
				t.Errorf("row %q is %d columns wide, %q %d", l, cols(l), group[0], cols(group[0]))
			}
		}
	}
	t.Log("\n" + b.String())
}
