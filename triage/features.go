package triage

import (
	"unicode"
	"unicode/utf8"
)

// Features are hashed n-grams of the normalised text: every Chinese
// character and every pair of adjacent ones, each Latin word and number as
// one token, and each other symbol (an emoji, a currency sign) or letter of
// another script (Hangul, kana, Cyrillic) alone. Runs are
// broken at spaces and punctuation. A title's features are counted more than
// once (Model.TitleRepeat), because a title says more per character.
//
// A feature is its hash reduced to the model's bucket count; spans give the
// bytes of the normalised text it came from, to explain decisions.

type span struct{ start, end int32 }

const seedText uint32 = 0x9E3779B1

func mix(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	h *= 0x846ca68b
	h ^= h >> 16
	return h
}

func isHan(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x3134F) || (r >= 0xF900 && r <= 0xFAFF)
}

func isWordRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
}

func isSep(r rune) bool {
	if r < 0x80 {
		return !isWordRune(r)
	}
	// CJK and general punctuation, full-width forms already folded.
	return (r >= 0x2000 && r <= 0x206F) || (r >= 0x3000 && r <= 0x303F) || (r >= 0xFE30 && r <= 0xFE4F) ||
		r == 0xFF5F || r == 0xFF60 || (r >= 0xFF61 && r <= 0xFF65) || r == 0xB7
}

// extractor turns normalised text into features, and finds the rules'
// keywords in the same pass when kw is set.
type extractor struct {
	ids        []uint32
	spans      []span // with wantSpans: each feature's bytes in the text
	wantSpans  bool
	kw         *matcher // when set, found[k] is set for each keyword k seen
	found      []bool
	meaningful int // Chinese characters and letters of any other script seen: below a few, there is nothing to act on
	words      int // Chinese characters but repeats of the one before, Latin words (not numbers) and runs of letters of other scripts: how much text there is to judge by
	repeats    int // Chinese characters that repeat the one before (啊啊啊)
	han        int // the Chinese characters among words: words − han are words in other scripts
	// variety counts the different units (Chinese characters, Latin words,
	// letters of other scripts) up to 3, first and second holding the first
	// two: a text of one or two units repeated ("请问请问……", "a a a") has
	// little to judge by, however long.
	variety       int
	first, second uint32
	// grams are the extra kinds of Model.Grams (GramTrigrams, GramSkip),
	// hashed into buckets gtop|(h&gmask), a part of the table of their own.
	grams       uint8
	gmask, gtop uint32
}

// unit counts u among the text's different units, up to 3 (variety).
func (x *extractor) unit(u uint32) {
	switch {
	case x.variety == 0:
		x.first, x.variety = u, 1
	case x.variety == 1 && u != x.first:
		x.second, x.variety = u, 2
	case x.variety == 2 && u != x.first && u != x.second:
		x.variety = 3
	}
}

