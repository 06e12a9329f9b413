package triage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// Head is one classifier sharing the model's features: a linear score per
// label, turned into probabilities by a softmax at Temperature.
type Head struct {
	Name   string    `json:"name"`
	Labels []string  `json:"labels"`
	Bias   []float32 `json:"bias"`
	// Temperature divides the scores before the softmax; fitted on held-out
	// folds so that confidences are calibrated.
	Temperature float32 `json:"temperature"`
	// Bands, when set, calibrate texts by length: a text of fewer words
	// (Model.Words) than a band's Below, and not fewer than the band
	// before's, is calibrated at the band's Temperature (TemperatureFor);
	// one at or past the last band's Below at Temperature. The class and
	// department heads have them: one temperature was too cool for short
	// texts and, for the class head, too warm for long ones
	// (learn.lengthBands).
	Bands []Band `json:"bands,omitempty"`
	col   int
	index int // in Model.Heads
}

// Band is a length band of Head.Bands.
type Band struct {
	Below       int     `json:"below"`
	Temperature float32 `json:"temperature"`
	// Offsets, when set, one per label, are added to the scores after
	// dividing them by Temperature. A head trained with its classes
	// balanced answers a text with little in it near an even prior, which
	// for a short text over-states the rare classes: the class head called
	// 72 held-out service titles discipline. Offsets fitted with the
	// temperature on the band's held-out texts give those texts the
	// classes' real rates back (learn.lengthBands). The engine uses them
	// only for the confidence of the class the scores chose.
	Offsets []float32 `json:"offsets,omitempty"`
}

// MaxBandOffset bounds a band's offsets in a model file.
const MaxBandOffset = 20

// BandFor is the band a text of words words is calibrated in (Bands); past
// the last band, or with none, a band at the head's one temperature.
func (h *Head) BandFor(words int) Band {
	for _, b := range h.Bands {
		if words < b.Below {
			return b
		}
	}
	return Band{Temperature: h.Temperature}
}

// ProbIn is the probability of label k from head h's part of raw scores
// calibrated in band b: at its temperature, plus its offsets (Probs, for
// one label, another temperature and offsets).
func (h *Head) ProbIn(scores []float32, k int, b Band) float64 {
	s := scores[h.col : h.col+len(h.Labels)]
	if b.Temperature <= 0 { // a model built in code, never read from a file: as Probs
		b.Temperature = 1
	}
	off := func(j int) float64 {
		if b.Offsets == nil {
			return 0
		}
		return float64(b.Offsets[j])
	}
	mx := float32(math.Inf(-1))
	for _, x := range s {
		mx = max(mx, x)
	}
	// As Probs: the top score gives exp(0 + its offset), and offsets are
	// within ±MaxBandOffset, so the sum neither overflows nor vanishes.
	sum := 0.0
	for j, x := range s {
		sum += math.Exp(float64((x-mx)/b.Temperature) + off(j))
	}
	return math.Exp(float64((s[k]-mx)/b.Temperature)+off(k)) / sum
}

// Model is a set of linear heads over hashed character n-grams. The weights
// are one dense matrix, a row per feature bucket and a column per label of
// every head, so that one pass over an item's features scores every head.
type Model struct {
	Version     string `json:"version"`
	Bits        uint8  `json:"bits"`
	TitleRepeat int    `json:"title_repeat"`
	Heads       []Head `json:"heads"`
	// Grams are extra kinds of features (GramTrigrams, GramSkip), 0 for
	// none. When set, the characters, pairs, words and symbols take the
	// lower half of the buckets and the extra kinds the upper half, so that
	// training can weigh them apart (learn.Options.GramWeight). An
	// experiment, off in the committed model.
	Grams uint8 `json:"grams,omitempty"`
	// Meta records how the model was made (data, method, metrics) for the
	// model card.
	Meta map[string]any `json:"meta,omitempty"`
	cols int
	// w holds float weights while training; q the weights quantised to
	// int8 with a scale per head (scale): a quarter of the memory, so more
	// of it stays in cache. A loaded model keeps them only as pk.
	w     []float32
	q     []int8
	scale []float32 // per column
	// pk is q laid out for scoring (see packed), nil when the heads do
	// not fit; then q is scored.
	pk *packed
}

