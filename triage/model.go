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
	"strings"
	"sync"
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
	col         int
}

// Model is a set of linear heads over hashed character n-grams. The weights
// are one dense matrix, a row per feature bucket and a column per label of
// every head, so that one pass over an item's features scores every head.
type Model struct {
	Version     string `json:"version"`
	Bits        uint8  `json:"bits"`
	TitleRepeat int    `json:"title_repeat"`
	Heads       []Head `json:"heads"`
	// Meta records how the model was made (data, method, metrics) for the
	// model card.
	Meta map[string]any `json:"meta,omitempty"`
	cols int
	// w holds float weights while training; q the weights quantised to
	// int8 with a scale per head (scale), which is what a loaded model
	// scores with: a quarter of the memory, so more of it stays in cache.
	w     []float32
	q     []int8
	scale []float32 // per column
	// strongBits holds, per head and label, a bit per bucket: is it
	// strong for the label (see strong)? Built per head on first use.
	strongBits [][][]uint64
	strongOnce []sync.Once
}

// lean is how much bucket f favours label k of head h, in q units above the
// mean of the head's labels, when k is the label it favours most (the first
// on a tie) and by more than least; otherwise 0. It runs for every feature
// of an item when a decision is explained (the rows are in cache by then:
// Scores has just read them), so it avoids the division unless the bucket
// qualifies, and data-dependent branches before that.
func (m *Model) lean(h *Head, f uint32, k int, least int32) int32 {
	o := int(f)*m.cols + h.col
	row := m.q[o : o+len(h.Labels)]
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

// strongLean is the lean (see lean) from which a bucket counts as strong
// for a label. Explaining looks at the strong buckets first; when three of
// them lean by at least this much, no other bucket can be among the top
// three. On the 附件3 letters the third-best class feature leans by 38 or
// more in 99 % of them, so the other pass is rare.
const strongLean = 32

// strong returns the bitmap of buckets strong for label k of head h (bit
// f set: lean(h, f, k) ≥ strongLean), built for all of h's labels the
// first time h is explained (the department head never is); nil for a
// float model.
func (m *Model) strong(h *Head, k int) []uint64 {
	if m.q == nil {
		return nil
	}
	i := 0
	for i < len(m.Heads) && &m.Heads[i] != h {
		i++
	}
	if i == len(m.Heads) {
		return nil
	}
	m.strongOnce[i].Do(func() {
		m.strongBits[i] = make([][]uint64, len(h.Labels))
		for l := range h.Labels {
			bits := make([]uint64, (1<<m.Bits+63)/64)
			for f := range uint32(1) << m.Bits {
				if m.lean(h, f, l, strongLean-1) > 0 {
					bits[f/64] |= 1 << (f % 64)
				}
			}
			m.strongBits[i][l] = bits
		}
	})
	return m.strongBits[i][k]
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
	m.strongBits = make([][][]uint64, len(m.Heads))
	m.strongOnce = make([]sync.Once, len(m.Heads))
	m.cols = 0
	for i := range m.Heads {
		m.Heads[i].col = m.cols
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
	_, ids, _, _ = m.featurize(buf[:0], ids, nil, false, title, body)
	return ids
}

// featurize normalises title and body into buf (title, a line break, body)
// and appends the features of both, the title's TitleRepeat times, with
// their spans in buf when wantSpans. It returns the count of Chinese
// characters and Latin letters in buf.
func (m *Model) featurize(buf []byte, ids []uint32, spans []span, wantSpans bool, title, body string) ([]byte, []uint32, []span, int) {
	buf = appendNormalized(buf, title)
	tl := len(buf)
	buf = append(buf, '\n')
	buf = appendNormalized(buf, body)
	i0, s0 := len(ids), len(spans)
	ids, spans, meaningful := extract(buf[:tl], seedText, m.mask(), ids, spans, wantSpans)
	for range m.TitleRepeat - 1 { // the same features again
		ids = append(ids, ids[i0:]...)
		spans = append(spans, spans[s0:]...)
	}
	b := len(spans)
	ids, spans, n := extract(buf[tl+1:], seedText, m.mask(), ids, spans, wantSpans)
	for i := b; i < len(spans); i++ {
		spans[i].start += int32(tl + 1)
		spans[i].end += int32(tl + 1)
	}
	return buf, ids, spans, meaningful + n
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
	if m.q == nil {
		m.scoresFloat(ids, out)
		return
	}
	const maxCols = 32
	var acc [maxCols]int32
	cols := m.cols
	if cols > maxCols {
		m.scoresFloat(ids, out)
		return
	}
	a := acc[:cols]
	if cols == 16 { // the default heads
		m.scores16(ids, &acc)
	} else {
		for _, f := range ids {
			row := m.q[int(f)*cols : int(f)*cols+cols]
			for k, x := range row {
				a[k] += int32(x)
			}
		}
	}
	v := Value(len(ids))
	for _, h := range m.Heads {
		for k := range h.Labels {
			c := h.col + k
			out[c] = h.Bias[k] + float32(a[c])*m.scale[c]*v
		}
	}
}

// scores16 sums 16-column rows eight bytes at a time (SWAR): each byte is
// biased to unsigned (x+128, by flipping its top bit) and its word split
// into four 16-bit lanes of even and four of odd columns, so one 64-bit add
// sums four columns. A lane holds at most 256 rows of 255 before it is
// emptied into acc; the bias is taken off at the end. This does a quarter of
// the adds of a column loop, and the shorter loop keeps more row loads in
// flight, which is what an item of a thousand bytes waits on.
func (m *Model) scores16(ids []uint32, acc *[32]int32) {
	const (
		lanes = 0x00FF00FF00FF00FF
		flip  = 0x8080808080808080
		batch = 256
	)
	q := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m.q))), len(m.q))
	for len(ids) > 0 {
		n := min(len(ids), batch)
		var e0, o0, e1, o1 uint64 // even and odd columns of bytes 0-7 and 8-15
		for _, f := range ids[:n] {
			row := q[int(f)*16 : int(f)*16+16]
			x := binary.LittleEndian.Uint64(row[:8]) ^ flip
			y := binary.LittleEndian.Uint64(row[8:]) ^ flip
			e0 += x & lanes
			o0 += x >> 8 & lanes
			e1 += y & lanes
			o1 += y >> 8 & lanes
		}
		for l := range 4 {
			sh := 16 * l
			acc[2*l] += int32(e0 >> sh & 0xFFFF)
			acc[2*l+1] += int32(o0 >> sh & 0xFFFF)
			acc[8+2*l] += int32(e1 >> sh & 0xFFFF)
			acc[9+2*l] += int32(o1 >> sh & 0xFFFF)
		}
		for k := range 16 {
			acc[k] -= int32(128 * n)
		}
		ids = ids[n:]
	}
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

