package cases

import (
	"math"
	"math/rand/v2"
	"testing"
	"unicode"

	"github.com/minsheng/minsheng/triage"
)

// runs is the reference: the set of three-character runs MakeSketch
// hashes, kept whole.
func runs(text string) map[[3]rune]bool {
	var rs []rune
	for _, r := range triage.Normalize(text) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			rs = append(rs, r)
		}
	}
	out := map[[3]rune]bool{}
	for i := 0; i+3 <= len(rs); i++ {
		out[[3]rune{rs[i], rs[i+1], rs[i+2]}] = true
	}
	return out
}

func jaccard(a, b map[[3]rune]bool) float64 {
	n := 0
	for k := range a {
		if b[k] {
			n++
		}
	}
	if u := len(a) + len(b) - n; u > 0 {
		return float64(n) / float64(u)
	}
	return 0
}

// randomText returns n characters drawn from the common CJK block.
func randomText(r *rand.Rand, n int) []rune {
	t := make([]rune, n)
	for i := range t {
		t[i] = rune(0x4E00 + r.IntN(3000))
	}
	return t
}

// TestSimilarityEstimatesJaccard compares the sketch's estimate with the
// exact Jaccard index of the runs, over pairs of texts of 40 to 800
// characters of which a random share was rewritten.
func TestSimilarityEstimatesJaccard(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var sumErr, maxErr float64
	const pairs = 400
	for range pairs {
		n := 40 + r.IntN(760)
		a := randomText(r, n)
		b := append([]rune(nil), a...)
		p := r.Float64() * 0.3 // rewrite up to 30 % of the characters
		for i := range b {
			if r.Float64() < p {
				b[i] = rune(0x4E00 + r.IntN(3000))
			}
		}
		exact := jaccard(runs(string(a)), runs(string(b)))
		if got := Jaccard(Runs(string(a)), Runs(string(b))); math.Abs(got-exact) > 1e-9 {
			t.Fatalf("Jaccard of Runs %g, the reference %g", got, exact)
		}
		sa, sb := MakeSketch(string(a)), MakeSketch(string(b))
		est := sa.Similarity(&sb)
		if est != sb.Similarity(&sa) {
			t.Fatalf("similarity not symmetric: %g and %g", est, sb.Similarity(&sa))
		}
		e := math.Abs(est - exact)
		sumErr += e
		maxErr = max(maxErr, e)
	}
	// The standard error of a 64-bin estimate is at most 0.0625; densified
	// bins of short texts add to it.
	if mean := sumErr / pairs; mean > 0.055 || maxErr > 0.25 {
		t.Errorf("estimate off the exact Jaccard index by %.3f on average, %.3f at most", mean, maxErr)
	}
	t.Logf("mean error %.3f, max %.3f", sumErr/pairs, maxErr)
}

// TestSketchIgnoresForm: punctuation, spaces, full-width forms, traditional
// characters and greetings do not make two copies of a letter differ.
func TestSketchIgnoresForm(t *testing.T) {
	base := "我们小区的电梯已经坏了三个月，物业一直不修，老人上下楼非常困难，请有关部门督促物业尽快维修。楼号是12栋。"
	for _, v := range []string{
		"您好！我们小区的电梯已经坏了三个月物业一直不修 老人上下楼非常困难。请有关部门督促物业尽快维修，楼号是１２栋",
		"我們小區的電梯已經壞了三個月，物業一直不修，老人上下樓非常困難，請有關部門督促物業盡快維修。樓號是12棟。",
		"<p>我们小区的电梯已经坏了三个月，物业一直不修，</p><p>老人上下楼非常困难，请有关部门督促物业尽快维修。楼号是12栋。</p>",
	} {
		a, b := MakeSketch(base), MakeSketch(v)
		if s := a.Similarity(&b); s != 1 {
			t.Errorf("similarity %g, want 1, for %q", s, v)
		}
	}
}

func TestSketchEmpty(t *testing.T) {
	for _, s := range []string{"", "  ", "！？。", "ab"} {
		a := MakeSketch(s)
		if a.Runs != 0 {
			t.Errorf("%q: %d runs, want 0", s, a.Runs)
		}
		if sim := a.Similarity(&a); sim != 0 {
			t.Errorf("%q: like itself at %g, want 0 (no runs, like nothing)", s, sim)
		}
	}
	a, b := MakeSketch("abc"), MakeSketch("abcd")
	if a.Runs != 1 || b.Runs != 2 || a.Similarity(&b) <= 0 {
		t.Errorf("runs %d and %d, similarity %g: want 1, 2 and above 0 (one run of two shared)", a.Runs, b.Runs, a.Similarity(&b))
	}
}

func FuzzMakeSketch(f *testing.F) {
	f.Add("我们小区的电梯已经坏了三个月", "我们小区的电梯坏了三个月")
	f.Add("", "x")
	f.Add("\xff\xfe请问", "請問")
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, sb := MakeSketch(a), MakeSketch(b)
		s := sa.Similarity(&sb)
		if s < 0 || s > 1 || s != sb.Similarity(&sa) {
			t.Fatalf("similarity %g (other way %g)", s, sb.Similarity(&sa))
		}
		if self := sa.Similarity(&sa); sa.Runs > 0 && self != 1 {
			t.Fatalf("a text with %d runs is like itself at %g", sa.Runs, self)
		}
		if again := MakeSketch(a); again != sa {
			t.Fatal("two sketches of one text differ")
		}
		ra, rb := Runs(a), Runs(b)
		if (len(ra) > 0) != (sa.Runs > 0) || len(ra) > sa.Runs {
			t.Fatalf("%d distinct runs, the sketch counted %d", len(ra), sa.Runs)
		}
		if j := Jaccard(ra, rb); j < 0 || j > 1 || j != Jaccard(rb, ra) || (len(ra) > 0 && Jaccard(ra, ra) != 1) {
			t.Fatalf("exact share %g", j)
		}
	})
}
