package learn

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/minsheng/minsheng/triage"
)

// Near-duplicates. 附件3 is a board of hot topics, and the same complaint is
// often posted more than once, in the same or nearly the same words. A
// cross-validation that splits documents by position puts one copy in
// training and the other in the held-out fold, which flatters the figure:
// a hidden set of other messages has no such twins. nearDuplicateGroups
// finds them, so that a fold can keep each group together.

// dupJaccard is the share of distinct Chinese character bigrams two texts
// must have in common (of those either has) to count as near-duplicates.
const dupJaccard = 0.3

// bigramSet is the sorted distinct Chinese character bigrams of s.
func bigramSet(s string) []uint64 {
	var out []uint64
	prev := rune(-1)
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			prev = -1
			continue
		}
		if prev >= 0 {
			out = append(out, uint64(prev)<<32|uint64(r))
		}
		prev = r
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jaccard of two sorted sets.
func jaccard(a, b []uint64) float64 {
	i, j, n := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	if u := len(a) + len(b) - n; u > 0 {
		return float64(n) / float64(u)
	}
	return 0
}

// nearDuplicateGroups gives each text the index of the first text of its
// group: texts joined, directly or through others, by a bigram Jaccard of
// at least dupJaccard. Texts without Chinese bigrams are alone. Quadratic
// in the number of texts, with a size filter that skips most pairs (two
// sets whose sizes differ by more than the threshold's ratio cannot reach
// it): 13–14 s for 附件3's 4,326 letters on this 2-core machine
// (measured 2026-12-01 under some load).
func nearDuplicateGroups(texts []string) []int {
	sets := make([][]uint64, len(texts))
	for i, t := range texts {
		sets[i] = bigramSet(t)
	}
	parent := make([]int, len(texts))
	for i := range parent {
		parent[i] = i
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for i := range sets {
		for j := i + 1; j < len(sets); j++ {
			a, b := len(sets[i]), len(sets[j])
			if a == 0 || b == 0 || float64(min(a, b)) < dupJaccard*float64(max(a, b)) {
				continue
			}
			if jaccard(sets[i], sets[j]) >= dupJaccard {
				ri, rj := find(i), find(j)
				parent[max(ri, rj)] = min(ri, rj)
			}
		}
	}
	out := make([]int, len(texts))
	for i := range out {
		out[i] = find(i)
	}
	return out
}

// groupedFolds assigns k folds to docs whose near-duplicate group is
// group[i] (the index of the group's first doc): a group's docs share the
// fold of its first doc, i%k as before, so a doc alone keeps its fold.
func groupedFolds(group []int, k int) []int {
	f := make([]int, len(group))
	for i, g := range group {
		f[i] = g % k
	}
	return f
}

// heldOutBySource reports the held-out class predictions probs of docs
// from each source (src[i] for doc i, "" to leave one out), as macro-F1
// over the four valid classes.
func heldOutBySource(labels []string, gold []int, probs [][]float64, src []string) string {
	reps := map[string]*Report{}
	var order []string
	for i, s := range src {
		if s == "" || probs[i] == nil {
			continue
		}
		if reps[s] == nil {
			reps[s] = NewReport(labels)
			order = append(order, s)
		}
		reps[s].Add(gold[i], triage.Argmax(probs[i]))
	}
	var b strings.Builder
	for _, s := range order {
		fmt.Fprintf(&b, "  %s: %.3f (%d letters)\n", s, reps[s].MacroF1Over(validClasses), reps[s].N)
	}
	return b.String()
}