// contrast is label k's weight for bucket f minus the mean of head h's
// weights for it (n labels): how much the feature favours k.
func (m *Model) contrast(h *Head, f uint32, k int, n float32) float32 {
	o := int(f)*m.cols + h.col
	if m.q != nil {
		row := m.q[o : o+len(h.Labels)]
		var sum int32
		for _, x := range row {
			sum += int32(x)
		}
		return (float32(row[k]) - float32(sum)/n) * m.scale[h.col]
	}
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
			if nonzero(m.q[f*m.cols+h.col : f*m.cols+h.col+k]) {
				n++
			}
		}
		binary.Write(bw, binary.LittleEndian, n)
		// buckets as deltas, then the rows: both compress better apart
		prev := 0
		for f := range rows {
			if nonzero(m.q[f*m.cols+h.col : f*m.cols+h.col+k]) {
				binary.Write(bw, binary.LittleEndian, uint32(f-prev))
				prev = f
			}
		}
		for f := range rows {
			row := m.q[f*m.cols+h.col : f*m.cols+h.col+k]
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
	mm, err := newModel(m.Version, m.Bits, m.Heads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadModel, err)
	}
	mm.TitleRepeat, mm.Meta = m.TitleRepeat, m.Meta
	mm.q = make([]int8, (1<<mm.Bits)*mm.cols)
	mm.scale = make([]float32, mm.cols)
	for _, h := range mm.Heads {
		if len(h.Bias) != len(h.Labels) || len(h.Labels) < 2 {
			return nil, fmt.Errorf("%w: head %q has %d labels and %d biases", ErrBadModel, h.Name, len(h.Labels), len(h.Bias))
		}
		var scale float32
		var cnt uint32
		if err := binary.Read(br, binary.LittleEndian, &scale); err != nil {
			return nil, fmt.Errorf("%w: head %q: %w", ErrBadModel, h.Name, err)
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
		for _, d := range buckets {
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
	return mm, nil
}

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
