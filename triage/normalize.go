package triage

import (
	"bytes"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/minsheng/minsheng/internal/textenc"
)

// t2s maps a traditional character in the BMP to its simplified form (0:
// unchanged). Built once from the generated t2sPairs, and then given the
// look-alikes of characters in the blocks listed in lookAlikes.
var t2s = func() []uint16 {
	t := make([]uint16, 0x10000)
	for s := t2sPairs; s != ""; {
		a, n := utf8.DecodeRuneInString(s)
		b, m := utf8.DecodeRuneInString(s[n:])
		t[a] = uint16(b)
		s = s[n+m:]
	}
	for _, b := range lookAlikes {
		for r := b[0]; r <= b[1]; r++ {
			k := []rune(norm.NFKC.String(string(r)))
			if len(k) != 1 || k[0] == r || k[0] > 0xFFFF {
				continue
			}
			c := k[0]
			if s := t[c]; s != 0 {
				c = rune(s)
			}
			t[r] = uint16(c)
		}
	}
	return t
}()

// lookAlikes are blocks of characters drawn like common Chinese characters
// but coded apart: the Kangxi radicals (⼯ for 工, ⾏ for 行), which text
// copied out of a PDF often holds, and the CJK compatibility ideographs,
// which some conversions from other encodings give. Each is folded to the
// character its compatibility decomposition (NFKC) gives, simplified, so
// that "⼈⺠⼯作" reads as 人⺠工作. (Most of the CJK radicals supplement,
// ⺠ among them, has no decomposition and is left as it is.)
var lookAlikes = [][2]rune{{0x2F00, 0x2FD5}, {0xF900, 0xFAD9}}

// unfolded has a bit per rune of the BMP: does foldRune leave it as it is?
// Normalising reads it for every three-byte rune, most of a Chinese letter:
// a rune whose bit is set is kept without calling foldRune, a chain of
// range tests that costs more than the rune itself. For a rune of the
// CJK Unified Ideographs (U+4E00–U+9FFF) the bit is clear exactly when
// it is traditional (in t2s); the block's bits, 2.6 KiB, stay in the
// first-level cache, where the 128 KiB of t2s do not, and most characters
// of a letter are not traditional.
var unfolded = func() *[0x10000 / 64]uint64 {
	var b [0x10000 / 64]uint64
	for r := range rune(0x10000) {
		if foldRune(r) == r {
			b[r/64] |= 1 << (r % 64)
		}
	}
	return &b
}()

// lowerASCII is an ASCII byte in lower case.
func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// foldRune maps one rune for classification: full-width forms to ASCII,
// upper to lower case, traditional to simplified Chinese. It returns -1 for
// runes that carry nothing (control characters, and those Unicode says are
// ignorable, invisible: ignorable) and ' ' for any kind of space.
func foldRune(r rune) rune {
	switch {
	case r < 0x80:
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		if r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII
		return foldRune(r - 0xFEE0)
	case r == 0x3000 || r == 0xA0 || r == 0x2028 || r == 0x2029:
		return ' '
	case r >= 0x200B && r <= 0x200F, r == 0xFEFF, r == 0x2060, r == utf8.RuneError, ignorable(r):
		return -1
	case r < 0x10000:
		if s := t2s[r]; s != 0 {
			return rune(s)
		}
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
	}
	return r
}

// ignorable reports whether r is a Default_Ignorable_Code_Point of Unicode
// (textenc.Ignorable). A renderer draws nothing for it, so a text read on
// screen is the same with or without it; kept, each broke the n-grams and
// the keywords it stood between, and "村支书王某贪\u00ad污" raised no
// corruption rule. No training text holds one.
func ignorable(r rune) bool { return textenc.Ignorable(r) }

