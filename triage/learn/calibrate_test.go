package learn

import (
	"math"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
)

func TestExpectedCalibrationError(t *testing.T) {
	// Ten items at confidence 0.8: calibrated when eight are right.
	probs := make([][]float64, 10)
	labels := make([]int, 10)
	for i := range probs {
		probs[i] = []float64{0.8, 0.2}
		if i >= 8 {
			labels[i] = 1
		}
	}
	if e := expectedCalibrationError(probs, labels, 1); math.Abs(e) > 1e-9 {
		t.Errorf("calibrated set: error %.4f, want 0", e)
	}
	// All wrong at 0.8: the gap is 0.8.
	for i := range labels {
		labels[i] = 1
	}
	if e := expectedCalibrationError(probs, labels, 1); math.Abs(e-0.8) > 1e-9 {
		t.Errorf("all wrong at 0.8: error %.4f, want 0.8", e)
	}
	// A temperature above 1 softens 0.8 towards 0.5: the gap narrows.
	if hot, cold := expectedCalibrationError(probs, labels, 2), expectedCalibrationError(probs, labels, 1); hot >= cold {
		t.Errorf("temperature 2 gave error %.4f, not below %.4f at 1", hot, cold)
	}
}

func TestAtTemperature(t *testing.T) {
	q := atTemperature([]float64{0.8, 0.2}, 2) // ∝ (√0.8, √0.2) = (2, 1)/√5
	if math.Abs(q[0]-2.0/3) > 1e-9 || math.Abs(q[1]-1.0/3) > 1e-9 {
		t.Errorf("got %v, want [2/3 1/3]", q)
	}
	if p := leadProb([]float64{0.8, 0.2}, 2); math.Abs(p-1.0/3) > 1e-9 {
		t.Errorf("leadProb %.4f, want 1/3", p)
	}
}