// lean is how much bucket f favours label k of head h, in q units above the
// mean of the head's labels, when k is the label it favours most (the first
// on a tie) and by more than least; otherwise 0. It runs for the features
// of an item when a decision is explained (the rows are in cache by then:
// scoring has just read them), so it avoids the division unless the bucket
// qualifies, and data-dependent branches before that.
func (m *Model) lean(h *Head, f uint32, k int, least int32) int32 {
	if p := m.pk; p != nil {
		return p.lean(h, f, k, least)
	}
	o := int(f)*m.cols + h.col
	return leanRow(m.q[o:o+len(h.Labels)], k, least)
}

func leanRow(row []int8, k int, least int32) int32 {
	x := int32(row[k])
	var sum int32
	before, after := int32(math.MinInt8), int32(math.MinInt8) // best of the labels before k and after it
	for j, y := range row {
		v := int32(y)
		sum += v
		if j < k {
			before = max(before, v)
		} else if j > k {
			after = max(after, v)
		}
	}
	n := int32(len(row))
	num := x*n - sum // ≥ 0 when k is the best label
	if x <= before || x < after || num < (least+1)*n {
		return 0
	}
	return min(num/n, 255)
}

// strongLean is the lean (see lean) from which a bucket counts as strong:
// scoring collects the features strong for the marked head (see packed),
// and explaining looks at those first; when three of them that do not
// overlap lean to the label by at least this much, they are the ones named
// and no other bucket is looked at (Engine.explain). With some 60 strong
// features an item, most class explanations of the 附件3 letters need no
// other pass.
const strongLean = 48

// packed is the layout a quantised model is scored with when its heads fit
// in 15 bytes a bucket: a 16-byte row per bucket, so that a row is one
// aligned read and four rows share a cache line. A head of two labels whose
// weights are exact opposites (as training makes them: the gradients of a
// two-way softmax are) keeps one column, label 1's, and label 0 is its
// negation; the other heads keep a column per label. The last byte of a
// row is the mark of one head of three to seven labels, the first such
// (the class head): its best label for the bucket (plus one, in the top
// three bits) and the lean to it divided by 8 (the low five, at most 31).
type packed struct {
	rows []byte
	col  []int  // per head: the column of its first label, or of label 1 when bin
	bin  []bool // per head: one column for two labels
	mark int    // the marked head's index; -1: none
}

const (
	packedRow  = 16
	packedMark = packedRow - 1 // the mark byte
	markShift  = 5             // label+1 above, lean/8 below
	markLevel  = 1<<markShift - 1
)

// pack builds m.pk from m.q when the heads fit; otherwise m.pk stays nil
// and scoring reads m.q.
func (m *Model) pack() {
	m.pk = nil
	if m.q == nil {
		return
	}
	p := &packed{col: make([]int, len(m.Heads)), bin: make([]bool, len(m.Heads)), mark: -1}
	cols := 0
	for i, h := range m.Heads {
		p.col[i] = cols
		if len(h.Labels) == 2 && m.opposite(&h) {
			p.bin[i] = true
			cols++
			continue
		}
		cols += len(h.Labels)
		if p.mark < 0 && len(h.Labels) <= 1<<(8-markShift)-1 {
			p.mark = i
		}
	}
	if cols > packedMark {
		return
	}
	n := 1 << m.Bits
	p.rows = make([]byte, n*packedRow)
	for f := range n {
		row := p.rows[f*packedRow : (f+1)*packedRow]
		src := m.q[f*m.cols : (f+1)*m.cols]
		for i := range m.Heads {
			h := &m.Heads[i]
			if p.bin[i] {
				row[p.col[i]] = byte(src[h.col+1])
				continue
			}
			w := src[h.col : h.col+len(h.Labels)]
			for k := range h.Labels {
				row[p.col[i]+k] = byte(w[k])
			}
			if i == p.mark {
				best := 0
				for k := range w {
					if w[k] > w[best] {
						best = k
					}
				}
				level := min(leanRow(w, best, -1)>>3, markLevel)
				row[packedMark] = byte(best+1)<<markShift | byte(level)
			}
		}
	}
	m.pk = p
}