// extract appends the features of text[from:to] (normalised) to x.ids,
// with buckets masked by mask. Keywords are looked for at every rune
// that may start one (matcher.maybe).
func (x *extractor) extract(text []byte, from, to int, seed, mask uint32) {
	ids, spans, wantSpans, kw, found := x.ids, x.spans, x.wantSpans, x.kw, x.found
	var prev rune = -1
	prev2, prev2At := rune(-1), 0 // the Chinese character before prev, in the same run (grams)
	grams := x.grams
	var last rune = -1 // the last Chinese character, across spaces and punctuation: 啊 啊 啊 repeats too
	prevAt := 0
	otherEnd, lastOther := -1, rune(-1) // the end of the last letter of another script, and that letter
	meaningful, words, repeats, han := 0, 0, 0, 0
	kwPrev, kwAt := rune(-1), 0 // the rune before, and where, for the keywords (matcher.maybe)
	for i := from; i < to; {
		r, n := rune(0), 3 // decode3, inlined by hand, and ASCII without a call
		if r3, ok := three(text[:to], i); ok {
			r = r3
		} else if c := text[i]; c < utf8.RuneSelf {
			r, n = rune(c), 1
		} else {
			r, n = decodeRest(text[:to], i)
		}
		if kw != nil {
			if lone, pairs := kw.maybe(kwPrev, r); lone || pairs {
				kw.ask(text, i, r, kwAt, kwPrev, lone, pairs, found)
			}
			kwPrev, kwAt = r, i
		}
		switch {
		case isHan(r):
			meaningful++
			if r != last { // 啊啊啊啊 is one word's worth
				words++
				han++
				if x.variety < 3 {
					x.unit(uint32(r))
				}
			} else {
				repeats++
			}
			last = r
			ids = append(ids, mix(seed^uint32(r))&mask)
			if wantSpans {
				spans = append(spans, span{int32(i), int32(i + n)})
			}
			if prev >= 0 {
				ids = append(ids, mix(seed+uint32(prev)*0x01000193^uint32(r)*0x2545F491)&mask)
				if wantSpans {
					spans = append(spans, span{int32(prevAt), int32(i + n)})
				}
				if grams != 0 && prev2 >= 0 {
					ids, spans = x.gramsAt(ids, spans, seed, prev2, prev, r, prev2At, i+n)
				}
			}
			prev2, prev2At = prev, prevAt
			prev, prevAt = r, i
			i += n
		case isWordRune(r):
			j := i
			h := seed ^ 0x811C9DC5
			digits := true
			for j < to && isWordRune(rune(text[j])) {
				c := text[j]
				if c > '9' {
					digits = false
					meaningful++
				}
				if j > i && kw != nil { // a keyword may start inside a word
					if lone, pairs := kw.maybe(kwPrev, rune(c)); lone || pairs {
						kw.ask(text, j, rune(c), kwAt, kwPrev, lone, pairs, found)
					}
					kwPrev, kwAt = rune(c), j
				}
				h = (h ^ uint32(c)) * 0x01000193
				j++
			}
			if digits { // numbers by length only: 12345, a phone number, a year
				h = seed ^ 0xD1B54A35 + uint32(min(j-i, 12))
			} else {
				words++
				if x.variety < 3 {
					x.unit(h | 1<<31) // apart from the characters, which are below 1<<21
				}
			}
			ids = append(ids, mix(h)&mask)
			if wantSpans {
				spans = append(spans, span{int32(i), int32(j)})
			}
			prev, prev2 = -1, -1
			i = j
		case isSep(r):
			prev, prev2 = -1, -1
			i += n
		default: // emoji and other symbols, and letters of other scripts (Hangul, kana, Cyrillic …)
			ids = append(ids, mix(seed^0x27D4EB2F^uint32(r))&mask)
			if wantSpans {
				spans = append(spans, span{int32(i), int32(i + n)})
			}
			if r >= 0x80 && unicode.IsLetter(r) { // content, not decoration: a Korean letter is not empty
				meaningful++
				switch {
				case i != otherEnd: // a run of such letters is one word
					words++
					if x.variety < 3 {
						x.unit(uint32(r)) // its first letter: near enough
					}
				case r == lastOther: // ㅋㅋㅋㅋ, as 啊啊啊啊
					repeats++
				}
				otherEnd, lastOther = i+n, r
			}
			prev, prev2 = -1, -1
			i += n
		}
	}
	x.ids, x.spans = ids, spans
	x.meaningful += meaningful
	x.words += words
	x.repeats += repeats
	x.han += han
}

// Extra kinds of features (Model.Grams), off in the committed model:
// GramTrigrams adds every run of three Chinese characters, GramSkip every
// character with the one two before it (a skip-bigram: 路灯坏 gives 路坏).
const (
	GramTrigrams uint8 = 1 << iota
	GramSkip
	gramsAll = GramTrigrams | GramSkip
)

// gramsAt appends the extra features ending at c, the characters a b c
// being adjacent, the span from..to.
func (x *extractor) gramsAt(ids []uint32, spans []span, seed uint32, a, b, c rune, from, to int) ([]uint32, []span) {
	if x.grams&GramTrigrams != 0 {
		h := (uint32(a)*0x85EBCA77 ^ uint32(b)) * 0x01000193
		ids = append(ids, x.gtop|mix(seed+0x68E31DA4+(h^uint32(c)*0x2545F491))&x.gmask)
		if x.wantSpans {
			spans = append(spans, span{int32(from), int32(to)})
		}
	}
	if x.grams&GramSkip != 0 {
		ids = append(ids, x.gtop|mix(seed^0x1B873593+uint32(a)*0xC2B2AE35^uint32(c)*0x2545F491)&x.gmask)
		if x.wantSpans {
			spans = append(spans, span{int32(from), int32(to)})
		}
	}
	return ids, spans
}

// decode3 decodes the rune at text[i], three-byte sequences (most of a
// Chinese text) inline (three) and the rest with utf8.DecodeRune. Only for
// valid UTF-8 such as normalised text: it does not reject overlong or
// surrogate forms.
func decode3(text []byte, i int) (rune, int) {
	if r, ok := three(text, i); ok {
		return r, 3
	}
	return decodeRest(text, i)
}

// three decodes the three-byte sequence at text[i], if one is there. It is
// decode3's fast path on its own, small enough to be inlined: extract, which
// runs for every rune of every item, calls it and decodeRest itself, as
// decode3 with its call to utf8.DecodeRune is too large to inline.
func three(text []byte, i int) (rune, bool) {
	if i+2 < len(text) {
		c, b1, b2 := text[i], text[i+1]^0x80, text[i+2]^0x80 // continuation bytes to 0x00-0x3F
		if c&0xF0 == 0xE0 && b1|b2 < 0x40 {
			return rune(c&0x0F)<<12 | rune(b1)<<6 | rune(b2), true
		}
	}
	return 0, false
}

// decodeRest is decode3's other runes.
func decodeRest(text []byte, i int) (rune, int) { return utf8.DecodeRune(text[i:]) }