func TestReviewTable(t *testing.T) {
	names := []string{"media_oversight", "gov_service", "invalid"}
	th := map[minsheng.Class]float64{"media_oversight": 0.5, "gov_service": 0.5, "invalid": 0.8}
	probs := [][]float64{
		{0.9, 0.05, 0.05}, // media, passed on, right
		{0.45, 0.4, 0.15}, // media below 0.5: review, right
		{0.1, 0.85, 0.05}, // gov, passed on, wrong (gold media)
		{0.1, 0.2, 0.7},   // invalid below 0.8: kept as gov, review, right
		{0.05, 0.05, 0.9}, // invalid, rejected, right
		{0, 0.45, 0.55},   // invalid below 0.8: kept as gov at 0.45, review at any threshold, right
	}
	labels := []int{0, 0, 0, 1, 2, 1}
	got := reviewTable(probs, labels, 1, names, th)
	for _, want := range []string{
		"3 of 6 items (50.0 %) to review",
		"right for 0.667 of the items it decided alone (passed on or rejected) and 1.000 of those sent to review",
		// media at 0.5: one passed on (right) of three gold media; one of six below
		"media_oversight       0.50     1.000     0.333      16.7 (default)",
		// media at 0.35: both media predictions pass, both right
		"media_oversight       0.35     1.000     0.667       0.0",
		// gov at 0.5: the wrong 0.85 passes; both kept-as-gov items go to review
		"gov_service           0.50     0.000     0.000      33.3 (default)",
		// gov at 0.35: the kept-as-gov 0.45 still goes to review
		"gov_service           0.35     0.000     0.000      33.3",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

func TestCalibrationTable(t *testing.T) {
	probs := [][]float64{{0.97, 0.03}, {0.96, 0.04}, {0.55, 0.45}, {0.35, 0.65}}
	labels := []int{0, 1, 0, 1}
	got := calibrationTable(probs, labels, 1)
	for _, want := range []string{
		"0.95-1.00       2      0.965     0.500",
		"0.50-0.60       1      0.550     1.000",
		"0.60-0.70       1      0.650     1.000",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

// lengthBands fits each length band its own temperature: texts whose
// held-out predictions are right more often than they say get a cooler one
// than texts that are right less often; a band with fewer than minBand
// texts keeps the one temperature.
func TestClassBands(t *testing.T) {
	var probs [][]float64
	var labels, words []int
	add := func(n, w int, p float64, rightEvery int) {
		for i := range n {
			probs = append(probs, []float64{p, 1 - p})
			label := 0
			if i%rightEvery == rightEvery-1 {
				label = 1
			}
			labels, words = append(labels, label), append(words, w)
		}
	}
	add(400, 10, 0.6, 10)  // short: says 0.6, right 90 %
	add(400, 200, 0.9, 4)  // long: says 0.9, right 75 %
	add(50, 1000, 0.9, 10) // too few to fit
	bands, table := lengthBands(probs, labels, words, 0.9, false)
	if len(bands) != len(bandLimits) {
		t.Fatalf("%d bands, want %d", len(bands), len(bandLimits))
	}
	h := &triage.Head{Temperature: 0.9, Bands: bands}
	short, long, few := h.BandFor(10).Temperature, h.BandFor(200).Temperature, h.BandFor(1000).Temperature
	if !(short < 0.9 && long > 0.9 && few == 0.9) {
		t.Errorf("temperatures: short %.2f, long %.2f, few %.2f; want below 0.9, above it, 0.9\n%s", short, long, few, table)
	}
	cal, _ := banded(probs, words, h)
	if e, one := expectedCalibrationError(cal, labels, 1), expectedCalibrationError(probs, labels, 0.9); e >= one/2 {
		t.Errorf("calibration error %.3f banded, %.3f at one temperature", e, one)
	}
	for _, b := range bands {
		if b.Offsets != nil {
			t.Errorf("band %+v has offsets; none were asked for", b)
		}
	}
}

// FitBand finds the temperature and offsets that made the labels: texts
// whose labels fall as softmax(log p / 0.6 + (0, −1, +0.5)) says give back
// about 0.6 and offsets (0, −1, +0.5) against the most frequent label's.
func TestFitBand(t *testing.T) {
	wantT, wantO := 0.6, []float64{0, -1, 0.5}
	var probs [][]float64
	var labels []int
	for _, z := range [][]float64{{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {2, 1, 0}, {0, 2, 1}, {1, 0, 2}, {-1, 1, 0.5}} {
		p := softmaxAt(z, 1, nil)
		q := softmaxAt(z, wantT, wantO)
		for k, x := range q { // 1,000 texts with these scores, labelled in q's proportions
			for range int(math.Round(1000 * x)) {
				probs, labels = append(probs, p), append(labels, k)
			}
		}
	}
	temp, off := FitBand(probs, labels)
	ref := 0 // the most frequent label, whose offset stays 0
	count := make([]int, 3)
	for _, l := range labels {
		count[l]++
	}
	for k := range count {
		if count[k] > count[ref] {
			ref = k
		}
	}
	if off[ref] != 0 {
		t.Errorf("offset of the most frequent label %d is %v, want 0", ref, off[ref])
	}
	if math.Abs(float64(temp)-wantT) > 0.03 {
		t.Errorf("temperature %.3f, want %.2f", temp, wantT)
	}
	for k := range off {
		if got, want := float64(off[k]-off[0]), wantO[k]-wantO[0]; math.Abs(got-want) > 0.05 {
			t.Errorf("offset %d against label 0's: %.3f, want %.2f (offsets %v)", k, got, want, off)
		}
	}
}

func softmaxAt(z []float64, t float64, o []float64) []float64 {
	out := make([]float64, len(z))
	sum := 0.0
	for k, x := range z {
		out[k] = math.Exp(x / t)
		if o != nil {
			out[k] *= math.Exp(o[k])
		}
		sum += out[k]
	}
	for k := range out {
		out[k] /= sum
	}
	return out
}

// With offsets, a short band gives the labels' real rates back: a head
// trained with balanced classes that says "rare 0.5" on short texts whose
// label is the common one four times in five gets a band in which the
// rare label's confidence falls and calibration improves, and the label
// the engine reports stays the one the scores chose.
func TestClassBandOffsets(t *testing.T) {
	var probs [][]float64
	var labels, words []int
	for i := range 1000 {
		probs = append(probs, []float64{0.5, 0.3, 0.2}) // rare, common, other
		label := 1
		switch i % 10 {
		case 0:
			label = 0
		case 1:
			label = 2
		}
		labels, words = append(labels, label), append(words, 10)
		probs = append(probs, []float64{0.2, 0.7, 0.1}) // and as many that say common
		labels, words = append(labels, 1), append(words, 10)
	}
	bands, table := lengthBands(probs, labels, words, 1, true)
	h := &triage.Head{Temperature: 1, Bands: bands}
	b := h.BandFor(10)
	if b.Offsets == nil || !(b.Offsets[1] > b.Offsets[0]) {
		t.Fatalf("short band %+v: want offsets that favour the common label over the rare\n%s", b, table)
	}
	cal, chosen := banded(probs, words, h)
	if chosen[0] != 0 || chosen[1] != 1 {
		t.Errorf("chosen labels %v, want the scores' 0 and 1", chosen[:2])
	}
	if cal[0][0] >= 0.3 {
		t.Errorf("the rare label's banded confidence is %.2f where it is right 1 time in 10", cal[0][0])
	}
	if e, one := expectedCalibrationErrorOf(cal, labels, 1, chosen), expectedCalibrationError(probs, labels, 1); e >= one/2 {
		t.Errorf("calibration error %.3f banded, %.3f at one temperature\n%s", e, one, table)
	}
	if bands[1].Offsets != nil {
		t.Errorf("a band with no texts has offsets %v", bands[1].Offsets)
	}
}