// int8 returns the int8 matrix, rebuilt from the packed rows when a loaded
// model dropped it.
func (m *Model) int8() []int8 {
	if m.q != nil || m.pk == nil {
		return m.q
	}
	p := m.pk
	q := make([]int8, (1<<m.Bits)*m.cols)
	for f := range 1 << m.Bits {
		row := p.rows[f*packedRow : (f+1)*packedRow]
		for i, h := range m.Heads {
			o := f*m.cols + h.col
			if p.bin[i] {
				q[o], q[o+1] = -int8(row[p.col[i]]), int8(row[p.col[i]])
				continue
			}
			for k := range h.Labels {
				q[o+k] = int8(row[p.col[i]+k])
			}
		}
	}
	return q
}

// opposite reports whether head h's two columns are exact opposites.
func (m *Model) opposite(h *Head) bool {
	if m.scale[h.col] != m.scale[h.col+1] {
		return false
	}
	for f := range 1 << m.Bits {
		o := f*m.cols + h.col
		if int32(m.q[o]) != -int32(m.q[o+1]) {
			return false
		}
	}
	return true
}

// lean is Model.lean on the packed rows.
func (p *packed) lean(h *Head, f uint32, k int, least int32) int32 {
	i := h.index
	o := int(f)*packedRow + p.col[i]
	if p.bin[i] {
		x := int32(int8(p.rows[o])) // label 1's weight; label 0's is -x
		if k == 0 {
			x = -x
		}
		// the lean of the better of two labels is its weight: (x - (-x)) / 2
		if x <= least {
			return 0
		}
		return x
	}
	if i == p.mark {
		// only the best label leans; and by less than 8 × (level + 1)
		mk := p.rows[int(f)*packedRow+packedMark]
		if int(mk>>markShift) != k+1 || int32(mk&markLevel) < markLevel && int32(mk&markLevel)*8+7 <= least {
			return 0
		}
	}
	row := unsafe.Slice((*int8)(unsafe.Pointer(&p.rows[o])), len(h.Labels))
	return leanRow(row, k, least)
}

// Head names in the default model.
const (
	HeadScreen     = "screen"     // spam | ham
	HeadClass      = "class"      // the five classes
	HeadLead       = "lead"       // no | yes
	HeadDepartment = "department" // the seven first-level sectors
)

// NewModel allocates a zero model with the given heads, with float weights
// for training.
func NewModel(version string, bits uint8, heads []Head) (*Model, error) {
	m, err := newModel(version, bits, heads)
	if err != nil {
		return nil, err
	}
	m.w = make([]float32, (1<<bits)*m.cols)
	return m, nil
}

func newModel(version string, bits uint8, heads []Head) (*Model, error) {
	if bits < 10 || bits > 24 {
		return nil, fmt.Errorf("bits %d outside 10..24", bits)
	}
	m := &Model{Version: version, Bits: bits, TitleRepeat: 2, Heads: heads}
	m.layout()
	for i := range m.Heads {
		h := &m.Heads[i]
		if len(h.Bias) != len(h.Labels) {
			h.Bias = make([]float32, len(h.Labels))
		}
		if h.Temperature == 0 {
			h.Temperature = 1
		}
	}
	return m, nil
}

func (m *Model) layout() {
	m.cols = 0
	for i := range m.Heads {
		m.Heads[i].col, m.Heads[i].index = m.cols, i
		m.cols += len(m.Heads[i].Labels)
	}
}

// Head returns the head named name, or nil.
func (m *Model) Head(name string) *Head {
	for i := range m.Heads {
		if m.Heads[i].Name == name {
			return &m.Heads[i]
		}
	}
	return nil
}

func (m *Model) mask() uint32 { return 1<<m.Bits - 1 }