// noisePairs are phrases that open or close a letter and carry no signal
// about what it asks for, and what each is replaced by. They are removed
// after folding. Thanks stay: a note that only thanks is a screening
// signal. A greeting ending in greetingEnd is removed only where a pause
// follows it (see pauseAt).
//
// The last ones are how a 12345 operator opens a work order (市民来电反映：…,
// 来电人称…), 反映 (reports) with them. No training text holds them (附件3,
// the 495, our examples, the trec06c mails), but their characters the model
// knows: 市民 in board letters speaks of the public (广大市民), a sign of
// media oversight, and 反映 is a word of the writer's own. Five short work
// orders under four frames moved by up to 0.10 of confidence: one went to
// review (来电人反映：某路段路灯不亮… gov_service 0.46, 0.56 without) and
// one changed class. Removed, a frame changes nothing.
var noisePairs = []string{
	"尊敬的领导", " ", "尊敬的市长", " ", "尊敬的书记", " ", "尊敬的", " ",
	"领导您好", " ", "领导你好", " ", "领导们好", " ", "您好", " ", "你好", " ",
	"此致敬礼", " ", "此致", " ", "敬礼", " ",
	"市民来电反映", " ", "市民来电称", " ", "市民来电", " ", "来电市民反映", " ", "来电市民", " ",
	"来电人反映", " ", "来电人称", " ", "来电人", " ", "来电者反映", " ", "来电者", " ",
}

// Normalize returns the text folded for classification: full-width forms
// and case folded, traditional characters simplified, markup, invisible
// characters and greetings removed, character references (&nbsp; &#20320;)
// decoded, runs of space collapsed. The item's stored text is never
// changed; only the classifier sees this.
func Normalize(s string) string {
	return string(appendNormalized(nil, s))
}

