package learn

import (
	"math"
	"math/rand/v2"
	"slices"
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

// TestInterval: a perfect report's interval is a point; a noisy one's
// holds its figure, narrows as the sample grows, and is the same for the
// same seed.
func TestInterval(t *testing.T) {
	labels := []string{"a", "b", "c"}
	perfect := NewReport(labels)
	for i := range 30 {
		perfect.Add(i%3, i%3)
	}
	if lo, hi := perfect.Interval(3, 200, 1); lo != 1 || hi != 1 {
		t.Errorf("perfect: %g–%g, want 1–1", lo, hi)
	}
	noisy := func(times int) *Report {
		r := NewReport(labels)
		for range times {
			for g := range 3 {
				for p := range 3 {
					n := 1
					if g == p {
						n = 6
					}
					for range n {
						r.Add(g, p)
					}
				}
			}
		}
		return r
	}
	small, large := noisy(2), noisy(40)
	f := small.MacroF1Over(3)
	slo, shi := small.Interval(3, 1000, 7)
	llo, lhi := large.Interval(3, 1000, 7)
	if !(slo < f && f < shi) || !(llo < f && f < lhi) {
		t.Errorf("figure %.3f outside %.3f–%.3f or %.3f–%.3f", f, slo, shi, llo, lhi)
	}
	if lhi-llo >= (shi-slo)/2 {
		t.Errorf("20 times the items should narrow the interval to well under half: %.3f against %.3f", lhi-llo, shi-slo)
	}
	// Against a plain bootstrap over the items spelled out, with its own
	// random numbers: the same interval, within what 1,000 resamples move.
	var items [][2]int
	for g, row := range large.Confusion {
		for p, n := range row {
			for range n {
				items = append(items, [2]int{g, p})
			}
		}
	}
	rng := rand.New(rand.NewPCG(99, 1))
	var fs []float64
	for range 4000 {
		b := NewReport(labels)
		for range len(items) {
			it := items[rng.IntN(len(items))]
			b.Add(it[0], it[1])
		}
		fs = append(fs, b.MacroF1Over(3))
	}
	slices.Sort(fs)
	nlo, nhi := fs[100], fs[3899]
	if math.Abs(llo-nlo) > 0.008 || math.Abs(lhi-nhi) > 0.008 {
		t.Errorf("interval %.3f–%.3f, a plain bootstrap's %.3f–%.3f", llo, lhi, nlo, nhi)
	}
	if a, b := small.Interval(3, 1000, 7); a != slo || b != shi {
		t.Errorf("same seed, another interval: %g–%g against %g–%g", a, b, slo, shi)
	}
	if lo, hi := NewReport(labels).Interval(3, 100, 1); lo != 0 || hi != 0 {
		t.Errorf("empty report: %g–%g", lo, hi)
	}
}