// GramRow says whether bucket f holds the extra kinds of Model.Grams.
func (m *Model) GramRow(f uint32) bool { return m.Grams != 0 && f >= 1<<(m.Bits-1) }

// setGrams readies x for the model's features: the buckets of the usual
// kinds within the returned mask, those of Model.Grams above it.
func (m *Model) setGrams(x *extractor) uint32 {
	x.grams = m.Grams
	if m.Grams == 0 {
		return m.mask()
	}
	x.gtop = 1 << (m.Bits - 1)
	x.gmask = x.gtop - 1
	return x.gmask
}

// Weights returns the weight row slice of head h for feature bucket f; the
// trainer writes through it.
func (m *Model) Weights(h *Head, f uint32) []float32 {
	o := int(f)*m.cols + h.col
	return m.w[o : o+len(h.Labels) : o+len(h.Labels)]
}

// Featurize appends the feature buckets of an item's title and body to ids.
// The texts are normalised first.
func (m *Model) Featurize(ids []uint32, title, body string) []uint32 {
	var buf [4096]byte
	x := extractor{ids: ids}
	m.featurize(buf[:0], &x, title, body)
	return x.ids
}

// featurize normalises title and body into buf (title, a line break, body)
// and appends the features of both to x, the title's TitleRepeat times. It
// counts x.meaningful and x.found afresh.
func (m *Model) featurize(buf []byte, x *extractor, title, body string) []byte {
	buf = appendNormalized(buf, title)
	tl := len(buf)
	buf = append(buf, '\n')
	buf = appendNormalized(buf, body)
	x.meaningful, x.words, x.repeats, x.han, x.variety = 0, 0, 0, 0, 0
	if x.kw != nil {
		clear(x.found)
	}
	i0, s0 := len(x.ids), len(x.spans)
	mask := m.setGrams(x)
	x.extract(buf, 0, tl, seedText, mask)
	i1, s1 := len(x.ids), len(x.spans)
	for range m.TitleRepeat - 1 { // the same features again: the first copy, not all so far
		x.ids = append(x.ids, x.ids[i0:i1]...)
		x.spans = append(x.spans, x.spans[s0:s1]...)
	}
	x.extract(buf, tl+1, len(buf), seedText, mask)
	return buf
}

// Words counts the Chinese characters (but a repeat of the one before) and
// Latin words (numbers aside) of an item's normalised title and body: the
// measure of how much text there is that Config.LeadMinWords applies.
func (m *Model) Words(title, body string) int {
	var buf [4096]byte
	x := extractor{}
	m.featurize(buf[:0], &x, title, body)
	return x.words
}

// Value is the value of each feature occurrence for a document with n of
// them: the document vector has unit length when no feature repeats.
func Value(n int) float32 {
	if n == 0 {
		return 0
	}
	return float32(1 / math.Sqrt(float64(n)))
}

// Scores adds the raw scores of every head for the features ids into out
// (len = total labels), biases included.
func (m *Model) Scores(ids []uint32, out []float32) {
	m.scores(ids, out, nil, false)
}

// scores is Scores that, with collect, also appends to cand the positions
// in ids of the features whose buckets are strong (lean ≥ strongLean) for
// a label of the marked head, when the model is packed (see packed).
func (m *Model) scores(ids []uint32, out []float32, cand []int32, collect bool) []int32 {
	switch {
	case m.pk != nil:
		return m.scoresPacked(ids, out, cand, collect)
	case m.q == nil:
		m.scoresFloat(ids, out)
		return cand
	}
	cols := m.cols
	acc := make([]int32, cols)
	for _, f := range ids {
		row := m.q[int(f)*cols : int(f)*cols+cols]
		for k, x := range row {
			acc[k] += int32(x)
		}
	}
	v := Value(len(ids))
	for _, h := range m.Heads {
		for k := range h.Labels {
			c := h.col + k
			out[c] = h.Bias[k] + float32(acc[c])*m.scale[c]*v
		}
	}
	return cand
}

