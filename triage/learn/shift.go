package learn

import (
	"math"

	"github.com/minsheng/minsheng/triage"
)

// shiftOptions fit the domain classifier of shiftWeights.
var shiftOptions = Options{Epochs: 10, Rate: 0.2, L2: 1e-4, Balance: 1, Seed: 1}

// shiftWeights weights labelled letters for covariate shift towards an
// unlabelled pool (the general board's texts): a classifier told to tell
// the letters (with five folds, each letter held out of the fit that
// scores it) from the pool gives each letter's odds of being from the
// pool, times letters/pool; the weight is those odds clipped to [0.2, 5],
// to the power gamma, over their mean. A letter that reads like the board
// counts more, one unlike anything on it less. bits is the feature space
// of the docs' IDs.
func shiftWeights(bits uint8, letters []Doc, pool [][]uint32, gamma float64) []float32 {
	m, err := triage.NewModel("domain", bits, []triage.Head{{Name: "domain", Labels: []string{"letters", "pool"}}})
	if err != nil {
		panic(err) // bits come from a model that has them
	}
	h := m.Head("domain")
	board := make([]Doc, len(pool))
	for i, ids := range pool {
		board[i] = Doc{IDs: ids, Label: 1}
	}
	ratio := float64(len(letters)) / float64(len(pool))
	w := make([]float64, len(letters))
	var sum float64
	const k = 5
	for fold := range k {
		tr := append([]Doc(nil), board...)
		for i, d := range letters {
			if i%k != fold {
				tr = append(tr, Doc{IDs: d.IDs, Label: 0})
			}
		}
		Fit(m, h, tr, shiftOptions)
		for i, d := range letters {
			if i%k == fold {
				p := Predict(m, h, d.IDs)[1]
				w[i] = math.Pow(math.Min(5, math.Max(0.2, p/(1-p)*ratio)), gamma)
				sum += w[i]
			}
		}
	}
	out := make([]float32, len(letters))
	for i := range w {
		out[i] = float32(w[i] * float64(len(letters)) / sum)
	}
	return out
}
