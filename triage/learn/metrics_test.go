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