// scoresPacked sums the packed rows of ids in two passes. The first only
// brings the rows into the cache (prefetchRows): a loop that short keeps
// many rows' loads in flight at once, and an item of a thousand bytes has
// some 650 rows scattered over the 4 MiB table, so waiting on them is most
// of the cost. The second sums the rows, now in cache, in 16-bit lanes
// (sumRows: SSE2 on amd64, 64-bit words elsewhere), each byte biased to
// unsigned (x+128, by flipping its top bit). A lane holds at most 256
// rows of 255 before it is emptied into acc; the bias is taken off then.
func (m *Model) scoresPacked(ids []uint32, out []float32, cand []int32, collect bool) []int32 {
	const batch = 256
	p := m.pk
	base := unsafe.Pointer(unsafe.SliceData(p.rows))
	mask := m.mask()
	t := prefetchRows(base, ids, mask)
	nc := len(cand)
	if collect {
		cand = slices.Grow(cand, len(ids))[:nc+len(ids)]
	}
	var acc [packedRow]int32
	acc[packedMark] = int32(t) // a byte read must be used; this column is not a score
	for at := 0; at < len(ids); at += batch {
		chunk := ids[at:min(at+batch, len(ids))]
		var l [packedRow]uint16
		if collect {
			var n int
			l, n = sumRows(base, mask, chunk, cand[nc:], at)
			nc += n
		} else {
			var spare [batch]int32 // the positions, not wanted
			l, _ = sumRows(base, mask, chunk, spare[:], at)
		}
		for k := range packedMark {
			acc[k] += int32(l[k]) - int32(128*len(chunk))
		}
	}
	v := Value(len(ids))
	for i, h := range m.Heads {
		c := p.col[i]
		if p.bin[i] {
			sum := float32(acc[c]) * m.scale[h.col+1] * v
			out[h.col], out[h.col+1] = h.Bias[0]-sum, h.Bias[1]+sum
			continue
		}
		for k := range h.Labels {
			out[h.col+k] = h.Bias[k] + float32(acc[c+k])*m.scale[h.col+k]*v
		}
	}
	if collect {
		cand = cand[:nc]
	}
	return cand
}

const (
	swarLanes = 0x00FF00FF00FF00FF
	swarFlip  = 0x8080808080808080
)

// sumRowsGo sums the packed rows of chunk (at most 256) by column, each
// byte biased by 128 (so that 256 rows fit in 16 bits): sumRows on
// architectures without one of their own (rows_amd64.s), and the
// reference the tests hold that to. It sums in 16-bit lanes: the even and
// odd columns of bytes 0-7, then of bytes 8-15, four sums in registers.
// It also writes to cand the positions (chunk's start at, plus the index
// in chunk) of the rows whose mark is strong, returning how many; cand has
// room for all of chunk. The mark is the top byte of the second word that
// the sum reads anyway (flipped at bit 7, which the level does not use),
// so it costs no load: a pass of its own over the rows, from the
// second-level cache by then, had cost a sixth of scoring. Each position
// is written, and counted only when strong, so that no branch depends on
// the weights.
func sumRowsGo(base unsafe.Pointer, mask uint32, chunk []uint32, cand []int32, at int) (sums [packedRow]uint16, n int) {
	var e0, o0, e1, o1 uint64
	cand = cand[:len(chunk)]
	for i, f := range chunk {
		// Little-endian loads, so that byte k of a word is column k on
		// every architecture (a plain 8-byte load on amd64 and arm64): a
		// big-endian one (s390x, ppc64) reading the words as stored summed
		// each column into another's score and read the mark from byte 8.
		r := (*[packedRow]byte)(unsafe.Add(base, int(f&mask)*packedRow))
		x := binary.LittleEndian.Uint64(r[:8]) ^ swarFlip
		y := binary.LittleEndian.Uint64(r[8:]) ^ swarFlip
		e0 += x & swarLanes
		o0 += x >> 8 & swarLanes
		e1 += y & swarLanes
		o1 += y >> 8 & swarLanes
		cand[n] = int32(at + i)
		// level ≥ strongLean/8 carries into bit markShift: 1 when strong
		n += int((y>>(8*(packedMark-8))&markLevel + (markLevel + 1 - strongLean/8)) >> markShift)
	}
	for k := range 4 {
		sh := 16 * k
		sums[2*k], sums[2*k+1] = uint16(e0>>sh), uint16(o0>>sh)
		sums[8+2*k], sums[9+2*k] = uint16(e1>>sh), uint16(o1>>sh)
	}
	return sums, n
}

