// Package cases links an item to earlier items that carry the same demand:
// one letter sent to the mayor's mailbox and again through a newspaper's
// desk, or residents of one block writing about the same broken lift. The
// flow in DESIGN.md puts this in triage ("dedupe / link cases"); the
// pipeline asks it before routing and tells it after the item's trail is
// recorded.
//
// Two texts are alike when they share most of their runs of three
// characters (letters and digits of the normalised text; punctuation and
// spaces are left out, so re-punctuating a letter changes nothing). The
// share is the Jaccard index of the two sets of runs, estimated from a
// one-permutation min-hash sketch of 64 bins per text (each run hashed
// once, its hash's top bits choosing the bin; empty bins filled by
// densification); locality-sensitive hashing over
// 21 bands of 3 values finds the candidates without comparing an item with
// every other. The index keeps the sketch, ID, class and time of each item
// in its window, never its text.
package cases

import (
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/minsheng/minsheng/triage"
)

// K is the number of min-hash values in a sketch.
const K = 64

// Sketch is a text's min-hash signature with the number of three-character
// runs it was made from.
type Sketch struct {
	Min  [K]uint32
	Runs int
	// filled marks the bins a run fell in (before densify).
	filled uint64
}

// mix is the splitmix64 finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// MakeSketch sketches a text: title and body of an item joined, or any
// text. The text is normalised as triage normalises it (full-width and
// traditional forms folded, markup and greetings dropped).
func MakeSketch(text string) Sketch {
	var s Sketch
	eachRun(text, s.add)
	s.densify()
	return s
}

// eachRun calls fn with the hash of each run of three letters or digits
// of the normalised text, repeats included.
func eachRun(text string, fn func(uint64)) {
	norm := triage.Normalize(text)
	var r0, r1 rune
	n := 0
	for i := 0; i < len(norm); {
		r, size := utf8.DecodeRuneInString(norm[i:])
		i += size
		if !isWordRune(r) {
			continue
		}
		n++
		if n >= 3 {
			fn(mix(uint64(r0)<<42 | uint64(r1)<<21 | uint64(r)))
		}
		r0, r1 = r1, r
	}
}

// isWordRune reports whether r is a letter or a digit, the common CJK
// block and ASCII first.
func isWordRune(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF:
		return true
	case r < 0x80:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Runs returns the set of a text's runs (their hashes, sorted, each
// once): what a sketch estimates, for measuring the estimate.
func Runs(text string) []uint64 {
	var rs []uint64
	eachRun(text, func(h uint64) { rs = append(rs, h) })
	slices.Sort(rs)
	return slices.Compact(rs)
}

// Jaccard is the exact share of runs two sets from Runs have in common.
func Jaccard(a, b []uint64) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	both := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			both++
			i++
			j++
		}
	}
	return float64(both) / float64(len(a)+len(b)-both)
}

func (s *Sketch) add(h uint64) {
	s.Runs++
	b, v := h>>(64-6), uint32(h)
	if v < s.Min[b] || s.filled&(1<<b) == 0 {
		s.Min[b] = v
		s.filled |= 1 << b
	}
}

// densify fills each empty bin from a filled one found by a probe
// sequence that depends only on the bin, so that two texts with the same
// runs fill alike (Shrivastava's optimal densification).
func (s *Sketch) densify() {
	if s.filled == 0 || s.filled == ^uint64(0) {
		return
	}
	for i := range uint64(K) {
		if s.filled&(1<<i) != 0 {
			continue
		}
		for a := uint64(1); ; a++ {
			if j := mix(i<<32|a) % K; s.filled&(1<<j) != 0 {
				s.Min[i] = s.Min[j]
				break
			}
		}
	}
}

// Similarity estimates the Jaccard index of the two texts' sets of runs:
// the share of the K positions where the sketches agree. A text with no
// run is like nothing.
func (s *Sketch) Similarity(o *Sketch) float64 {
	if s.Runs == 0 || o.Runs == 0 {
		return 0
	}
	return similarity(&s.Min, &o.Min)
}

func similarity(a, b *[K]uint32) float64 {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return float64(n) / K
}

// Bands and rows of the locality-sensitive hash: two texts of similarity J
// share at least one band with probability 1-(1-J³)²¹: 0.94 at J = 0.5,
// 0.99 at 0.6, 0.74 at 0.4, 0.0002 at 0.02.
const (
	bands = 21
	rows  = 3
)

// band returns the key of band b.
func (s *Sketch) band(b int) uint64 {
	v := s.Min[b*rows : b*rows+rows]
	return mix(uint64(b)<<58^uint64(v[0])<<32^uint64(v[1])) ^ mix(uint64(v[2])+uint64(b))
}
