package triage

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"full-width", "ＡＢＣ１２３，ｘｙｚ", "abc123,xyz"},
		{"ideographic space", "你\u3000\u3000要", "你 要"},
		{"traditional", "拆遷補償與養老保險", "拆迁补偿与养老保险"},
		{"markup", "<p>路灯<b>不亮</b></p>&nbsp;请修", "路灯 不亮 请修"},
		{"invisible", "贪\u200b污\ufeff", "贪污"},
		// Found by FuzzNormalize as not idempotent: a reference decoded to
		// nothing joined "&#0" and ";" into one for a second pass; and
		// 薴's simplified form 苧 is itself in the table (苎).
		{"dropped reference", "&#0&#0;;", "&#0 ;"},
		{"dropped reference after &", "a&&#x200b;#65;", "a& #65;"},
		{"chained traditional", "薴麻", "苎麻"},
		// Every default-ignorable code point goes, not only the zero-width
		// ones: soft hyphen, bidirectional marks and isolates, Mongolian
		// vowel separator, combining grapheme joiner, variation selector,
		// Hangul filler, tag character.
		{"ignorable", "贪\u00ad污\u202e受\u2066贿\u2069村\u180e支\u034f书\ufe0f😀\ufe0f\u3164a\U000E0041b\u061c", "贪污受贿村支书😀ab"},
		// Look-alikes from a PDF's radicals and compatibility ideographs
		// read as the characters they look like, traditional ones simplified.
		{"look-alikes", "⼈⺠⼯作⾺路\u2fc3\uf92b", "人⺠工作马路鸟狼"},
		{"ignorable as a reference", "贪&#173;污", "贪污"},
		{"greeting", "尊敬的领导：您好！小区停水三天了", ": !小区停水三天了"},
		{"thanks kept", "谢谢", "谢谢"},
		{"a 12345 operator's frame", "市民来电反映：小区停水三天了", ":小区停水三天了"},
		{"an operator's frame before a question", "市民来电咨询：社保怎么转移", "咨询:社保怎么转移"},
		{"whitespace", "  a \n\t b  ", "a b"},
		{"invalid utf-8", "a\xffb", "ab"},
		{"lone angle", "3<5 and 7>2", "3<5 and 7>2"},
		{"full-width markup", "＜ｂ＞路灯＜／ｂ＞", "路灯"},
		{"markup broken by an invisible character", "<\u200bp>路灯", "路灯"},
		{"angle before a tag", "a<<p>b", "a< b"},
		{"style", "<html><head><style>body{font-family:Microsoft YaHei;font-size:14px}</style></head><body><div>城管砸了我的摊子还打人</div></body></html>", "城管砸了我的摊子还打人"},
		{"script", "<SCRIPT type=text/javascript>var font = 1;</script >路灯", "路灯"},
		{"style unclosed", "<style>路灯坏了", "路灯坏了"},
		{"style closed by its name only", "<style>a{}</stylesheet>b{}</style>路灯", "路灯"},
		{"attributes", `<div class="a" style='x'>路灯</div><font face=宋体 size=3>不亮</font>`, "路灯 不亮"},
		{"empty elements", "路灯<br>不亮<br/>请<br />修<p >好", "路灯 不亮 请 修 好"},
		{"comment, declaration, namespaces", `<!DOCTYPE html><!--[if mso]><?xml version="1.0"?><o:p></o:p><st1:chsdate year="2026">路灯`, "路灯"},
		{"less than in words", "a<b and c>d", "a b and c>d"},
		{"less than before a letter", "标准要求夜间 L<Lmax，噪声>70分贝", "标准要求夜间 l lmax,噪声>70分贝"},
		{"less than before a number", "<5 岁儿童", "<5 岁儿童"},
		{"boolean attribute", "a<td nowrap>b<td nowrap align=left>c<input type=checkbox checked/>d<hr noshade >e", "a b c d e"},
		{"other bare word is text", "a<td now>b<td nowrapped>c", "a td now>b td nowrapped>c"},
		{"closing tag with more", "a</b c>d", "a /b c>d"},
		{"tag too long", "<a href=" + strings.Repeat("x", 2048) + ">路灯", "a href=" + strings.Repeat("x", 2048) + ">路灯"},
		{"entities in the middle", "身高&lt;1.2米&nbsp;的儿童&quot;免费&quot;&amp;", "身高 1.2米 的儿童 免费"},
		{"numeric entities", "&#22478;&#x7BA1;打人&#65312;", "城管打人"},
		{"numeric entity traditional", "&#36010;污", "贪污"},
		{"numeric entity ASCII", "&#60;p&#62;路灯&#0;&#x110000;&#99999999;", "p 路灯&#99999999;"},
		{"entity decoded once", "&amp;lt;p&amp;gt;", "lt;p gt;"},
		{"not entities", "AT&T R&D &foo; &", "at&t r&d &foo; &"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// BenchmarkNormalizeUnclosedMarkup: markup that never closes must cost no
// more than text, the time growing with the length, not its square. Compare
// the 64 KiB and 1 MiB figures of one unit: about 16 times as long is
// linear, about 256 quadratic. (A benchmark, not a timed test: the
// machines that run the tests are shared.)
//
//	go test ./triage -run '^$' -bench NormalizeUnclosedMarkup
func BenchmarkNormalizeUnclosedMarkup(b *testing.B) {
	for _, unit := range []string{"<a", "<a x=", "<!a", "<style>", "&#1", "<a&"} {
		for _, n := range []int{1 << 16, 1 << 20} {
			s := strings.Repeat(unit, n/len(unit))
			b.Run(fmt.Sprintf("%s/%dKiB", unit, n>>10), func(b *testing.B) {
				b.SetBytes(int64(len(s)))
				for b.Loop() {
					Normalize(s)
				}
			})
		}
	}
}

// Every noise phrase holds a mark that hasNoise looks for, and is replaced
// by something shorter (stripNoise rewrites in place).
func TestNoiseMarks(t *testing.T) {
	for i := 0; i < len(noisePairs); i += 2 {
		phrase, by := noisePairs[i], noisePairs[i+1]
		if !hasNoise([]byte("路灯" + phrase + "不亮")) {
			t.Errorf("hasNoise misses %q", phrase)
		}
		if len(by) >= len(phrase) {
			t.Errorf("%q is replaced by the longer %q", phrase, by)
		}
	}
}

// Greetings are only looked for at the edges of long texts.
func TestNormalizeLongGreeting(t *testing.T) {
	mid := strings.Repeat("道路积水", 40)
	got := Normalize("尊敬的领导您好，" + mid + "您好。此致敬礼")
	if strings.Contains(got[:30], "尊敬") || strings.HasSuffix(got, "敬礼") {
		t.Errorf("edges not stripped: %q…%q", got[:30], got[len(got)-30:])
	}
	if !strings.Contains(got, mid) {
		t.Error("the middle changed")
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("尊敬的領導您好，ＡＢＣ<b>x</b>")
	f.Add("\xff\xfe<")
	f.Add("\xe0\x80\xaf\xed\xa0\x80「拆遷」，\u3000\u2028“補償”\uff01\ufeff")
	f.Add("您好 " + strings.Repeat("路灯 不亮 ", 12) + " 此致 敬礼 ")
	f.Add(strings.Repeat("&amp;", 12) + "<b>" + strings.Repeat("x ", 30) + "&lt;&gt;尊敬的")
	f.Add("<style>a{}</style><b c=d>x</b ><br/>&#20320;&#x597d;<L<a <td x>")
	f.Add("&#0&#0;;薴")
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q is not UTF-8", s, n)
		}
		if n != strings.TrimSpace(n) || strings.Contains(n, "  ") {
			t.Fatalf("Normalize(%q) = %q: spaces not collapsed", s, n)
		}
		if ref := normalizeReference(s); n != ref {
			t.Fatalf("Normalize(%q) = %q, the rune-by-rune reference gives %q", s, n, ref)
		}
		for i := 0; i < len(n); {
			r, w := decode3([]byte(n), i)
			if rr, ww := utf8.DecodeRuneInString(n[i:]); r != rr || w != ww {
				t.Fatalf("decode3(%q, %d) = %U/%d, utf8 says %U/%d", n, i, r, w, rr, ww)
			}
			i += w
		}
		if Normalize(n) != n && len(s) <= 96 { // a longer text has phrases left in its middle, which may reach an edge
			t.Fatalf("not idempotent: %q → %q → %q", s, n, Normalize(n))
		}
	})
}

