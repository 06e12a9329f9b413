package learn

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"
)

// Report is a classifier's evaluation on a labelled set.
type Report struct {
	Labels    []string
	Confusion [][]int // [gold][predicted]
	N         int
}

// NewReport starts an empty report over labels.
func NewReport(labels []string) *Report {
	r := &Report{Labels: labels, Confusion: make([][]int, len(labels))}
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, len(labels))
	}
	return r
}

// Add counts one prediction; gold and pred must be indices into r.Labels
// (AddLabel checks names).
func (r *Report) Add(gold, pred int) {
	r.Confusion[gold][pred]++
	r.N++
}

// AddLabel counts one prediction given by label names. A name not among
// r.Labels is an error naming it, and nothing is counted.
func (r *Report) AddLabel(gold, pred string) error {
	g, p := index(r.Labels, gold), index(r.Labels, pred)
	switch {
	case g < 0:
		return fmt.Errorf("gold label %q is not one of %s", gold, strings.Join(r.Labels, ", "))
	case p < 0:
		return fmt.Errorf("predicted label %q is not one of %s", pred, strings.Join(r.Labels, ", "))
	}
	r.Add(g, p)
	return nil
}

// PRF returns precision, recall and F1 of label i.
func (r *Report) PRF(i int) (p, rc, f1 float64) {
	tp := float64(r.Confusion[i][i])
	var col, row float64
	for j := range r.Labels {
		col += float64(r.Confusion[j][i])
		row += float64(r.Confusion[i][j])
	}
	if col > 0 {
		p = tp / col
	}
	if row > 0 {
		rc = tp / row
	}
	if p+rc > 0 {
		f1 = 2 * p * rc / (p + rc)
	}
	return p, rc, f1
}

// Support is how many items have gold label i.
func (r *Report) Support(i int) int {
	n := 0
	for _, c := range r.Confusion[i] {
		n += c
	}
	return n
}

// MacroF1 averages F1 over the labels that occur in the gold data.
func (r *Report) MacroF1() float64 { return r.MacroF1Over(len(r.Labels)) }

// MacroF1Over is MacroF1 over the first n labels only, still counting
// predictions of the others as errors: over the class head's labels, 4
// gives the four valid classes (invalid comes last).
func (r *Report) MacroF1Over(n int) float64 {
	sum, k := 0.0, 0
	for i := range n {
		if r.Support(i) == 0 {
			continue
		}
		_, _, f := r.PRF(i)
		sum += f
		k++
	}
	if k == 0 {
		return 0
	}
	return sum / float64(k)
}

// Interval returns a 95 % bootstrap interval of MacroF1Over(over): the
// 2.5th and 97.5th percentiles over resamples of r's items, drawn with
// replacement, each as many as r holds (seeded, so the same report gives
// the same interval). How far another sample of the same size could put
// the figure, not how good the model is.
func (r *Report) Interval(over, resamples int, seed uint64) (lo, hi float64) {
	if r.N == 0 || resamples < 2 {
		return 0, 0
	}
	k := len(r.Labels)
	cum := make([]int, 0, k*k) // running counts of the cells, row-major
	run := 0
	for g := range k {
		for p := range k {
			run += r.Confusion[g][p]
			cum = append(cum, run)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	b := NewReport(r.Labels)
	fs := make([]float64, resamples)
	for i := range fs {
		for _, row := range b.Confusion {
			clear(row)
		}
		b.N = 0
		for range r.N {
			c, _ := slices.BinarySearch(cum, rng.IntN(r.N)+1)
			b.Add(c/k, c%k)
		}
		fs[i] = b.MacroF1Over(over)
	}
	slices.Sort(fs)
	at := func(q float64) float64 { return fs[min(len(fs)-1, int(q*float64(len(fs))))] }
	return at(0.025), at(0.975)
}

// Accuracy is the share of correct predictions.
func (r *Report) Accuracy() float64 {
	if r.N == 0 {
		return 0
	}
	c := 0
	for i := range r.Labels {
		c += r.Confusion[i][i]
	}
	return float64(c) / float64(r.N)
}

// Print writes the per-label table, the macro figures and the confusion
// matrix.
func (r *Report) Print(w io.Writer) {
	// The label column fits the widest "[i] label", and at least 16.
	col := 16
	for i, l := range r.Labels {
		col = max(col, columns(fmt.Sprintf("[%d] %s", i, l))+1)
	}
	fmt.Fprintf(w, "%s %9s %9s %9s %7s\n", pad("label", col), "precision", "recall", "f1", "support")
	for i, l := range r.Labels {
		p, rc, f := r.PRF(i)
		fmt.Fprintf(w, "%s %9.3f %9.3f %9.3f %7d\n", pad(l, col), p, rc, f, r.Support(i))
	}
	fmt.Fprintf(w, "macro-F1 %.3f  accuracy %.3f  n=%d\n", r.MacroF1(), r.Accuracy(), r.N)
	fmt.Fprintf(w, "confusion (rows gold, columns predicted):\n%s", pad("", col))
	for i := range r.Labels {
		fmt.Fprintf(w, " %5s", fmt.Sprintf("[%d]", i))
	}
	fmt.Fprintln(w)
	for i, l := range r.Labels {
		fmt.Fprint(w, pad(fmt.Sprintf("[%d] %s", i, l), col))
		for j := range r.Labels {
			fmt.Fprintf(w, " %5d", r.Confusion[i][j])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, strings.Repeat("-", col))
}

// pad pads s with spaces to n columns of a terminal, where a Chinese
// character (and other East Asian wide characters) takes two: fmt's %-16s
// counts runes, which put the department tables of eval out of line.
func pad(s string, n int) string {
	w := columns(s)
	if w >= n {
		return s
	}
	return s + strings.Repeat(" ", n-w)
}

// columns is how many columns of a terminal s takes.
func columns(s string) int {
	w := 0
	for _, r := range s {
		w++
		if wide(r) {
			w++
		}
	}
	return w
}

// wide reports whether r takes two columns: CJK ideographs, kana, Hangul,
// CJK and full-width punctuation and forms.
func wide(r rune) bool {
	switch {
	case r < 0x1100:
		return false
	case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
		return true
	case r >= 0x3000 && r <= 0x303F, r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6:
		return true
	}
	return false
}
