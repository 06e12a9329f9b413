package triage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// smallModel is a model of two heads with a few weights set, and the
// features those weights are on.
func smallModel(t testing.TB) (*Model, []uint32) {
	m, err := NewModel("t1", 12, []Head{{Name: "a", Labels: []string{"x", "y"}}, {Name: "b", Labels: []string{"p", "q", "r"}}})
	if err != nil {
		t.Fatal(err)
	}
	ids := m.Featurize(nil, "标题", "正文内容 abc 123")
	for i, f := range ids {
		w := m.Weights(&m.Heads[i%2], f)
		w[0] += float32(i%7) * 0.1
		w[len(w)-1] -= 0.05
	}
	m.Heads[1].Bias = []float32{0.1, -0.2, 0.3}
	return m, ids
}

func TestModelRoundTrip(t *testing.T) {
	m, ids := smallModel(t)
	before := make([]float32, m.Cols())
	m.Scores(ids, before)
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadModel(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	after := make([]float32, r.Cols())
	r.Scores(ids, after)
	for i := range before {
		if d := before[i] - after[i]; d > 0.02 || d < -0.02 {
			t.Errorf("score %d: %v before, %v after a round trip", i, before[i], after[i])
		}
	}
	var again bytes.Buffer // a loaded model keeps only its packed rows; it writes the same file
	if err := r.Write(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("a loaded model wrote %d bytes unlike the %d it was read from", again.Len(), buf.Len())
	}
	if r.Version != "t1" || len(r.Heads) != 2 || r.Heads[1].Labels[2] != "r" {
		t.Errorf("header lost: %+v", r.Heads)
	}
	for _, bad := range [][]byte{nil, []byte("not gzip"), buf.Bytes()[:buf.Len()/2]} {
		if _, err := ReadModel(bytes.NewReader(bad)); !errors.Is(err, ErrBadModel) {
			t.Errorf("ReadModel(%d bytes) = %v, want ErrBadModel", len(bad), err)
		}
	}
}

// smallModelFile is smallModel as Write writes it, and the stream inside
// its gzip: the magic, the header's length and the header, then the rows.
func smallModelFile(t testing.TB) (file, raw []byte) {
	m, _ := smallModel(t)
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err = io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), raw
}

func gzipped(raw []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.Bytes()
}

// rows is where the rows begin in a model's stream: the first head's scale.
func rows(raw []byte) int {
	return len(modelMagic) + 4 + int(binary.LittleEndian.Uint32(raw[len(modelMagic):]))
}