// normalizeReference is Normalize without its fast paths: every rune
// decoded by the utf8 package and folded by foldRune. Normalize must agree
// with it on any input.
func normalizeReference(s string) string {
	var dst []byte
	space := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r = foldRune(r); {
		case r < 0:
		case r == ' ':
			if !space {
				dst = append(dst, ' ')
				space = true
			}
		default:
			dst = utf8.AppendRune(dst, r)
			space = false
		}
	}
	if space && len(dst) > 0 {
		dst = dst[:len(dst)-1]
	}
	return string(stripNoiseReference(decodeEntities(stripTags(dst, 0), 0)))
}

// stripNoiseReference is stripNoise by replacing strings: the phrases
// removed from the edges (noiseEdges) until none is left, then the whole
// text trimmed and its runs of space folded.
func stripNoiseReference(text []byte) []byte {
	head, tail := noiseEdges(text)
	if !hasNoise(head) && !hasNoise(tail) {
		return text
	}
	mid := string(text[len(head) : len(text)-len(tail)])
	all := func(s, next string) string {
		for {
			r := replaceNoiseReference(s, next)
			if r == s {
				return r
			}
			s = r
		}
	}
	return []byte(foldSpaces(all(string(head), mid+string(tail)) + mid + all(string(tail), "")))
}

