package learn

import (
	"slices"
	"strings"
	"testing"
)

// Letters posted twice in nearly the same words fall into one group,
// through a third letter too; letters on other matters, or without Chinese,
// stay alone; and a group's letters share the fold of its first.
func TestNearDuplicateGroups(t *testing.T) {
	a := "小区门口的道路塌陷多日无人修复，已有老人摔伤，请尽快处理"
	texts := []string{
		a,
		"学校门口上下学时段交通拥堵严重，希望增派交警疏导",
		a + "。谢谢",                        // a again, with a word added: with 0
		"Please repair the street light", // no Chinese: alone
		"小区门口的道路塌陷多日无人修复，已有老人摔伤，请尽快处理，物业推诿", // a, longer: with 0
		"医保报销比例是多少，异地就医如何备案",
	}
	got := nearDuplicateGroups(texts)
	want := []int{0, 1, 0, 3, 0, 5}
	if !slices.Equal(got, want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	if f := groupedFolds(got, 5); !slices.Equal(f, []int{0, 1, 0, 3, 0, 0}) {
		t.Errorf("folds %v", f)
	}
	// Below the threshold: the same opening, then another matter.
	if g := nearDuplicateGroups([]string{a, string([]rune(a)[:8]) + "夜间施工噪声扰民，严重影响休息"}); g[1] != 1 {
		t.Errorf("a half-changed letter joined the group: %v", g)
	}
}

func TestJaccard(t *testing.T) {
	for _, tc := range []struct {
		a, b []uint64
		want float64
	}{
		{nil, nil, 0},
		{[]uint64{1, 2, 3}, []uint64{1, 2, 3}, 1},
		{[]uint64{1, 2}, []uint64{3, 4}, 0},
		{[]uint64{1, 2, 3}, []uint64{2, 3, 4}, 0.5},
	} {
		if got := jaccard(tc.a, tc.b); got != tc.want {
			t.Errorf("jaccard(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// Each source gets its own figure; docs with no source are left out.
func TestHeldOutBySource(t *testing.T) {
	labels := []string{"media_oversight", "petition", "gov_service", "discipline", "invalid"}
	p := func(k int) []float64 { q := make([]float64, 5); q[k] = 1; return q }
	gold := []int{2, 2, 1, 0, 2}
	probs := [][]float64{p(2), p(2), p(2), p(0), p(1)}
	src := []string{"a", "a", "b", "b", ""}
	got := heldOutBySource(labels, gold, probs, src)
	// a: gov_service 2 of 2 right → F1 1 for gov_service, the others absent.
	// b: petition missed (F1 0), media_oversight right (F1 1).
	if !strings.Contains(got, "a: 1.000 (2 letters)") || !strings.Contains(got, "b: 0.500 (2 letters)") || strings.Count(got, "\n") != 2 {
		t.Errorf("report:\n%s", got)
	}
}
