package learn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minsheng/minsheng/triage"
)

// TestDeptSemi measures semi-supervised ways of carrying the department
// head from the 495 to the general board, using the texts (never the
// labels) of 附件3. It is an experiment, run by hand:
//
//	MINSHENG_DEPTSEMI=base,st GOMAXPROCS=1 go test ./triage/learn -run TestDeptSemi -v -timeout 0
//
// (MINSHENG_DEPTSEMI=all runs every method; MINSHENG_DEPTSEMI_SPLITS sets
// how many random halvings, 2 by default; MINSHENG_DEPTSEMI_FIRST the first halving's seed, 1 by default;
// MINSHENG_DEPTSEMI_CV=0 skips the
// CV on the 495; MINSHENG_DEPTSEMI_AVERAGE=1 fits once instead of the
// mean of DepartmentOptions' five fits, five times faster;
// MINSHENG_DEPTSEMI_SEED sets the options' seed, 1 by default;
// MINSHENG_DEPTSEMI_GRAMS=tri, skip or tri,skip adds those features
// (Model.Grams, in 2^19 buckets, the others' 2^18 as before) at
// MINSHENG_DEPTSEMI_GRAMWEIGHT, 1 by default.) For each halving of 附件3 by near-duplicate group
// (nearDuplicateGroups, so no letter has a twin on the other side), the
// method sees the texts of one half and is scored on the letters of the
// other half that labels/department.tsv labels, then the other way round.
// The CV on the 495 (seed 1, five folds) has all of 附件3's texts as its
// unlabelled pool. No reserved file is read.
func TestDeptSemi(t *testing.T) {
	want := os.Getenv("MINSHENG_DEPTSEMI")
	if want == "" {
		t.Skip("set MINSHENG_DEPTSEMI to a comma-separated list of methods (or all)")
	}
	shared := sharedDir(t)
	d, err := Load(DefaultConfig(shared, "../labels"))
	if err != nil {
		t.Fatal(err)
	}
	var grams uint8
	for _, k := range strings.Split(os.Getenv("MINSHENG_DEPTSEMI_GRAMS"), ",") {
		switch k {
		case "tri":
			grams |= triage.GramTrigrams
		case "skip":
			grams |= triage.GramSkip
		}
	}
	bits := uint8(18)
	if grams != 0 {
		bits = 19
	}
	m, err := NewModel("semi", bits)
	if err != nil {
		t.Fatal(err)
	}
	m.Grams = grams
	h := m.Head(triage.HeadDepartment)
	o := DepartmentOptions()
	if s := os.Getenv("MINSHENG_DEPTSEMI_AVERAGE"); s != "" {
		o.Average, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("MINSHENG_DEPTSEMI_SEED"); s != "" {
		o.Seed, _ = strconv.ParseUint(s, 10, 64)
	}
	if s := os.Getenv("MINSHENG_DEPTSEMI_GRAMWEIGHT"); s != "" {
		o.GramWeight, _ = strconv.ParseFloat(s, 64)
	}
	t.Logf("grams %d at weight %g, %d bits, seed %d", grams, o.GramWeight, bits, o.Seed)
	dept := docs(m, d.Dept, Departments, 0, byLabel)
	tax := docs(m, d.Taxonomy, Departments, 0.5, byLabel)

	sector := map[string]int{}
	for _, r := range d.Sectors {
		sector[r.ID] = index(Departments, r.Label)
	}
	pool := make([][]uint32, len(d.Unlabelled))
	gold := make([]int, len(d.Unlabelled)) // -1: no sector label
	texts := make([]string, len(d.Unlabelled))
	for i, r := range d.Unlabelled {
		pool[i] = m.Featurize(nil, r.Title, r.Body)
		texts[i] = r.Title + "\n" + r.Body
		gold[i] = -1
		if k, ok := sector[r.ID]; ok {
			gold[i] = k
		}
	}
	start := time.Now()
	groups := nearDuplicateGroups(texts)
	t.Logf("near-duplicate groups of 附件3: %s", time.Since(start).Round(time.Second))

	nSplits := 2
	if s := os.Getenv("MINSHENG_DEPTSEMI_SPLITS"); s != "" {
		nSplits, _ = strconv.Atoi(s)
	}
	doCV := os.Getenv("MINSHENG_DEPTSEMI_CV") != "0"
	// side[s][i] is letter i's half (0 or 1) in halving s.
	side := make([][]int, nSplits)
	first := 1 // the first halving's seed
	if s := os.Getenv("MINSHENG_DEPTSEMI_FIRST"); s != "" {
		first, _ = strconv.Atoi(s)
	}
	for s := range side {
		rng := rand.New(rand.NewPCG(uint64(s+first), 99))
		of := map[int]int{}
		side[s] = make([]int, len(pool))
		for i, g := range groups {
			if _, ok := of[g]; !ok {
				of[g] = rng.IntN(2)
			}
			side[s][i] = of[g]
		}
	}

	methods := deptSemiMethods(m, h, o)
	var names []string
	if want == "all" {
		for _, mt := range methods {
			names = append(names, mt.name)
		}
	} else {
		names = strings.Split(want, ",")
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%-34s %-7s", "method", "CV495")
	for s := range nSplits {
		fmt.Fprintf(&table, "  split%d A→B   B→A  ", s+1)
	}
	fmt.Fprintf(&table, "  mean F1 / acc\n")
	for _, name := range names {
		i := slices.IndexFunc(methods, func(mt deptSemiMethod) bool { return mt.name == name })
		if i < 0 {
			t.Fatalf("no method %q", name)
		}
		mt := methods[i]
		start := time.Now()
		cv := math.NaN()
		if doCV {
			rep := NewReport(Departments)
			for fold := range 5 {
				var tr []Doc
				for i, d := range dept {
					if i%5 != fold {
						tr = append(tr, d)
					}
				}
				mt.fit(append(tr, tax...), pool)
				for i, d := range dept {
					if i%5 == fold {
						rep.Add(d.Label, triage.Argmax(mt.predict(d.IDs)))
					}
				}
			}
			cv = rep.MacroF1()
		}
		row := fmt.Sprintf("%-34s %-7.3f", name, cv)
		var sumF, sumA float64
		for s := range nSplits {
			for half := range 2 {
				var seen [][]uint32
				for i, ids := range pool {
					if side[s][i] == half {
						seen = append(seen, ids)
					}
				}
				mt.fit(append(append([]Doc(nil), dept...), tax...), seen)
				rep := NewReport(Departments)
				for i, ids := range pool {
					if side[s][i] != half && gold[i] >= 0 {
						rep.Add(gold[i], triage.Argmax(mt.predict(ids)))
					}
				}
				row += fmt.Sprintf("  %.3f/%.3f", rep.MacroF1(), rep.Accuracy())
				sumF += rep.MacroF1()
				sumA += rep.Accuracy()
			}
		}
		row += fmt.Sprintf("  %.3f / %.3f", sumF/float64(2*nSplits), sumA/float64(2*nSplits))
		t.Logf("%s  (%s)", row, time.Since(start).Round(time.Second))
		table.WriteString(row + "\n")
	}
	t.Logf("\n%s", table.String())
}

type deptSemiMethod struct {
	name string
	// fit trains on the labelled docs and the unlabelled pool's features.
	fit     func(labelled []Doc, pool [][]uint32)
	predict func(ids []uint32) []float64
}

func deptSemiMethods(m *triage.Model, h *triage.Head, o Options) []deptSemiMethod {
	lr := func(ids []uint32) []float64 { return Predict(m, h, ids) }
	var out []deptSemiMethod
	add := func(name string, fit func([]Doc, [][]uint32)) {
		out = append(out, deptSemiMethod{name, fit, lr})
	}
	add("base", func(lab []Doc, _ [][]uint32) { Fit(m, h, lab, o) })

	// Self-training: rounds of pseudo-labels from the head itself.
	for _, c := range []struct {
		rounds int
		sel    selector
		w      float32
	}{
		{2, byThreshold(0.7), 0.5},
		{2, byThreshold(0.9), 0.5},
		{1, byThreshold(0.7), 0.2},
		{2, byThreshold(0.5), 0.2},
		{2, topPerSector(0.5), 0.5},
		{2, topPerSector(0.5), 0.2},
		{3, topPerSector(0.3), 0.3},
		{2, topPerSector(0.8), 0.2},
		{2, topPerSector(0.5), 1},
	} {
		add(fmt.Sprintf("st r%d %s w%g", c.rounds, c.sel.name, c.w), func(lab []Doc, pool [][]uint32) {
			Fit(m, h, lab, o)
			for range c.rounds {
				pseudo := c.sel.pick(pool, func(ids []uint32) []float64 { return Predict(m, h, ids) }, c.w)
				Fit(m, h, append(append([]Doc(nil), lab...), pseudo...), o)
			}
		})
	}
	// NB ratios counted over the labelled docs and the pool pseudo-labelled
	// by the head fitted on the labelled ones; the fit itself is on the
	// labelled docs only (or with the pseudo-labels too).
	for _, c := range []struct {
		sel   selector
		train bool
		w     float32
	}{
		{byThreshold(0), false, 1},
		{byThreshold(0.7), false, 1},
		{topPerSector(0.5), false, 1},
		{topPerSector(0.5), true, 0.2},
	} {
		name := "nbr-pseudo " + c.sel.name
		if c.train {
			name += fmt.Sprintf(" +train w%g", c.w)
		}
		add(name, func(lab []Doc, pool [][]uint32) {
			Fit(m, h, lab, o)
			pseudo := c.sel.pick(pool, func(ids []uint32) []float64 { return Predict(m, h, ids) }, c.w)
			nb := append(append([]Doc(nil), lab...), pseudo...)
			if c.train {
				fitWith(m, h, nb, nb, o)
			} else {
				fitWith(m, h, lab, nb, o)
			}
		})
	}
	// EM naive Bayes (Nigam et al. 2000) over the hashed features.
	for _, c := range []struct {
		iters  int
		lambda float64
	}{{0, 0}, {5, 0.1}, {5, 1}} {
		nb := &emNB{k: len(Departments), n: 1 << m.Bits}
		out = append(out, deptSemiMethod{fmt.Sprintf("em-nb alone it%d λ%g", c.iters, c.lambda),
			func(lab []Doc, pool [][]uint32) { nb.fit(lab, pool, c.iters, c.lambda) }, nb.predict})
	}
	for _, c := range []struct {
		lambda float64
		sel    selector
		w      float32
		nbOnly bool
	}{
		{0.1, topPerSector(0.5), 0.2, false},
		{0.1, byThreshold(0.9), 0.5, false},
		{0.1, topPerSector(0.5), 1, true},
		{1, topPerSector(0.5), 0.2, false},
	} {
		nb := &emNB{k: len(Departments), n: 1 << m.Bits}
		name := fmt.Sprintf("em-nb λ%g → lr %s w%g", c.lambda, c.sel.name, c.w)
		if c.nbOnly {
			name = fmt.Sprintf("em-nb λ%g → nbr %s", c.lambda, c.sel.name)
		}
		add(name, func(lab []Doc, pool [][]uint32) {
			nb.fit(lab, pool, 5, c.lambda)
			pseudo := c.sel.pick(pool, nb.predict, c.w)
			all := append(append([]Doc(nil), lab...), pseudo...)
			if c.nbOnly {
				fitWith(m, h, lab, all, o)
			} else {
				Fit(m, h, all, o)
			}
		})
	}
	// Clusters of buckets by the buckets found next to them in the pool's
	// texts (and the labelled ones), each bucket's cluster added as a
	// feature of its own.
	for _, c := range []struct{ k, vocab, ctx int }{{300, 20000, 500}, {1000, 20000, 500}} {
		cl := &clusters{bits: m.Bits}
		out = append(out, deptSemiMethod{fmt.Sprintf("clusters k%d v%d c%d", c.k, c.vocab, c.ctx),
			func(lab []Doc, pool [][]uint32) {
				all := slices.Clone(pool)
				for _, d := range lab {
					all = append(all, d.IDs)
				}
				cl.learn(all, c.k, c.vocab, c.ctx)
				aug := make([]Doc, len(lab))
				for i, d := range lab {
					aug[i] = d
					aug[i].IDs = cl.augment(d.IDs)
				}
				Fit(m, h, aug, o)
			}, func(ids []uint32) []float64 { return Predict(m, h, cl.augment(ids)) }})
	}
	// Covariate-shift weights: each labelled letter weighted by how much
	// more it reads like the pool than like the labelled letters (a domain
	// classifier on the lead head's two labels, the letter held out of it
	// in five folds), ^gamma, clipped to [0.2, 5], mean 1.
	for _, gamma := range []float64{0.25, 0.5, 1} {
		add(fmt.Sprintf("shift weights γ%g", gamma), func(lab []Doc, pool [][]uint32) {
			var letters []Doc
			var at []int
			for i, d := range lab {
				if d.Weight == 0 {
					letters, at = append(letters, d), append(at, i)
				}
			}
			w := shiftWeights(m.Bits, letters, pool, gamma)
			aug := slices.Clone(lab)
			for j, i := range at {
				aug[i].Weight = w[j]
			}
			Fit(m, h, aug, o)
		})
	}
	// Only the buckets the pool holds in at least minDF of its texts, in
	// training and prediction alike: weight the 495 would put on words the
	// board never uses goes to words it does.
	for _, minDF := range []int{1, 3, 10} {
		keep := map[uint32]bool{}
		filter := func(ids []uint32) []uint32 {
			var out []uint32
			for _, f := range ids {
				if keep[f] {
					out = append(out, f)
				}
			}
			return out
		}
		out = append(out, deptSemiMethod{fmt.Sprintf("pool buckets df≥%d", minDF), func(lab []Doc, pool [][]uint32) {
			df := docFreq(pool)
			clear(keep)
			for f, n := range df {
				if n >= minDF {
					keep[f] = true
				}
			}
			aug := slices.Clone(lab)
			for i := range aug {
				aug[i].IDs = filter(aug[i].IDs)
			}
			Fit(m, h, aug, o)
		}, func(ids []uint32) []float64 { return Predict(m, h, filter(ids)) }})
	}
	return out
}

// docFreq counts the docs that hold each bucket.
func docFreq(docs [][]uint32) map[uint32]int {
	df := map[uint32]int{}
	seen := map[uint32]bool{}
	for _, ids := range docs {
		clear(seen)
		for _, f := range ids {
			if !seen[f] {
				seen[f] = true
				df[f]++
			}
		}
	}
	return df
}

// clusters maps buckets to clusters learnt from co-occurrence.
type clusters struct {
	bits uint8
	of   map[uint32]int
}

func (c *clusters) augment(ids []uint32) []uint32 {
	out := slices.Clone(ids)
	mask := uint32(1)<<c.bits - 1
	for _, f := range ids {
		if k, ok := c.of[f]; ok {
			x := uint32(k)*2654435761 + 0x9e3779b9
			x ^= x >> 15
			x *= 0x85ebca6b
			x ^= x >> 13
			out = append(out, x&mask)
		}
	}
	return out
}

// learn: the vocab buckets found in most documents, each described by
// its PPMI with the ctx most frequent buckets within 4 positions of it,
// grouped by spherical k-means into k clusters.
func (c *clusters) learn(docs [][]uint32, k, vocab, ctx int) {
	df := docFreq(docs)
	var byDF []uint32
	for f, n := range df {
		if n >= 3 {
			byDF = append(byDF, f)
		}
	}
	slices.SortFunc(byDF, func(a, b uint32) int {
		if df[a] != df[b] {
			return df[b] - df[a]
		}
		return int(a) - int(b)
	})
	if len(byDF) > vocab {
		byDF = byDF[:vocab]
	}
	vi, ci := map[uint32]int{}, map[uint32]int{}
	for i, f := range byDF {
		vi[f] = i
		if i < ctx {
			ci[f] = i
		}
	}
	V, C := len(byDF), min(ctx, len(byDF))
	co := make([]float32, V*C)
	for _, ids := range docs {
		for i, f := range ids {
			v, ok := vi[f]
			if !ok {
				continue
			}
			for j := max(0, i-4); j < min(len(ids), i+5); j++ {
				if j == i {
					continue
				}
				if cc, ok := ci[ids[j]]; ok {
					co[v*C+cc]++
				}
			}
		}
	}
	row, col := make([]float64, V), make([]float64, C)
	var tot float64
	for v := range V {
		for cc := range C {
			x := float64(co[v*C+cc])
			row[v] += x
			col[cc] += x
			tot += x
		}
	}
	for v := range V {
		var norm float64
		for cc := range C {
			x := float64(co[v*C+cc])
			pmi := 0.0
			if x > 0 {
				pmi = math.Max(0, math.Log(x*tot/(row[v]*col[cc])))
			}
			co[v*C+cc] = float32(pmi)
			norm += pmi * pmi
		}
		if norm > 0 {
			inv := float32(1 / math.Sqrt(norm))
			for cc := range C {
				co[v*C+cc] *= inv
			}
		}
	}
	k = min(k, V)
	cent := make([]float32, k*C)
	rng := rand.New(rand.NewPCG(5, 5))
	for j, v := range rng.Perm(V)[:k] {
		copy(cent[j*C:(j+1)*C], co[v*C:(v+1)*C])
	}
	assign := make([]int, V)
	for range 8 {
		for v := range V {
			x := co[v*C : (v+1)*C]
			best, bv := 0, float32(-2)
			for j := range k {
				cj := cent[j*C : (j+1)*C]
				var dot float32
				for cc, a := range x {
					dot += a * cj[cc]
				}
				if dot > bv {
					best, bv = j, dot
				}
			}
			assign[v] = best
		}
		clear(cent)
		for v, j := range assign {
			cj := cent[j*C : (j+1)*C]
			for cc, a := range co[v*C : (v+1)*C] {
				cj[cc] += a
			}
		}
		for j := range k {
			cj := cent[j*C : (j+1)*C]
			var norm float64
			for _, a := range cj {
				norm += float64(a) * float64(a)
			}
			if norm > 0 {
				inv := float32(1 / math.Sqrt(norm))
				for cc := range cj {
					cj[cc] *= inv
				}
			}
		}
	}
	c.of = make(map[uint32]int, V)
	for v, f := range byDF {
		c.of[f] = assign[v]
	}
}

// selector picks pseudo-labelled docs from a pool, given a predictor.
type selector struct {
	name string
	pick func(pool [][]uint32, predict func([]uint32) []float64, w float32) []Doc
}

// byThreshold keeps every doc whose best sector has probability ≥ t.
func byThreshold(t float64) selector {
	return selector{fmt.Sprintf("p≥%g", t), func(pool [][]uint32, predict func([]uint32) []float64, w float32) []Doc {
		var out []Doc
		for _, ids := range pool {
			p := predict(ids)
			if b := triage.Argmax(p); p[b] >= t {
				out = append(out, Doc{IDs: ids, Label: b, Weight: w})
			}
		}
		return out
	}}
}

// topPerSector keeps, of the docs predicted in each sector, the share frac
// most confident: a rare sector keeps its pseudo-labels however unsure the
// head is of it.
func topPerSector(frac float64) selector {
	return selector{fmt.Sprintf("top%g/sector", frac), func(pool [][]uint32, predict func([]uint32) []float64, w float32) []Doc {
		type cand struct {
			i int
			p float64
		}
		by := map[int][]cand{}
		for i, ids := range pool {
			p := predict(ids)
			b := triage.Argmax(p)
			by[b] = append(by[b], cand{i, p[b]})
		}
		var out []Doc
		for k := range len(Departments) {
			cs := by[k]
			slices.SortFunc(cs, func(a, b cand) int {
				if a.p != b.p {
					if a.p > b.p {
						return -1
					}
					return 1
				}
				return a.i - b.i
			})
			for _, c := range cs[:int(math.Ceil(frac*float64(len(cs))))] {
				out = append(out, Doc{IDs: pool[c.i], Label: k, Weight: w})
			}
		}
		return out
	}}
}

// emNB is a multinomial naive Bayes over hashed buckets, fitted by EM on
// labelled docs and an unlabelled pool whose counts weigh lambda.
type emNB struct {
	k, n  int
	logp  []float64 // n×k log P(bucket | sector)
	prior []float64
}

func (nb *emNB) fit(lab []Doc, pool [][]uint32, iters int, lambda float64) {
	cnt := make([]float64, nb.n*nb.k)
	tot := make([]float64, nb.k)
	docsN := make([]float64, nb.k)
	var post [][]float64
	for it := 0; it <= iters; it++ {
		clear(cnt)
		clear(tot)
		clear(docsN)
		for _, d := range lab {
			w := float64(d.Weight)
			if w == 0 {
				w = 1
			}
			for _, f := range d.IDs {
				cnt[int(f)*nb.k+d.Label] += w
				tot[d.Label] += w
			}
			docsN[d.Label] += w
		}
		for j, p := range post {
			for c, pc := range p {
				if pc < 1e-6 {
					continue
				}
				w := lambda * pc
				for _, f := range pool[j] {
					cnt[int(f)*nb.k+c] += w
					tot[c] += w
				}
				docsN[c] += w
			}
		}
		nb.logp = make([]float64, nb.n*nb.k)
		const alpha = 0.1
		for f := range nb.n {
			for c := range nb.k {
				nb.logp[f*nb.k+c] = math.Log((cnt[f*nb.k+c] + alpha) / (tot[c] + alpha*float64(nb.n)))
			}
		}
		nb.prior = make([]float64, nb.k)
		// A uniform prior: macro-F1 counts each sector alike (the 495's
		// counts would favour 城乡建设).
		if it == iters {
			break
		}
		post = make([][]float64, len(pool))
		for j, ids := range pool {
			post[j] = nb.predict(ids)
		}
	}
}

func (nb *emNB) predict(ids []uint32) []float64 {
	s := make([]float64, nb.k)
	mx := math.Inf(-1)
	for c := range nb.k {
		v := nb.prior[c]
		for _, f := range ids {
			v += nb.logp[int(f)*nb.k+c]
		}
		s[c] = v
		mx = max(mx, v)
	}
	sum := 0.0
	for c := range s {
		s[c] = math.Exp(s[c] - mx)
		sum += s[c]
	}
	for c := range s {
		s[c] /= sum
	}
	return s
}