// noiseReplacer replaces as replaceNoise does, given a last character that
// says what follows the text: a greeting that must be followed by a pause
// is listed once before each pause character (\x00 among them: the text
// ends or a pause follows it).
var noiseReplacer = func() *strings.Replacer {
	var pairs []string
	for i := 0; i < len(noisePairs); i += 2 {
		old, by := noisePairs[i], noisePairs[i+1]
		if !strings.HasSuffix(old, greetingEnd) {
			pairs = append(pairs, old, by)
			continue
		}
		for r := range rune(0x10000) {
			if isSep(r) {
				pairs = append(pairs, old+string(r), by+string(r))
			}
		}
	}
	return strings.NewReplacer(pairs...)
}()

// replaceNoiseReference is replaceNoise(nil, s, next) by noiseReplacer.
func replaceNoiseReference(s, next string) string {
	end := "a" // no pause follows
	if r, _ := utf8.DecodeRuneInString(next); next == "" || isSep(r) {
		end = "\x00"
	}
	return strings.TrimSuffix(noiseReplacer.Replace(s+end), end)
}

func foldSpaces(s string) string {
	s = strings.TrimSpace(s)
	for strings.Contains(s, "  ") {
		s = strings.ReplaceAll(s, "  ", " ")
	}
	return s
}

// replaceNoise, which works in place on bytes, replaces as a
// strings.Replacer of the same phrases does, on texts made of the phrases,
// their prefixes and other characters, followed by a pause, by the end or
// by another character.
func TestReplaceNoise(t *testing.T) {
	var parts []string
	for i := 0; i < len(noisePairs); i += 2 {
		p := noisePairs[i]
		parts = append(parts, p, p[:len(p)/2])
	}
	parts = append(parts, "路灯", " ", "&", "a", "好", "像", "!", "。")
	for i, s := range mixes(parts, 3000) {
		next := []string{"", "像", "!", " 路灯"}[i%4]
		if got, want := string(replaceNoise(nil, []byte(s), []byte(next))), replaceNoiseReference(s, next); got != want {
			t.Fatalf("replaceNoise(%q) before %q = %q, strings.Replacer gives %q", s, next, got, want)
		}
	}
}

// Greetings go where they stand alone, but not where 好 is part of the
// next word.
func TestGreetings(t *testing.T) {
	tests := []struct{ in, want string }{
		{"领导您好！小区停水三天了", "!小区停水三天了"},
		{"您好，我是三号楼的住户", ",我是三号楼的住户"},
		{"你好 我想反映噪音问题", "我想反映噪音问题"},
		{"尊敬的领导：您好！", ": !"},
		{"您好您好！路灯坏了", "!路灯坏了"},
		{"您好尊敬的领导：路灯坏了", ":路灯坏了"},
		{"路灯坏了。你好", "路灯坏了。"},
		{"局长你好像收了开发商的钱", "局长你好像收了开发商的钱"},
		{"开发商给您好处费了吧", "开发商给您好处费了吧"},
		{"你好好想想", "你好好想想"},
		{"领导们好像都不管", "领导们好像都不管"},
		{"领导你好久没来了", "领导你好久没来了"},
		{"你好看不起人", "你好看不起人"},
		{"您好我是住户", "您好我是住户"}, // run on: kept
	}
	for _, tt := range tests {
		if got := Normalize(tt.in); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// At the end of the opening of a long text, what follows in the text
	// decides.
	for _, next := range []string{"像收了钱", "，请查"} {
		open := strings.Repeat("路", 12) + "局长你好" // 48 bytes
		got := Normalize(open + next + strings.Repeat("道路积水", 10))
		if kept := strings.Contains(got, "你好"); kept != strings.HasPrefix(next, "像") {
			t.Errorf("%q before %q: greeting kept %v", open, next, kept)
		}
	}
}

// mixes returns n texts, each of up to seven of parts picked at random (the
// same texts on every run).
func mixes(parts []string, n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		out[i] = b.String()
	}
	return out
}