func (m *Model) scoresFloat(ids []uint32, out []float32) {
	for _, h := range m.Heads {
		copy(out[h.col:h.col+len(h.Labels)], h.Bias)
	}
	v := Value(len(ids))
	cols := m.cols
	acc := out[:cols]
	for _, f := range ids {
		row := m.w[int(f)*cols : int(f)*cols+cols]
		for k := range acc {
			acc[k] += row[k] * v
		}
	}
}

// ScoreHead returns head h's raw scores from the float weights (training).
func (m *Model) ScoreHead(h *Head, ids []uint32, out []float32) []float32 {
	out = append(out[:0], h.Bias...)
	v := Value(len(ids))
	k := len(h.Labels)
	for _, f := range ids {
		o := int(f)*m.cols + h.col
		row := m.w[o : o+k]
		for j := range out {
			out[j] += row[j] * v
		}
	}
	return out
}

// contrast is label k's float weight for bucket f minus the mean of head
// h's weights for it (n labels): how much the feature favours k, for a
// model still in training (a quantised one is explained through lean).
func (m *Model) contrast(h *Head, f uint32, k int, n float32) float32 {
	o := int(f)*m.cols + h.col
	row := m.w[o : o+len(h.Labels)]
	var sum float32
	for _, x := range row {
		sum += x
	}
	return row[k] - sum/n
}

// Quantize turns the float weights into int8 with one scale per head and
// drops the floats; the model then scores as a loaded one does.
func (m *Model) Quantize() {
	if m.w == nil {
		return
	}
	m.q = make([]int8, len(m.w))
	m.scale = make([]float32, m.cols)
	for _, h := range m.Heads {
		var mx float32
		for f := 0; f < 1<<m.Bits; f++ {
			for k := range h.Labels {
				x := m.w[f*m.cols+h.col+k]
				mx = max(mx, x, -x)
			}
		}
		s := mx / 127
		if s == 0 {
			s = 1
		}
		for k := range h.Labels {
			m.scale[h.col+k] = s
		}
		for f := 0; f < 1<<m.Bits; f++ {
			for k := range h.Labels {
				o := f*m.cols + h.col + k
				m.q[o] = int8(math.Round(float64(m.w[o] / s)))
			}
		}
	}
	m.w = nil
	m.pack()
}