func appendNormalized(dst []byte, s string) []byte {
	start := len(dst)
	space := true
	run := 0 // s[run:i] is kept as it is, copied in one piece when it ends
	for i := 0; i < len(s); {
		c := s[i]
		// Fast paths, for bytes that stay as they are: a three-byte
		// sequence, most of a Chinese letter (its characters and
		// punctuation), decoded here (E0 and ED lead bytes, which have
		// overlong and surrogate forms, take the slow path); printable
		// ASCII but capitals, and a space after something else.
		if c >= 0xE1 && c <= 0xEF && c != 0xED && i+2 < len(s) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80 {
			r := rune(c&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
			if unfolded[r/64]&(1<<(r%64)) != 0 {
				space = false
				i += 3
				continue
			}
			if r >= 0x4E00 && r <= 0x9FFF { // traditional: only t2s applies
				dst = append(dst, s[run:i]...)
				dst = utf8.AppendRune(dst, rune(t2s[r]))
				run = i + 3
				space = false
				i += 3
				continue
			}
			if r >= 0xFF01 && r <= 0xFF5E {
				// Full-width ASCII, as a Chinese letter writes its commas,
				// colons and brackets (，：（）): foldRune makes it one
				// printable ASCII byte, lowered.
				dst = append(dst, s[run:i]...)
				dst = append(dst, lowerASCII(byte(r-0xFEE0)))
				run = i + 3
				space = false
				i += 3
				continue
			}
		} else if c > ' ' && c < 0x7F && (c < 'A' || c > 'Z') {
			space = false
			i++
			continue
		} else if c == ' ' && !space {
			space = true
			i++
			continue
		}
		dst = append(dst, s[run:i]...)
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		run = i
		dst, space = appendFolded(dst, r, space)
	}
	dst = append(dst, s[run:]...)
	if space && len(dst) > start {
		dst = dst[:len(dst)-1]
	}
	if bytes.IndexByte(dst[start:], '<') >= 0 {
		dst = stripTags(dst, start)
	}
	if bytes.IndexByte(dst[start:], '&') >= 0 {
		dst = decodeEntities(dst, start)
	}
	return stripNoise(dst, start)
}

// stripTags removes markup from folded text dst[start:] in place, each tag
// becoming a space. A tag is '<' and a name (a letter, then letters,
// digits, '-', ':' or '_') followed by '>', "/>", or a space and then '>',
// "/>" or an attribute with a value (name=) or a valueless one of
// boolAttrs; a closing tag is "</", a name,
// a space at most and '>'; "<!" or "<?" and a letter, '-' or '[' opens a
// comment, declaration or processing instruction. Each but a closing tag
// runs to the first '>' after it, within 2 KiB. A style or script element
// goes whole, content and all: CSS and code are not the letter's words.
//
// Anything else is text: "a<b and c>d" and "噪声>70分贝, L<Lmax" keep their
// words. But a '<' followed by a letter, '/', '!' or '?' that opens no tag
// becomes a space (to the features it was a break between words already),
// so that what is removed next to it, here or later (a greeting), cannot
// make a tag of it: the text left holds none, and normalising twice changes
// nothing. It runs on the folded text, so a tag written in full-width forms
// or broken by an invisible character goes too.
func stripTags(dst []byte, start int) []byte {
	out := rewriter{dst: dst, w0: start, w: start, space: true}
	gt := -1            // the first '>' at or after where closeAt last looked; len(dst) if none
	var noClose [2]bool // no closing tag of rawText[b] after where blockEnd last looked
	for i := start; i < len(dst); {
		c := dst[i]
		if c == '<' {
			if end, name := tagAt(dst, i, &gt); end > 0 {
				if b := slices.Index(rawText[:], string(name)); b >= 0 && !noClose[b] {
					if e := blockEnd(dst, end, rawText[b]); e > 0 {
						end = e
					} else {
						noClose[b] = true
					}
				}
				i = end
				out.put(' ')
				continue
			}
			if i+1 < len(dst) && (isASCIILetter(dst[i+1]) || dst[i+1] == '/' || dst[i+1] == '!' || dst[i+1] == '?') {
				c = ' '
			}
		}
		out.put(c)
		i++
	}
	return out.end()
}

// rewriter writes text over dst from w on as it is read further on: runs
// of space as one space, and none at the start (w0) or the end.
type rewriter struct {
	dst   []byte
	w0, w int
	space bool
}

func (r *rewriter) put(c byte) {
	if c != ' ' {
		r.dst[r.w], r.w, r.space = c, r.w+1, false
	} else if !r.space {
		r.dst[r.w], r.w, r.space = ' ', r.w+1, true
	}
}

func (r *rewriter) end() []byte {
	if r.space && r.w > r.w0 {
		r.w--
	}
	return r.dst[:r.w]
}

// maxTag is how far a tag may run to its '>'.
const maxTag = 2048

// boolAttrs are HTML attributes written without a value, as mail and
// old pages do (<td nowrap>, <input checked>): after a tag name they make
// a tag, where another bare word (<b and c>) leaves it text.
var boolAttrs = [...]string{"nowrap", "checked", "disabled", "selected", "readonly", "hidden", "noshade", "compact", "multiple", "required", "autofocus", "async", "defer", "controls", "novalidate", "ismap", "nohref", "noresize"}

// rawText are the elements whose content is not text.
var rawText = [...]string{"style", "script"}

// tagAt returns the end of the tag that dst[i] ('<') opens, as stripTags
// describes them, or 0; and the name of an opening tag that is not also
// closing (<br/>).
func tagAt(dst []byte, i int, gt *int) (end int, name []byte) {
	j := i + 1
	switch c := at(dst, j); c {
	case '!', '?':
		if c := at(dst, j+1); !isASCIILetter(c) && c != '-' && c != '[' {
			return 0, nil
		}
		return closeAt(dst, i, gt), nil
	case '/':
		if !isASCIILetter(at(dst, j+1)) {
			return 0, nil
		}
		k := nameEnd(dst, j+2)
		if at(dst, k) == ' ' {
			k++
		}
		if at(dst, k) == '>' {
			return k + 1, nil
		}
		return 0, nil
	}
	if !isASCIILetter(at(dst, j)) {
		return 0, nil
	}
	k := nameEnd(dst, j+1)
	name = dst[j:k]
	if at(dst, k) == ' ' {
		k++
		if a := at(dst, k); isASCIILetter(a) {
			e := nameEnd(dst, k+1)
			if c := at(dst, e); c == '=' || (c == ' ' || c == '>' || c == '/') && slices.Contains(boolAttrs[:], string(dst[k:e])) {
				return closeAt(dst, i, gt), name
			}
		}
	}
	switch at(dst, k) {
	case '>':
		return k + 1, name
	case '/':
		if at(dst, k+1) == '>' {
			return k + 2, nil
		}
	}
	return 0, nil
}

// closeAt returns the end of a tag opened at i that runs to the first '>'
// after it, within maxTag bytes, or 0. *gt keeps the '>' found, so that
// looking from each of many '<' reads the text once.
func closeAt(dst []byte, i int, gt *int) int {
	if *gt < i {
		*gt = len(dst)
		if j := bytes.IndexByte(dst[i:], '>'); j >= 0 {
			*gt = i + j
		}
	}
	if *gt < len(dst) && *gt-i < maxTag {
		return *gt + 1
	}
	return 0
}

// blockEnd returns the end of the first closing tag of element name in
// dst[from:] (its '>' when a space at most comes before it), or 0.
func blockEnd(dst []byte, from int, name string) int {
	for k := from; ; {
		j := bytes.Index(dst[k:], []byte("</"))
		if j < 0 {
			return 0
		}
		k += j + 2
		if !bytes.HasPrefix(dst[k:], []byte(name)) {
			continue
		}
		e := k + len(name)
		if c := at(dst, e); c != ' ' && c != '>' && c != '/' && e < len(dst) {
			continue
		}
		if at(dst, e) == ' ' && at(dst, e+1) == '>' {
			e++
		}
		if at(dst, e) == '>' {
			e++
		}
		return e
	}
}

// at is b[i], or 0 (which folded text does not hold) past its end.
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// nameEnd returns where the tag or attribute name going on at b[i] ends.
func nameEnd(b []byte, i int) int {
	for i < len(b) && (isASCIILetter(b[i]) || b[i] >= '0' && b[i] <= '9' || b[i] == '-' || b[i] == ':' || b[i] == '_') {
		i++
	}
	return i
}

// decodeEntities replaces the HTML character references in folded text
// dst[start:], in place: a numeric one (&#20320; &#x4f60;) by its
// character folded, or by a space when that is ASCII; a named one of those
// letters use (&nbsp; &amp; &lt; &gt; &quot; …) by a space, which is what
// punctuation is to the features. Nothing it writes is ASCII but the space,
// so it spells no tag and no reference: normalising twice changes nothing.
func decodeEntities(dst []byte, start int) []byte {
	out := rewriter{dst: dst, w0: start, w: start, space: true}
	for i := start; i < len(dst); {
		c := dst[i]
		if c == '&' {
			if r, n := entity(dst[i:]); n > 0 {
				i += n
				switch r = foldRune(r); {
				case r < 0:
					// Dropped; but then what precedes and what follows
					// meet, and "&#0" + "&#0;" + ";" would spell a
					// reference for a second pass to decode. A space
					// keeps an unfinished one apart.
					if openReference(dst[out.w0:out.w]) {
						out.put(' ')
					}
				case r < utf8.RuneSelf:
					out.put(' ')
				default: // shorter than the reference: &#128; is 6 bytes, 2 in UTF-8
					out.w += utf8.EncodeRune(dst[out.w:], r)
					out.space = false
				}
				continue
			}
		}
		out.put(c)
		i++
	}
	return out.end()
}

// openReference reports whether b ends in what may still become a
// character reference: an '&', then only what a reference's name or
// number is made of.
func openReference(b []byte) bool {
	for i := len(b) - 1; i >= 0 && i >= len(b)-12; i-- {
		switch c := b[i]; {
		case c == '&':
			return true
		case c == '#' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return false
}

// entity decodes the character reference at the start of b ('&'): the
// character, and the reference's length; 0 when there is none. A named one
// is decoded as a space, a numeric one out of Unicode's range as
// utf8.RuneError.
func entity(b []byte) (rune, int) {
	if at(b, 1) == '#' {
		base, i := 10, 2
		if at(b, 2) == 'x' {
			base, i = 16, 3
		}
		var r rune
		for k := i; k < len(b) && k <= i+7; k++ { // 7 digits: 1114111, the last code point
			c := b[k]
			var d rune
			switch {
			case c >= '0' && c <= '9':
				d = rune(c - '0')
			case base == 16 && c >= 'a' && c <= 'f':
				d = rune(c-'a') + 10
			case c == ';' && k > i:
				if !utf8.ValidRune(r) || r == 0 {
					r = utf8.RuneError
				}
				return r, k + 1
			default:
				return 0, 0
			}
			r = r*rune(base) + d
		}
		return 0, 0
	}
	k := nameEnd(b, 1)
	if at(b, k) != ';' || k-1 > 6 {
		return 0, 0
	}
	switch string(b[1:k]) {
	case "nbsp", "amp", "lt", "gt", "quot", "apos", "ensp", "emsp", "thinsp",
		"ldquo", "rdquo", "lsquo", "rsquo", "laquo", "raquo", "mdash", "ndash", "hellip", "middot", "bull":
		return ' ', k + 1
	}
	return 0, 0
}

// stripNoise removes the noise phrases from the opening and the closing of
// dst[start:], where greetings sit; the middle is left alone, which keeps
// this O(1) per item. The text is rewritten in place: every phrase is
// replaced by something shorter, so the writing never overtakes the
// reading. Runs of space the removal leaves are folded, and the text
// trimmed.
func stripNoise(dst []byte, start int) []byte {
	text := dst[start:]
	head, tail := noiseEdges(text)
	hn, tn := hasNoise(head), hasNoise(tail)
	if !hn && !tn {
		return dst
	}
	// The edges are at most 48 bytes each and a replacement is never
	// longer than what it replaces, so they fit on the stack.
	var hb, tb [64]byte
	h, t := append(hb[:0], head...), append(tb[:0], tail...)
	if hn {
		h = replaceAllNoise(&hb, head, text[len(head):])
	}
	if tn {
		t = replaceAllNoise(&tb, tail, nil)
	}
	w, space := start, true
	put := func(s []byte) {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c != ' ' {
				dst[w], w, space = c, w+1, false
			} else if !space {
				dst[w], w, space = ' ', w+1, true
			}
		}
	}
	put(h)
	// The middle holds no run of spaces (the text was folded): only its
	// first byte can start one.
	mid := text[len(head) : len(text)-len(tail)]
	if len(mid) > 0 && mid[0] == ' ' && space {
		mid = mid[1:]
	}
	if len(mid) > 0 {
		w += copy(dst[w:], mid)
		space = mid[len(mid)-1] == ' '
	}
	put(t)
	if space && w > start {
		w--
	}
	return dst[:w]
}

// replaceAllNoise is replaceNoise into buf, again until nothing changes: a
// greeting kept before another that went (您好您好！) stands before a pause
// the next time, and normalising twice must change nothing.
func replaceAllNoise(buf *[64]byte, edge, next []byte) []byte {
	var again [64]byte
	out := replaceNoise(buf[:0], edge, next)
	for len(out) < len(edge) { // a phrase went: look again
		edge = append(again[:0], out...)
		out = replaceNoise(buf[:0], edge, next)
	}
	return out
}

// replaceNoise appends s, followed in the text by next, to out with each
// noise phrase replaced: left to right, without overlaps, and at each
// position the first phrase of noisePairs that matches (as a
// strings.Replacer of the pairs would), but a greeting ending in
// greetingEnd where no pause follows. It allocates nothing when out has
// room.
func replaceNoise(out, s, next []byte) []byte {
	for i := 0; i < len(s); {
		// Every phrase opens with a Chinese character: a byte that does
		// not start one of theirs is copied without trying each phrase.
		if s[i] < 0xE0 || i+3 > len(s) || !isKey(noiseLeads, uint32(s[i])<<16|uint32(s[i+1])<<8|uint32(s[i+2])) {
			out = append(out, s[i])
			i++
			continue
		}
		matched := false
		for p := 0; p < len(noisePairs); p += 2 {
			old := noisePairs[p]
			if len(s)-i < len(old) || string(s[i:i+len(old)]) != old {
				continue
			}
			if strings.HasSuffix(old, greetingEnd) && !pauseAt(s[i+len(old):], next) {
				continue
			}
			out = append(out, noisePairs[p+1]...)
			i += len(old)
			matched = true
			break
		}
		if !matched {
			out = append(out, s[i])
			i++
		}
	}
	return out
}

// greetingEnd ends the greetings (你好, 您好, 领导们好) that are noise only
// before a pause. 好 is also "very", "easy to" and the start of words, so
// run on into the next character a greeting is most often part of what the
// letter says: 局长你好像收了… (seems to have taken), 开发商给您好处费
// (a kickback), 你好好想想, 你好久没来. A greeting followed by punctuation
// or a space, or ending the text, is one: 领导您好！, 您好，我是…, 你好 我想反映.
// That rule needs no list of words, which would never be complete; what it
// misses (您好我是…) keeps a few weak features, where a word eaten could
// lose a rule (好处费 is corruption).
const greetingEnd = "好"

// pauseAt reports whether rest, the edge after a phrase, and next, the text
// after the edge, begin with a pause: a space or punctuation (a separator
// to the features), or nothing at all.
func pauseAt(rest, next []byte) bool {
	if len(rest) == 0 {
		rest = next
	}
	if len(rest) == 0 {
		return true
	}
	r, _ := utf8.DecodeRune(rest)
	return isSep(r)
}

// noiseEdges are the opening and closing of text where greetings are
// looked for: up to 48 bytes each, cut on rune boundaries; a text of 96
// bytes or less is all opening.
func noiseEdges(text []byte) (head, tail []byte) {
	const edge = 48
	if len(text) <= 2*edge {
		return text, text[len(text):]
	}
	head, tail = text[:edge], text[len(text)-edge:]
	for len(head) > 0 && !utf8.RuneStart(text[len(head)]) {
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return head, tail
}

// hasNoise is a cheap pre-check for the replacer: every noise phrase holds
// one of the characters of noiseMarks. One pass over b, comparing
// the three bytes at each lead byte of a Chinese character as one number.
func hasNoise(b []byte) bool {
	for i, c := range b {
		if c >= 0xE0 && i+2 < len(b) && isKey(noiseKeys, uint32(c)<<16|uint32(b[i+1])<<8|uint32(b[i+2])) {
			return true
		}
	}
	return false
}

const noiseMarks = "尊好此敬电"

// noiseKeys are noiseMarks' characters as their UTF-8 bytes in a number;
// noiseLeads are the first characters of the noise phrases, the same way.
var noiseKeys, noiseLeads = threeByteKeys(noiseMarks), threeByteKeys(func() string {
	var firsts []rune
	for p := 0; p < len(noisePairs); p += 2 {
		r, n := utf8.DecodeRuneInString(noisePairs[p])
		if n != 3 {
			panic("triage: a noise phrase must open with a three-byte character: " + noisePairs[p])
		}
		firsts = append(firsts, r)
	}
	return string(firsts)
}())

// threeByteKeys gives each character of s, all three bytes long in UTF-8,
// as its bytes in one number, without repeats.
func threeByteKeys(s string) (keys []uint32) {
	for _, r := range s {
		var u [3]byte
		utf8.EncodeRune(u[:], r)
		if k := uint32(u[0])<<16 | uint32(u[1])<<8 | uint32(u[2]); !isKey(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func isKey(keys []uint32, k uint32) bool {
	for _, m := range keys {
		if k == m {
			return true
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// appendFolded appends r, folded by foldRune, to dst: nothing for a rune
// that carries nothing, and a space only when dst does not end in one
// (space says whether it does, and is returned updated).
func appendFolded(dst []byte, r rune, space bool) ([]byte, bool) {
	switch r = foldRune(r); {
	case r < 0:
	case r == ' ':
		if !space {
			dst, space = append(dst, ' '), true
		}
	default:
		dst, space = utf8.AppendRune(dst, r), false
	}
	return dst, space
}
