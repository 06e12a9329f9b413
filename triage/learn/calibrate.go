package learn

import (
	"fmt"
	"math"
	"strings"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
)

// atTemperature returns p (probabilities at temperature 1) at temperature t.
func atTemperature(p []float64, t float32) []float64 {
	out := make([]float64, len(p))
	sum := 0.0
	for i, x := range p {
		out[i] = math.Pow(x, 1/float64(t))
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// calibrationBins are the confidence bands of calibrationTable: a band
// holds the items whose top probability is at least its start.
var calibrationBins = []float64{0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}

// expectedCalibrationError is the gap between confidence and accuracy,
// averaged over the bands of calibrationBins weighted by their items: 0
// when, in every band, the share of right answers equals the mean
// confidence.
func expectedCalibrationError(probs [][]float64, labels []int, temp float32) float64 {
	return expectedCalibrationErrorOf(probs, labels, temp, nil)
}

// expectedCalibrationErrorOf is expectedCalibrationError for the labels
// chosen (calibrationCountsOf).
func expectedCalibrationErrorOf(probs [][]float64, labels []int, temp float32, chosen []int) float64 {
	n, conf, right := calibrationCountsOf(probs, labels, temp, chosen)
	total, ece := 0, 0.0
	for b := range n {
		if n[b] == 0 {
			continue
		}
		total += n[b]
		ece += math.Abs(conf[b] - float64(right[b])) // n·|mean conf − accuracy|
	}
	if total == 0 {
		return 0
	}
	return ece / float64(total)
}

// calibrationCountsOf counts, per band of calibrationBins, the items, their
// confidence in the labels chosen[i] (nil: each text's most probable) and
// how many were right. The engine chooses by the scores, before a length
// band's offsets (triage.Band.Offsets) move the probabilities.
func calibrationCountsOf(probs [][]float64, labels []int, temp float32, chosen []int) (n []int, conf []float64, right []int) {
	n, conf, right = make([]int, len(calibrationBins)), make([]float64, len(calibrationBins)), make([]int, len(calibrationBins))
	for i, p := range probs {
		q := atTemperature(p, temp)
		k := triage.Argmax(q)
		if chosen != nil {
			k = chosen[i]
		}
		b := len(calibrationBins) - 1
		for b > 0 && q[k] < calibrationBins[b] {
			b--
		}
		n[b]++
		conf[b] += q[k]
		if k == labels[i] {
			right[b]++
		}
	}
	return n, conf, right
}

// calibrationTable shows, per confidence band of the held-out predictions
// at the fitted temperature, how many items fall in it, their mean
// confidence and how many of them were right; and the expected calibration
// error at temperature 1 and at the fitted one. It is what "confidence 0.8"
// means to the people who read a decision.
func calibrationTable(probs [][]float64, labels []int, temp float32) string {
	return calibrationTableOf(probs, labels, temp, nil)
}

// calibrationTableOf is calibrationTable for the labels chosen
// (calibrationCountsOf).
func calibrationTableOf(probs [][]float64, labels []int, temp float32, chosen []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "calibration, held out: expected calibration error %.3f at temperature 1, %.3f at the fitted %.2f\n",
		expectedCalibrationErrorOf(probs, labels, 1, chosen), expectedCalibrationErrorOf(probs, labels, temp, chosen), temp)
	fmt.Fprintf(&b, "%-10s %6s %10s %9s\n", "confidence", "items", "mean conf", "accuracy")
	n, conf, right := calibrationCountsOf(probs, labels, temp, chosen)
	for i, lo := range calibrationBins {
		if n[i] == 0 {
			continue
		}
		hi := 1.0
		if i+1 < len(calibrationBins) {
			hi = calibrationBins[i+1]
		}
		fmt.Fprintf(&b, "%.2f-%.2f  %6d %10.3f %9.3f\n", lo, hi, n[i], conf[i]/float64(n[i]), float64(right[i])/float64(n[i]))
	}
	return b.String()
}

// reviewTable shows what the engine's per-class review thresholds do to the
// held-out class predictions at the fitted temperature, rules aside: how
// many items go to review, how often the model was right on the items it
// decided alone (passed on or rejected) and on those sent to review; then, per valid class and
// candidate threshold, the precision and recall of the items passed on to
// that class's desk and the share of all items the threshold sends to
// review. A bureau picks its thresholds from it.
//
// It follows the engine: an item whose best label is invalid is rejected at
// or above the invalid threshold; below it, it keeps its best valid class
// and goes to review.
func reviewTable(probs [][]float64, labels []int, temp float32, names []string, thresholds map[minsheng.Class]float64) string {
	return reviewTableOf(probs, labels, temp, names, thresholds, nil)
}

// reviewTableOf is reviewTable for the labels chosen (calibrationCountsOf).
func reviewTableOf(probs [][]float64, labels []int, temp float32, names []string, thresholds map[minsheng.Class]float64, chosen []int) string {
	inv := -1
	for k, c := range names {
		if c == string(minsheng.ClassInvalid) {
			inv = k
		}
	}
	// Each item's class as the engine gives it, its confidence, and whether
	// it was kept from invalid (the model leant to reject it, not surely),
	// which sends it to review whatever its kept class's threshold.
	type decision struct {
		k    int
		conf float64
		kept bool
	}
	ds := make([]decision, len(probs))
	var passed, passedRight, reviewed, reviewedRight int
	for i, p := range probs {
		q := atTemperature(p, temp)
		d := decision{k: triage.Argmax(q)}
		if chosen != nil {
			d.k = chosen[i]
		}
		if d.k == inv && q[inv] < thresholds[minsheng.ClassInvalid] {
			d.k, d.kept = -1, true
			for j := range q {
				if j != inv && (d.k < 0 || p[j] > p[d.k]) { // by the scores, as the engine (the same order as q's without offsets)
					d.k = j
				}
			}
		}
		d.conf = q[d.k]
		ds[i] = d
		t, ok := thresholds[minsheng.Class(names[d.k])]
		if d.kept || (d.k != inv && ok && d.conf < t) {
			reviewed++
			if d.k == labels[i] {
				reviewedRight++
			}
		} else {
			passed++
			if d.k == labels[i] {
				passedRight++
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "review, held out, with the engine's default thresholds %s (rules aside): %d of %d items (%.1f %%) to review;\n",
		thresholdString(names, thresholds), reviewed, len(probs), pct(reviewed, len(probs)))
	fmt.Fprintf(&b, "the model's class was right for %.3f of the items it decided alone (passed on or rejected) and %.3f of those sent to review\n",
		ratio(passedRight, passed), ratio(reviewedRight, reviewed))
	fmt.Fprintf(&b, "%-16s %9s %9s %9s %9s\n", "class", "threshold", "precision", "recall", "review %")
	for k, c := range names {
		if k == inv {
			continue
		}
		gold := 0
		for _, l := range labels {
			if l == k {
				gold++
			}
		}
		for _, t := range []float64{0.35, 0.4, 0.5, 0.6, 0.7, 0.8} {
			var tp, fp, below int
			for i, d := range ds {
				if d.k != k {
					continue
				}
				switch {
				case d.kept || d.conf < t:
					below++
				case labels[i] == k:
					tp++
				default:
					fp++
				}
			}
			mark := ""
			if thresholds[minsheng.Class(c)] == t {
				mark = " (default)"
			}
			fmt.Fprintf(&b, "%-16s %9.2f %9.3f %9.3f %9.1f%s\n", c, t, ratio(tp, tp+fp), ratio(tp, gold), pct(below, len(ds)), mark)
		}
	}
	return b.String()
}

func thresholdString(names []string, thresholds map[minsheng.Class]float64) string {
	var parts []string
	for _, c := range names {
		if t, ok := thresholds[minsheng.Class(c)]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", c, t))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func pct(a, b int) float64 { return 100 * ratio(a, b) }

// bandLimits are the word counts (triage.Model.Words) at which the class
// and department heads' length bands end (triage.Head.Bands): each about
// twice the one before, so that the class head's bands hold hundreds of
// held-out texts each; the last holds every longer text. Chosen before
// fitting, not tuned.
var bandLimits = []int{40, 80, 150, 300, 1 << 30}

// minBand is the fewest held-out texts a band's temperature is fitted on;
// a band with fewer keeps the head's one temperature. At 100 the
// department head's bands of 119 to 166 of the 495 letters came out at
// 0.40, 0.60 and 0.80, in no order with length: noise.
const minBand = 200

// lengthBands fits a temperature to the held-out predictions (at
// temperature 1) of each length band's texts, words[i] being text i's
// length, and with offsets set, an offset per label too (FitBand); it
// returns the bands with a table of what they change against the head's
// one temperature, base. For the class head, on 2026-12-02's labels, one
// temperature (0.90) left the titles sent alone as items, a text of fewer
// than 40 words, with an expected calibration error of 0.164 (their own
// temperature: 0.50) and letters of 300 words or more with 0.084 (their
// own: 1.30).
func lengthBands(probs [][]float64, labels, words []int, base float32, offsets bool) ([]triage.Band, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %6s %11s %10s %10s", "words", "texts", "temperature", "ECE at one", "ECE banded")
	if offsets {
		fmt.Fprintf(&b, "  offsets")
	}
	b.WriteByte('\n')
	bands := make([]triage.Band, 0, len(bandLimits))
	lo := 0
	for _, hi := range bandLimits {
		var p [][]float64
		var l []int
		for i := range probs {
			if words[i] >= lo && words[i] < hi {
				p, l = append(p, probs[i]), append(l, labels[i])
			}
		}
		band := triage.Band{Below: hi, Temperature: base}
		if len(p) >= minBand {
			if offsets {
				band.Temperature, band.Offsets = FitBand(p, l)
			} else {
				band.Temperature = FitTemperature(p, l)
			}
		}
		bands = append(bands, band)
		name := fmt.Sprintf("%d-%d", lo, hi-1)
		if hi == bandLimits[len(bandLimits)-1] {
			name = fmt.Sprintf("%d or more", lo)
		}
		cal, chosen := inBand(p, band)
		fmt.Fprintf(&b, "%-13s %6d %11.2f %10.3f %10.3f", name, len(p), band.Temperature,
			expectedCalibrationError(p, l, base), expectedCalibrationErrorOf(cal, l, 1, chosen))
		if offsets {
			fmt.Fprintf(&b, "  %s", offsetString(band.Offsets))
		}
		b.WriteByte('\n')
		lo = hi
	}
	return bands, b.String()
}

func offsetString(o []float32) string {
	if o == nil {
		return "none"
	}
	parts := make([]string, len(o))
	for i, x := range o {
		parts[i] = fmt.Sprintf("%+.2f", x)
	}
	return strings.Join(parts, " ")
}

// inBand returns probs (at temperature 1) calibrated in band b, and the
// label each text's scores chose (the most probable before b's offsets),
// whose probability is the confidence the engine gives.
func inBand(probs [][]float64, b triage.Band) ([][]float64, []int) {
	out, chosen := make([][]float64, len(probs)), make([]int, len(probs))
	for i, p := range probs {
		out[i], chosen[i] = calibrateIn(p, b)
	}
	return out, chosen
}

// calibrateIn is one text's probabilities p (at temperature 1) in band b,
// and the label its scores chose.
func calibrateIn(p []float64, b triage.Band) ([]float64, int) {
	return withOffsets(atTemperature(p, b.Temperature), b.Offsets), triage.Argmax(p)
}

// withOffsets returns q (probabilities) with offsets o added to their
// logarithms, normalised again; q itself when o is nil.
func withOffsets(q []float64, o []float32) []float64 {
	if o == nil {
		return q
	}
	out := make([]float64, len(q))
	sum := 0.0
	for k, x := range q {
		out[k] = x * math.Exp(float64(o[k]))
		sum += out[k]
	}
	for k := range out {
		out[k] /= sum
	}
	return out
}

// banded returns probs (at temperature 1) each calibrated in its length
// band, and the label each text's scores chose (inBand).
func banded(probs [][]float64, words []int, h *triage.Head) ([][]float64, []int) {
	out, chosen := make([][]float64, len(probs)), make([]int, len(probs))
	for i, p := range probs {
		out[i], chosen[i] = calibrateIn(p, h.BandFor(words[i]))
	}
	return out, chosen
}