// Probs turns head h's part of raw scores into probabilities in p.
func (h *Head) Probs(scores []float32, p []float64) []float64 {
	p = p[:0]
	s := scores[h.col : h.col+len(h.Labels)]
	mx := float32(math.Inf(-1))
	for _, x := range s {
		mx = max(mx, x)
	}
	t := h.Temperature
	if t <= 0 {
		t = 1
	}
	sum := 0.0
	for _, x := range s {
		e := math.Exp(float64((x - mx) / t))
		p = append(p, e)
		sum += e
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// Cols is the total number of labels over all heads.
func (m *Model) Cols() int { return m.cols }

// Col is the column of head h's first label.
func (h *Head) Col() int { return h.col }

const modelMagic = "MSTRIAGE1\n"

// Write saves the model, quantising it first: a JSON header, then per head
// its scale and its non-zero rows (bucket, int8 weights), gzipped.
func (m *Model) Write(w io.Writer) error {
	m.Quantize()
	q := m.int8()
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	hdr, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("model header: %w", err)
	}
	bw.WriteString(modelMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hdr)))
	bw.Write(hdr)
	rows := 1 << m.Bits
	for _, h := range m.Heads {
		k := len(h.Labels)
		binary.Write(bw, binary.LittleEndian, m.scale[h.col])
		var n uint32
		for f := range rows {
			if nonzero(q[f*m.cols+h.col : f*m.cols+h.col+k]) {
				n++
			}
		}
		binary.Write(bw, binary.LittleEndian, n)
		// buckets as deltas, then the rows: both compress better apart
		prev := 0
		for f := range rows {
			if nonzero(q[f*m.cols+h.col : f*m.cols+h.col+k]) {
				binary.Write(bw, binary.LittleEndian, uint32(f-prev))
				prev = f
			}
		}
		for f := range rows {
			row := q[f*m.cols+h.col : f*m.cols+h.col+k]
			if nonzero(row) {
				binary.Write(bw, binary.LittleEndian, row)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return zw.Close()
}

func nonzero(r []int8) bool {
	for _, x := range r {
		if x != 0 {
			return true
		}
	}
	return false
}

// ErrBadModel: a model file is truncated, corrupt or of another format.
var ErrBadModel = errors.New("not a triage model")

// ReadModel loads a model written by Write.
func ReadModel(r io.Reader) (*Model, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	br := bufio.NewReader(zr)
	magic := make([]byte, len(modelMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != modelMagic {
		return nil, fmt.Errorf("%w: bad magic", ErrBadModel)
	}
	var n uint32
	if err := binary.Read(br, binary.LittleEndian, &n); err != nil || n > 1<<24 {
		return nil, fmt.Errorf("%w: bad header length", ErrBadModel)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	var m Model
	dec := json.NewDecoder(bytes.NewReader(hdr))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrBadModel, err)
	}
	if err := m.checkHeader(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	mm, err := newModel(m.Version, m.Bits, m.Heads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	mm.TitleRepeat, mm.Meta, mm.Grams = m.TitleRepeat, m.Meta, m.Grams
	mm.q = make([]int8, (1<<mm.Bits)*mm.cols)
	mm.scale = make([]float32, mm.cols)
	for _, h := range mm.Heads {
		var scale float32
		var cnt uint32
		if err := binary.Read(br, binary.LittleEndian, &scale); err != nil {
			return nil, fmt.Errorf("%w: head %q: %w", ErrBadModel, h.Name, err)
		}
		if !(scale > 0 && scale <= maxScale) { // NaN too
			return nil, fmt.Errorf("%w: head %q: scale %v, want above 0 and at most %v", ErrBadModel, h.Name, scale, maxScale)
		}
		if err := binary.Read(br, binary.LittleEndian, &cnt); err != nil {
			return nil, fmt.Errorf("%w: head %q: %w", ErrBadModel, h.Name, err)
		}
		if cnt > 1<<mm.Bits {
			return nil, fmt.Errorf("%w: head %q: %d rows", ErrBadModel, h.Name, cnt)
		}
		k := len(h.Labels)
		for j := range k {
			mm.scale[h.col+j] = scale
		}
		buckets := make([]uint32, cnt)
		if err := binary.Read(br, binary.LittleEndian, buckets); err != nil {
			return nil, fmt.Errorf("%w: head %q: %w", ErrBadModel, h.Name, err)
		}
		f := uint64(0)
		row := make([]int8, k)
		for i, d := range buckets {
			if d == 0 && i > 0 { // Write writes each bucket once, in order
				return nil, fmt.Errorf("%w: head %q: bucket %d repeated", ErrBadModel, h.Name, f)
			}
			f += uint64(d)
			if f >= 1<<mm.Bits {
				return nil, fmt.Errorf("%w: head %q: bucket %d out of range", ErrBadModel, h.Name, f)
			}
			if err := binary.Read(br, binary.LittleEndian, row); err != nil {
				return nil, fmt.Errorf("%w: head %q: %w", ErrBadModel, h.Name, err)
			}
			copy(mm.q[int(f)*mm.cols+h.col:], row)
		}
	}
	// The last row must end the stream: reading on to io.EOF is also what
	// makes the gzip reader check the CRC-32 and length in its trailer.
	switch _, err := br.ReadByte(); {
	case err == nil:
		return nil, fmt.Errorf("%w: data after the last row", ErrBadModel)
	case err != io.EOF:
		return nil, fmt.Errorf("%w: end of stream: %w", ErrBadModel, err)
	}
	mm.pack()
	if mm.pk != nil {
		mm.q = nil // the packed rows hold the same weights (int8 rebuilds them)
	}
	return mm, nil
}

// MaxTitleRepeat bounds Model.TitleRepeat in a model file: a title counted
// more often than this would outweigh any body.
const MaxTitleRepeat = 8

// checkHeader reports what is wrong with a model file's header, before
// newModel fills in defaults (a bias per label, temperature 1) that would
// hide it.
func (m *Model) checkHeader() error {
	if m.TitleRepeat < 1 || m.TitleRepeat > MaxTitleRepeat {
		return fmt.Errorf("title_repeat %d outside 1..%d", m.TitleRepeat, MaxTitleRepeat)
	}
	if m.Grams&^gramsAll != 0 {
		return fmt.Errorf("grams %d: unknown kinds", m.Grams)
	}
	cols := 0
	for _, h := range m.Heads {
		cols += len(h.Labels)
	}
	if cols > maxCols || m.Bits <= 24 && (1<<m.Bits)*cols > maxCells {
		return fmt.Errorf("%d labels over %d heads at %d bits: a weight table of more than %d cells", cols, len(m.Heads), m.Bits, maxCells)
	}
	for _, h := range m.Heads {
		if len(h.Labels) < 2 || len(h.Bias) != len(h.Labels) {
			return fmt.Errorf("head %q has %d labels and %d biases", h.Name, len(h.Labels), len(h.Bias))
		}
		if !temperatureOK(h.Temperature) {
			return fmt.Errorf("head %q: temperature %v, want %v to %v", h.Name, h.Temperature, minTemperature, maxTemperature)
		}
		for i, b := range h.Bands {
			if !temperatureOK(b.Temperature) {
				return fmt.Errorf("head %q: band %d: temperature %v, want %v to %v", h.Name, i, b.Temperature, minTemperature, maxTemperature)
			}
			if b.Below < 1 || i > 0 && b.Below <= h.Bands[i-1].Below {
				return fmt.Errorf("head %q: band %d: below %d, want 1 or more and above the band before's", h.Name, i, b.Below)
			}
			if b.Offsets != nil && len(b.Offsets) != len(h.Labels) {
				return fmt.Errorf("head %q: band %d: %d offsets for %d labels", h.Name, i, len(b.Offsets), len(h.Labels))
			}
			for k, o := range b.Offsets {
				if !finite(o) || o < -MaxBandOffset || o > MaxBandOffset {
					return fmt.Errorf("head %q: band %d: offset %d is %v, want within ±%d", h.Name, i, k, o, MaxBandOffset)
				}
			}
		}
		for k, b := range h.Bias {
			if !(b >= -maxBias && b <= maxBias) { // NaN too
				return fmt.Errorf("head %q: bias %d is %v, want within ±%v", h.Name, k, b, maxBias)
			}
		}
	}
	return nil
}

// Bounds on a model file's numbers, far above any trained model's (scales
// about 0.01-0.06, biases a few units, 16 labels at 18 bits) and low enough
// that no text's scores overflow and no file makes ReadModel allocate more
// than 256 MiB of weights. A crafted class scale of 3e38 had made every
// confidence NaN, which no review threshold catches.
const (
	maxScale = 1
	maxBias  = 1000
	maxCols  = 64
	maxCells = 1 << 28
)

// A temperature in a model file is within these: scores divided by one
// nearer 0 overflow to infinity, and training fits them in 0.2 to 5.
const minTemperature, maxTemperature = 0.01, 100

func temperatureOK(t float32) bool { return t >= minTemperature && t <= maxTemperature } // false for NaN

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Labels of head name, for messages.
func (m *Model) describe() string {
	var b strings.Builder
	for i, h := range m.Heads {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s(%s)", h.Name, strings.Join(h.Labels, "|"))
	}
	return b.String()
}
