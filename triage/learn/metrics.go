package learn

import (
	"fmt"
	"io"
	"strings"
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
	fmt.Fprintf(w, "%-16s %9s %9s %9s %7s\n", "label", "precision", "recall", "f1", "support")
	for i, l := range r.Labels {
		p, rc, f := r.PRF(i)
		fmt.Fprintf(w, "%-16s %9.3f %9.3f %9.3f %7d\n", l, p, rc, f, r.Support(i))
	}
	fmt.Fprintf(w, "macro-F1 %.3f  accuracy %.3f  n=%d\n", r.MacroF1(), r.Accuracy(), r.N)
	fmt.Fprintf(w, "confusion (rows gold, columns predicted):\n%-16s", "")
	for i := range r.Labels {
		fmt.Fprintf(w, " %5s", fmt.Sprintf("[%d]", i))
	}
	fmt.Fprintln(w)
	for i, l := range r.Labels {
		fmt.Fprintf(w, "%-16s", fmt.Sprintf("[%d] %s", i, l))
		for j := range r.Labels {
			fmt.Fprintf(w, " %5d", r.Confusion[i][j])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, strings.Repeat("-", 16))
}