// withHeader is a model's stream with its header edited by edit.
func withHeader(t testing.TB, raw []byte, edit func(h map[string]any)) []byte {
	var h map[string]any
	if err := json.Unmarshal(raw[len(modelMagic)+4:rows(raw)], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	hdr, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out := binary.LittleEndian.AppendUint32([]byte(modelMagic), uint32(len(hdr)))
	return append(append(out, hdr...), raw[rows(raw):]...)
}

// withScale is a model's stream with its first head's scale set to x.
func withScale(raw []byte, x float32) []byte {
	out := slices.Clone(raw)
	binary.LittleEndian.PutUint32(out[rows(raw):], math.Float32bits(x))
	return out
}

func head(i int, h map[string]any) map[string]any { return h["heads"].([]any)[i].(map[string]any) }

// ReadModel refuses a model file that is cut short, corrupt, or well
// formed but holding values no model has.
func TestReadModelCorrupt(t *testing.T) {
	file, raw := smallModelFile(t)
	if _, err := ReadModel(bytes.NewReader(gzipped(raw))); err != nil {
		t.Fatalf("the model compressed again: %v", err)
	}
	flip := func(i int) []byte {
		c := slices.Clone(file)
		c[i] ^= 0xff
		return c
	}
	tests := []struct {
		name string
		file []byte
	}{
		{"empty", nil},
		{"not gzip", []byte("not gzip")},
		{"half", file[:len(file)/2]},
		{"trailer cut", file[:len(file)-8]},
		{"last byte cut", file[:len(file)-1]},
		{"wrong CRC-32", flip(len(file) - 8)},
		{"wrong length", flip(len(file) - 1)},
		{"garbage after the gzip stream", append(slices.Clone(file), "garbage"...)},
		{"a second gzip stream", append(slices.Clone(file), gzipped([]byte("garbage"))...)},
		{"garbage after the last row", gzipped(append(slices.Clone(raw), "garbage"...))},
		{"a byte after the last row", gzipped(append(slices.Clone(raw), 0))},
		{"last row cut", gzipped(raw[:len(raw)-1])},
		{"NaN scale", gzipped(withScale(raw, float32(math.NaN())))},
		{"infinite scale", gzipped(withScale(raw, float32(math.Inf(1))))},
		{"zero scale", gzipped(withScale(raw, 0))},
		{"huge scale", gzipped(withScale(raw, 3e38))}, // every score +Inf, every confidence NaN
		{"bias 1e6", gzipped(withHeader(t, raw, func(h map[string]any) { head(1, h)["bias"] = []float32{0, 1e6, 0} }))},
		{"negative scale", gzipped(withScale(raw, -0.01))},
		{"bucket repeated", gzipped(func() []byte {
			c := slices.Clone(raw)
			binary.LittleEndian.PutUint32(c[rows(raw)+12:], 0) // the first head's second bucket delta
			return c
		}())},
		{"title_repeat 0", gzipped(withHeader(t, raw, func(h map[string]any) { h["title_repeat"] = 0 }))},
		{"title_repeat -5", gzipped(withHeader(t, raw, func(h map[string]any) { h["title_repeat"] = -5 }))},
		{"title_repeat 9", gzipped(withHeader(t, raw, func(h map[string]any) { h["title_repeat"] = 9 }))},
		{"bits 9", gzipped(withHeader(t, raw, func(h map[string]any) { h["bits"] = 9 }))},
		{"bits 25", gzipped(withHeader(t, raw, func(h map[string]any) { h["bits"] = 25 }))},
		{"temperature 0", gzipped(withHeader(t, raw, func(h map[string]any) { head(0, h)["temperature"] = 0 }))},
		{"temperature -1", gzipped(withHeader(t, raw, func(h map[string]any) { head(1, h)["temperature"] = -1 }))},
		{"bias missing", gzipped(withHeader(t, raw, func(h map[string]any) { head(1, h)["bias"] = []float32{0.1, 0.2} }))},
		{"band temperature 0", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 40, Temperature: 0}}
		}))},
		{"band below 0", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 0, Temperature: 0.5}}
		}))},
		{"bands out of order", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 80, Temperature: 0.5}, {Below: 40, Temperature: 0.7}}
		}))},
		{"temperature 1e-9", gzipped(withHeader(t, raw, func(h map[string]any) { head(0, h)["temperature"] = 1e-9 }))},
		{"band temperature 1e9", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 40, Temperature: 1e9}}
		}))},
		{"band offsets short", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 40, Temperature: 0.5, Offsets: []float32{0.5}}}
		}))},
		{"band offset too large", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(1, h)["bands"] = []Band{{Below: 40, Temperature: 0.5, Offsets: []float32{0, 1e6, 0}}}
		}))},
		{"one label", gzipped(withHeader(t, raw, func(h map[string]any) {
			head(0, h)["labels"], head(0, h)["bias"] = []string{"x"}, []float32{0}
		}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ReadModel(bytes.NewReader(tt.file)); !errors.Is(err, ErrBadModel) {
				t.Errorf("ReadModel = %v, want ErrBadModel", err)
			}
		})
	}
	// Every byte flipped: all but the gzip header's time, extra flags and
	// OS (bytes 4 to 9), which nothing checks, make the file unreadable.
	for i := range file {
		if i >= 4 && i <= 9 {
			continue
		}
		if _, err := ReadModel(bytes.NewReader(flip(i))); !errors.Is(err, ErrBadModel) {
			t.Errorf("byte %d of %d flipped: ReadModel = %v, want ErrBadModel", i, len(file), err)
		}
	}
}

