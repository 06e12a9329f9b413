package learn

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
)

// TestReviewLoop simulates the review loop on the labelled letters, to
// measure what retraining on reviewed items (train --extra-labels) is
// worth: the real letters are split, near-duplicates together, into a
// base the model is trained on (two fifths), a stream of new letters it
// decides (two fifths) and a test fifth. People "review" part of the
// stream (the gold label stands for their decision): either the letters
// the class head is least sure of, as the review destination gets them,
// or as many letters drawn at random; the head is trained again on the
// base and those, and scored on the test fifth. Three rotations of the
// folds. It prints the table that docs/benchmarks.md quotes and checks
// only that reviewed letters reach the head (training on the whole
// stream must beat the base). Needs the shared data and, as it takes
// about 3 minutes, MINSHENG_REVIEWLOOP=1:
//
//	MINSHENG_REVIEWLOOP=1 MINSHENG_SHARED=$PWD/../shared/data go test ./triage/learn -run ReviewLoop -v -timeout 20m
func TestReviewLoop(t *testing.T) {
	if os.Getenv("MINSHENG_REVIEWLOOP") == "" {
		t.Skip("slow (trains the class head 18 times): set MINSHENG_REVIEWLOOP=1 to run it")
	}
	shared := sharedDir(t)
	recs, err := ReadFourWay(shared, filepath.Join("..", "labels"))
	if err != nil {
		t.Fatal(err)
	}
	var letters, own []Record
	for _, r := range recs {
		if r.Source == "own" {
			own = append(own, r)
		} else {
			letters = append(letters, r)
		}
	}
	texts := make([]string, len(letters))
	for i, r := range letters {
		texts[i] = r.Title + "\n" + r.Body
	}
	folds := groupedFolds(nearDuplicateGroups(texts), 5)

	m, err := NewModel("sim", 18)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Head(triage.HeadClass)
	feats := make([][]uint32, len(letters))
	for i, r := range letters {
		feats[i] = m.Featurize(nil, r.Title, r.Body)
	}
	label := func(r Record) int { return index(h.Labels, r.Label) }
	ownDocs := docs(m, own, h.Labels, 0, byLabel)
	fit := func(idx []int) {
		ds := slices.Clone(ownDocs)
		for _, i := range idx {
			ds = append(ds, Doc{IDs: feats[i], Label: label(letters[i])})
		}
		Fit(m, h, ds, ClassOptions())
	}
	score := func(test []int) float64 {
		rep := NewReport(h.Labels)
		for _, i := range test {
			rep.Add(label(letters[i]), triage.Argmax(Predict(m, h, feats[i])))
		}
		return rep.MacroF1Over(validClasses)
	}

	type row struct {
		name string
		f1   []float64
	}
	rows := []*row{{name: "base only"}}
	add := func(name string, f float64) {
		for _, r := range rows {
			if r.name == name {
				r.f1 = append(r.f1, f)
				return
			}
		}
		rows = append(rows, &row{name: name, f1: []float64{f}})
	}
	var reviewed []int // letters reviewed in the 10 % least-sure runs, by class
	for rot := range 3 {
		var base, stream, test []int
		for i, f := range folds {
			switch (f + rot) % 5 {
			case 0:
				test = append(test, i)
			case 1, 2:
				stream = append(stream, i)
			default:
				base = append(base, i)
			}
		}
		fit(base)
		baseF1 := score(test)
		add("base only", baseF1)
		sure := make([]float64, len(letters))
		for _, i := range stream {
			sure[i] = slices.Max(Predict(m, h, feats[i]))
		}
		byDoubt := slices.Clone(stream)
		slices.SortStableFunc(byDoubt, func(a, b int) int {
			switch {
			case sure[a] < sure[b]:
				return -1
			case sure[a] > sure[b]:
				return 1
			}
			return 0
		})
		random := slices.Clone(stream)
		rand.New(rand.NewPCG(uint64(rot), 7)).Shuffle(len(random), func(a, b int) { random[a], random[b] = random[b], random[a] })
		for _, pct := range []int{10, 25} {
			n := len(stream) * pct / 100
			fit(append(slices.Clone(base), byDoubt[:n]...))
			add(fmt.Sprintf("+ %d %% of the stream, least sure first", pct), score(test))
			if pct == 10 {
				reviewed = append(reviewed, byDoubt[:n]...)
			}
			fit(append(slices.Clone(base), random[:n]...))
			add(fmt.Sprintf("+ %d %% of the stream, at random", pct), score(test))
		}
		fit(append(slices.Clone(base), stream...))
		all := score(test)
		add("+ the whole stream", all)
		if all <= baseF1 {
			t.Errorf("rotation %d: trained on the whole stream %.3f, on the base alone %.3f: the stream's labels did not reach the head", rot, all, baseF1)
		}
		t.Logf("rotation %d: base %d letters, stream %d, test %d", rot, len(base), len(stream), len(test))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "four-way macro-F1 on the test fifth (three rotations, and their mean):\n")
	for _, r := range rows {
		sum := 0.0
		for _, f := range r.f1 {
			sum += f
		}
		fmt.Fprintf(&b, "  %-42s %s  mean %.3f\n", r.name, fmtF(r.f1), sum/float64(len(r.f1)))
	}
	cls := map[string]int{}
	for _, i := range reviewed {
		cls[letters[i].Label]++
	}
	fmt.Fprintf(&b, "classes of the letters reviewed at 10 %%, least sure first (all rotations): %v; of all letters: %v\n", cls, classCounts(letters))
	t.Log("\n" + b.String())
	if out := os.Getenv("MINSHENG_REVIEWLOOP_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

func fmtF(fs []float64) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = fmt.Sprintf("%.3f", f)
	}
	return strings.Join(s, " ")
}

func classCounts(recs []Record) map[string]int {
	n := map[string]int{}
	for _, r := range recs {
		if minsheng.Class(r.Label).Valid() {
			n[r.Label]++
		}
	}
	return n
}