// A header whose weight table would be too large is refused before any of
// it is allocated: too many labels, or too many cells at 24 bits.
func TestCheckHeaderTableSize(t *testing.T) {
	head := func(n int) Head {
		labels := make([]string, n)
		for i := range labels {
			labels[i] = fmt.Sprint("l", i)
		}
		return Head{Name: fmt.Sprint("h", n), Labels: labels, Bias: make([]float32, n), Temperature: 1}
	}
	for _, c := range []struct {
		bits  uint8
		heads []Head
		ok    bool
	}{
		{18, []Head{head(2), head(5), head(2), head(7)}, true}, // the built-in model's shape
		{24, []Head{head(2), head(14)}, true},                  // 2^28 cells
		{24, []Head{head(2), head(15)}, false},                 // 17 · 2^24 cells
		{10, []Head{head(2), head(63)}, false},                 // 65 labels
	} {
		m := Model{Version: "t", Bits: c.bits, TitleRepeat: 2, Heads: c.heads}
		if err := m.checkHeader(); (err == nil) != c.ok {
			t.Errorf("%d bits, %d heads: checkHeader = %v, want ok %v", c.bits, len(c.heads), err, c.ok)
		}
	}
}

// FuzzReadModel gives ReadModel gzip streams of any content: it returns an
// error or a model that scores finitely and writes a file it reads back.
func FuzzReadModel(f *testing.F) {
	_, raw := smallModelFile(f)
	f.Add(raw)
	f.Add(raw[:len(raw)-3])
	f.Add(withScale(raw, float32(math.Inf(-1))))
	f.Add(append(slices.Clone(raw), 0))
	f.Add(withHeader(f, raw, func(h map[string]any) {
		head(1, h)["bands"] = []Band{{Below: 40, Temperature: 0.5}, {Below: 300, Temperature: 1.3}}
	}))
	f.Add(withHeader(f, raw, func(h map[string]any) {
		head(1, h)["bands"] = []Band{{Below: 40, Temperature: 0.5, Offsets: []float32{-1, 0, 2}}}
	}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ReadModel(bytes.NewReader(gzipped(raw)))
		if err != nil {
			if !errors.Is(err, ErrBadModel) {
				t.Fatalf("ReadModel: %v does not wrap ErrBadModel", err)
			}
			return
		}
		scores := make([]float32, m.Cols())
		m.Scores(m.Featurize(nil, "路灯不亮", "小区门口的路灯坏了 abc 123"), scores)
		for i, s := range scores {
			if !finite(s) {
				t.Fatalf("score %d is %v", i, s)
			}
		}
		for _, h := range m.Heads {
			for _, words := range []int{0, 20, 1000} {
				if p := h.ProbIn(scores, 0, h.BandFor(words)); !(p >= 0 && p <= 1) {
					t.Fatalf("head %q, %d words: probability %v", h.Name, words, p)
				}
			}
		}
		var buf bytes.Buffer
		if err := m.Write(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadModel(&buf); err != nil {
			t.Fatalf("a model read, written and read again: %v", err)
		}
	})
}

func TestDefaultModelLoads(t *testing.T) {
	m, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{HeadScreen, HeadClass, HeadLead, HeadDepartment} {
		if m.Head(h) == nil {
			t.Errorf("built-in model has no %s head", h)
		}
	}
	// It keeps only the packed rows, and writes back the same weights.
	if m.q != nil || m.pk == nil {
		t.Errorf("built-in model: int8 matrix kept %v, packed %v", m.q != nil, m.pk != nil)
	}
	r := roundTrip(t, m)
	if !bytes.Equal(r.pk.rows, m.pk.rows) {
		t.Error("the built-in model written and read again scores differently")
	}
}

// The packed layout scores exactly as the int8 matrix it is built from,
// collects as strong exactly the features leaning strongLean or more to a
// label of the marked head, and gives every bucket the same lean.
func TestPackedScoresExact(t *testing.T) {
	def, err := DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	// two heads of two labels, the first's columns opposite as training
	// makes them, the second's not
	toy, err := NewModel("toy", 12, []Head{{Name: "a", Labels: []string{"x", "y"}}, {Name: "b", Labels: []string{"p", "q"}}, {Name: "c", Labels: []string{"r", "s", "t"}}})
	if err != nil {
		t.Fatal(err)
	}
	for f := range uint32(1 << 12) {
		a, b, c := toy.Weights(&toy.Heads[0], f), toy.Weights(&toy.Heads[1], f), toy.Weights(&toy.Heads[2], f)
		x := float32(int(f*2654435761>>7)%255-127) / 100
		a[0], a[1] = -x, x
		b[0], b[1] = x, x/2
		c[0], c[1], c[2] = x, -x/3, float32(f%5)/4
	}
	toy.Quantize()
	if toy.pk == nil || !toy.pk.bin[0] || toy.pk.bin[1] || toy.pk.bin[2] || toy.pk.mark != 1 {
		t.Fatalf("toy packing: %+v", toy.pk)
	}
	if def.pk == nil || !def.pk.bin[0] || def.pk.bin[1] || !def.pk.bin[2] || def.pk.bin[3] || def.pk.mark != 1 {
		t.Fatalf("built-in packing: %+v", def.pk)
	}
	texts := []string{"拆迁补偿款被村干部私分", "路灯不亮 12345 abc", "贪污受贿😀", strings.Repeat("小区噪音扰民，", 60)}
	for _, m := range []*Model{def, toy} {
		flat := *m
		flat.pk, flat.q = nil, m.int8()
		for _, text := range texts {
			ids := m.Featurize(nil, "", text)
			got, want := make([]float32, m.Cols()), make([]float32, m.Cols())
			cand := m.scores(ids, got, nil, true)
			flat.Scores(ids, want)
			if !slices.Equal(got, want) {
				t.Errorf("%s %q: packed %v, int8 %v", m.Version, text, got, want)
			}
			var strong []int32
			h := &m.Heads[m.pk.mark]
			for i, f := range ids {
				o := int(f)*m.cols + h.col
				for k := range h.Labels {
					if leanRow(flat.q[o:o+len(h.Labels)], k, strongLean-1) > 0 {
						strong = append(strong, int32(i))
					}
				}
			}
			if !slices.Equal(cand, strong) {
				t.Errorf("%s %q: marked %v, want %v", m.Version, text, cand, strong)
			}
		}
	}
	for _, m := range []*Model{def, toy} {
		q := m.int8()
		for f := uint32(0); f < 1<<m.Bits; f += 1 + f%7 {
			for _, h := range m.Heads {
				o := int(f)*m.cols + h.col
				for k := range h.Labels {
					for _, least := range []int32{-1, 0, 7, 8, 31, 47, 100, 247, 250} {
						if got, want := m.pk.lean(&h, f, k, least), leanRow(q[o:o+len(h.Labels)], k, least); got != want {
							t.Fatalf("%s bucket %d %s/%s least %d: packed lean %d, int8 %d", m.Version, f, h.Name, h.Labels[k], least, got, want)
						}
					}
				}
			}
		}
	}
	wide := make([]Head, 4) // 4×4 = 16 columns, more than a packed row holds
	for i := range wide {
		wide[i] = Head{Name: string(rune('a' + i)), Labels: []string{"1", "2", "3", "4"}}
	}
	w, err := NewModel("wide", 10, wide)
	if err != nil {
		t.Fatal(err)
	}
	w.Quantize()
	if w.pk != nil {
		t.Errorf("16 columns packed")
	}
	w.Scores(w.Featurize(nil, "", "测试"), make([]float32, w.Cols()))
}

// A title's features count TitleRepeat times, its spans with them, and the
// body's once.
func TestTitleRepeat(t *testing.T) {
	m, err := NewModel("t", 12, []Head{{Name: "a", Labels: []string{"x", "y"}}})
	if err != nil {
		t.Fatal(err)
	}
	m.TitleRepeat = 1
	title := m.Featurize(nil, "路灯不亮", "")
	body := m.Featurize(nil, "", "请修")
	for _, n := range []int{1, 2, 3, 5, MaxTitleRepeat} {
		m.TitleRepeat = n
		x := extractor{ids: []uint32{7}, wantSpans: true, spans: []span{{0, 1}}} // something before, kept once
		m.featurize(nil, &x, "路灯不亮", "请修")
		want := []uint32{7}
		for range n {
			want = append(want, title...)
		}
		want = append(want, body...)
		if !slices.Equal(x.ids, want) {
			t.Errorf("TitleRepeat %d: %d features, want %d (%d of the title's %d, then the body's %d)", n, len(x.ids), len(want), n, len(title), len(body))
		}
		if len(x.spans) != len(x.ids) {
			t.Errorf("TitleRepeat %d: %d spans for %d features", n, len(x.spans), len(x.ids))
		}
	}
}

// A head's length bands survive a round trip, and BandFor picks the first
// band a length is under, else the head's one temperature; ProbIn
// at the head's temperature is Probs.
func TestBands(t *testing.T) {
	m, ids := smallModel(t)
	h := &m.Heads[1]
	h.Temperature = 0.9
	h.Bands = []Band{{Below: 40, Temperature: 0.5}, {Below: 300, Temperature: 0.8, Offsets: []float32{-1, 0, 2}}}
	r := roundTrip(t, m)
	rh := &r.Heads[1]
	if !reflect.DeepEqual(rh.Bands, h.Bands) {
		t.Fatalf("bands after a round trip: %v, want %v", rh.Bands, h.Bands)
	}
	for _, c := range []struct {
		words int
		want  float32
	}{{0, 0.5}, {39, 0.5}, {40, 0.8}, {299, 0.8}, {300, 0.9}, {5000, 0.9}} {
		if got := rh.BandFor(c.words).Temperature; got != c.want {
			t.Errorf("BandFor(%d).Temperature = %v, want %v", c.words, got, c.want)
		}
	}
	scores := make([]float32, r.Cols())
	r.Scores(ids, scores)
	probs := rh.Probs(scores, nil)
	for k := range rh.Labels {
		if d := rh.ProbIn(scores, k, Band{Temperature: rh.Temperature}) - probs[k]; d > 1e-9 || d < -1e-9 {
			t.Errorf("label %d: ProbIn %v, Probs %v", k, rh.ProbIn(scores, k, Band{Temperature: rh.Temperature}), probs[k])
		}
	}
	if rh.ProbIn(scores, Argmax(probs), Band{Temperature: 0.5}) <= probs[Argmax(probs)] {
		t.Errorf("a cooler temperature did not raise the top label's probability")
	}
	// Offsets: a band's probabilities sum to 1, and equal softmax(s/t + o);
	// raising a label's offset raises its probability.
	b := rh.BandFor(100)
	sum := 0.0
	for k := range rh.Labels {
		p := rh.ProbIn(scores, k, b)
		sum += p
		num := math.Exp(float64(scores[rh.col+k]/b.Temperature + b.Offsets[k]))
		den := 0.0
		for j := range rh.Labels {
			den += math.Exp(float64(scores[rh.col+j]/b.Temperature + b.Offsets[j]))
		}
		if d := p - num/den; d > 1e-6 || d < -1e-6 {
			t.Errorf("label %d: ProbIn %v, softmax(s/t+o) %v", k, p, num/den)
		}
	}
	if sum < 1-1e-9 || sum > 1+1e-9 {
		t.Errorf("a band's probabilities sum to %v", sum)
	}
	if plain := rh.ProbIn(scores, 2, Band{Temperature: b.Temperature}); rh.ProbIn(scores, 2, b) <= plain {
		t.Errorf("label 2's offset +2 did not raise its probability: %v, %v without offsets", rh.ProbIn(scores, 2, b), plain)
	}
	if rh.BandFor(5000).Offsets != nil || rh.BandFor(10).Offsets != nil {
		t.Errorf("offsets given outside the band that has them")
	}
}

// roundTrip writes m and reads it back.
func roundTrip(t *testing.T, m *Model) *Model {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadModel(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sumRows (in assembly on amd64) sums and marks as sumRowsGo does: over
// random tables whose bytes include the extremes (a lane full of 255s
// after the bias), random marks around the strong level, random buckets
// beyond the mask, chunks of 0 to 256 rows, and a position offset.
func TestSumRowsSSE(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const bits = 10
	rows := make([]byte, (1<<bits)*packedRow)
	base := unsafe.Pointer(unsafe.SliceData(rows))
	for round := range 300 {
		for i := range rows {
			switch rng.IntN(4) {
			case 0:
				rows[i] = []byte{0x00, 0x7F, 0x80, 0xFF}[rng.IntN(4)]
			default:
				rows[i] = byte(rng.UintN(256))
			}
		}
		if round%10 == 0 { // every byte at its largest once biased
			for i := range rows {
				rows[i] = 0x7F
			}
		}
		n := rng.IntN(257)
		if round < 2 {
			n = 256 * round
		}
		chunk := make([]uint32, n)
		for i := range chunk {
			chunk[i] = rng.Uint32()
		}
		at := rng.IntN(1000)
		cand, candGo := make([]int32, n), make([]int32, n)
		sums, k := sumRows(base, 1<<bits-1, chunk, cand, at)
		sumsGo, kGo := sumRowsGo(base, 1<<bits-1, chunk, candGo, at)
		if sums != sumsGo || k != kGo || !slices.Equal(cand[:k], candGo[:kGo]) {
			t.Fatalf("round %d, %d rows: sums %v, %d strong %v; sumRowsGo %v, %d strong %v", round, n, sums, k, cand[:k], sumsGo, kGo, candGo[:kGo])
		}
	}
}

// sumRowsGo sums each column and reads each mark from the row's own bytes,
// whatever the architecture's byte order: a big-endian one (s390x, run
// under qemu-s390x) had column 7 summed into column 0's score and the mark
// read from byte 8. TestSumRowsSSE holds the assembly to sumRowsGo, so
// this test holds sumRowsGo to the bytes.
func TestSumRowsGoBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const bits = 8
	rows := make([]byte, (1<<bits)*packedRow)
	base := unsafe.Pointer(unsafe.SliceData(rows))
	for round := range 100 {
		for i := range rows {
			rows[i] = byte(rng.UintN(256))
		}
		for r := range 1 << bits { // every label and level of the mark
			rows[r*packedRow+packedMark] = byte(r)
		}
		if round == 0 {
			for i := range rows {
				rows[i] = byte(i % packedRow) // column k holds k
			}
		}
		n := rng.IntN(257)
		if round < 2 {
			n = 256
		}
		chunk := make([]uint32, n)
		for i := range chunk {
			chunk[i] = rng.Uint32()
		}
		var want [packedRow]uint16
		var wantCand []int32
		for i, f := range chunk {
			row := rows[int(f&(1<<bits-1))*packedRow:][:packedRow]
			for k, b := range row {
				want[k] += uint16(b ^ 0x80)
			}
			if row[packedMark]&markLevel >= strongLean/8 {
				wantCand = append(wantCand, int32(100+i))
			}
		}
		cand := make([]int32, n)
		sums, k := sumRowsGo(base, 1<<bits-1, chunk, cand, 100)
		if sums != want || !slices.Equal(cand[:k], wantCand) {
			t.Fatalf("round %d, %d rows: sums %v, strong %v; want %v, %v", round, n, sums, cand[:k], want, wantCand)
		}
	}
}

// With Model.Grams, the usual features keep the buckets they had at one bit
// fewer, and each run of n Chinese characters adds n−2 of each extra kind,
// in the upper half, each with a span.
func TestGrams(t *testing.T) {
	plain, err := NewModel("t", 18, []Head{{Name: "a", Labels: []string{"x", "y"}}})
	if err != nil {
		t.Fatal(err)
	}
	const text = "路灯坏了，请修 abc 小区门口"
	want := plain.Featurize(nil, "", text)
	for _, c := range []struct {
		grams uint8
		extra int
	}{{GramTrigrams, 4}, {GramSkip, 4}, {GramTrigrams | GramSkip, 8}} { // of each kind: 路灯坏了 2, 请修 0, 小区门口 2
		m, err := NewModel("t", 19, []Head{{Name: "a", Labels: []string{"x", "y"}}})
		if err != nil {
			t.Fatal(err)
		}
		m.Grams = c.grams
		x := extractor{wantSpans: true}
		m.featurize(nil, &x, "", text)
		var low []uint32
		high := 0
		for _, f := range x.ids {
			if m.GramRow(f) {
				high++
			} else {
				low = append(low, f)
			}
		}
		if !slices.Equal(low, want) || high != c.extra || len(x.spans) != len(x.ids) {
			t.Errorf("grams %d: usual features equal %v, %d extra (want %d), %d spans for %d", c.grams, slices.Equal(low, want), high, c.extra, len(x.spans), len(x.ids))
		}
	}
}
