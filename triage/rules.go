package triage

import (
	"bytes"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
)

// builtin are the override rules every engine has, written from
// ../shared/TRIAGE-LABELS.md. The model decides the class; these force what
// must not depend on it: tests are rejected, words of
// corruption always raise a discipline lead (recall first: a missed lead
// never reaches the inspectors), danger to life marks an item urgent.
var builtin = []Rule{
	// Invoice-forging ads lean to invalid but do not force it: a letter
	// complaining about such ads on the stairs is a demand. On trec06c the
	// spam screen rejects every such mail without the rule (measured when
	// the rule stopped forcing, 2026-12-01: the same 2,779 of 2,791 spam
	// rejected with or without it).
	{Name: "spam_invoice", Any: []string{"代开各类发票", "代开各种发票", "代开增值税发票", "发票代开", "代开发票联系", "专业代开发票", "长期代开发票"}, Class: minsheng.ClassInvalid, Weight: 1},
	{Name: "test_message", Any: []string{"测试测试", "这是一条测试", "test message", "testing 123"}, Class: minsheng.ClassInvalid, Force: true},

	// Lead rules. The words are general names of the misconduct that
	// TRIAGE-LABELS.md lists, not phrases of one letter. A word joins only
	// if most of the labelled rows it occurs in are leads; words as common in
	// letters without a lead (腐败, 造假, 泄露, 渎职, 不作为 alone …) are left to the
	// model. Figures "a/b" below: labelled rows with the word that are
	// leads / are not (counted on triage/labels when the word was added;
	// `minsheng train -lead-dump` lists the leads the engine misses).
	//
	// Bribery and embezzlement. 回扣 2/0, 好处费 2/0, 截留 5/0; 贿赂 1/2 is
	// kept as the plain word for a bribe (受贿 and 行贿 only cover taking and
	// giving; its two non-leads accuse a firm of bribing officials).
	{Name: "corruption", Any: []string{"贪污", "受贿", "行贿", "索贿", "贿赂", "挪用公款", "虚报冒领", "套取资金", "套取补贴", "私分", "中饱私囊", "回扣", "好处费", "截留", "权钱交易", "收红包", "收受红包"}, Except: []string{"公私分明"}, DisciplineLead: true},
	// Public funds and cars, banquets and gifts. 吃喝玩乐 2/0, 大吃大喝 1/0,
	// 八项规定 (the Party's frugality rules) 2/0.
	{Name: "public_funds", Any: []string{"公款吃喝", "公款旅游", "公车私用", "大操大办", "收受礼金", "小金库", "违规发放", "吃喝玩乐", "大吃大喝", "八项规定"}, DisciplineLead: true},
	// Abuse of power. 挟私报复 (retaliation out of spite, next to 打击报复) 2/0,
	// 假公济私 2/0. Added 2026-12-01 so that an accusation made in passing
	// in a long letter, which the lead head's document-wide score dilutes,
	// is still raised: 包庇 (shielding) 24/10, 官商勾结 (officials colluding
	// with business) 7/4, 徇私 6/1; every lead among those rows was already
	// raised, and 3 of the 15 others were not.
	{Name: "abuse_of_power", Any: []string{"以权谋私", "滥用职权", "徇私舞弊", "徇私", "贿选", "优亲厚友", "打击报复", "挟私报复", "假公济私", "充当保护伞", "保护伞", "包庇", "官商勾结"}, DisciplineLead: true},
	// Favouritism and nepotism: 关系户 4/0, 人情关系 2/0, 任人唯亲 (no hit yet).
	{Name: "favouritism", Any: []string{"关系户", "人情关系", "任人唯亲"}, DisciplineLead: true},
	// Falsified data: 虚报 (虚报数据, 虚报工程量 …) 3/0, 数据造假 1/0, 统计造假,
	// 数字脱贫 (poverty relief on paper) 1/0. 造假 alone is 6/5: fake goods,
	// contracts and a developer's papers as often as an official's data.
	{Name: "falsified_data", Any: []string{"虚报", "数据造假", "统计造假", "数字脱贫"}, DisciplineLead: true},
	// Dereliction by officials, formalism and bureaucratism. 乱作为 13/5;
	// 干部不作为 (a cadre named as doing nothing) 1/0, while 不作为 alone is
	// 32/95 (mere slowness is not a lead); 形式主义 11/5; 官僚 (官僚主义,
	// 官僚作风) 12/4; 作风问题 (the inspectors' term for misconduct in work
	// style) 1/0, where 作风 alone is 7/5.
	{Name: "dereliction", Any: []string{"乱作为", "干部不作为"}, DisciplineLead: true},
	{Name: "formalism_bureaucratism", Any: []string{"形式主义", "官僚", "作风问题"}, DisciplineLead: true},
	// The inspectors named, or their remit: 违纪 (breaking discipline) 13/5,
	// added 2026-12-01 with the words above (1 of its 5 non-leads was not
	// already flagged).
	{Name: "to_inspectors", Any: []string{"纪委", "纪检", "监察委", "违纪"}, Except: []string{"世纪委"}, DisciplineLead: true},

	// Danger to life now. The gas words other than 泄漏 (煤气味, 燃气漏气 …) were
	// added 2026-12-01, after a letter that smelt gas in the stairwell went
	// unmarked; 漏气 alone is left out (a tyre, a window).
	{Name: "urgent_danger", Any: []string{"燃气泄漏", "煤气泄漏", "天然气泄漏", "液化气泄漏", "燃气漏气", "煤气漏气", "煤气味", "燃气味", "天然气味", "电梯困人", "有生命危险", "着火了", "坍塌", "触电", "要跳楼", "轻生"}, Except: []string{"接触电线", "接触电源", "接触电路", "年轻生活", "年轻生命"}, Urgent: true},
}

// actorWords name an official, a cadre, a public body or its staff: the
// lead head raises a lead only on a text that holds one (Config.LeadActors).
// Written from TRIAGE-LABELS.md's "identifiable official, cadre or public
// body's staff": titles of office (书记 … 市长, 主任, 所长), the bodies
// themselves (政府, 局, 村委, 派出所, 法院), their staff (干部, 工作人员, 警 for
// 民警, 交警 and 辅警, 城管), public institutions' staff (老师, 医生, 院长),
// state firms' managers (国企, 总经理) and the protector behind a business
// (保护伞). Of the 416 leads in our labels, one (an example of our own,
// a complaint about a valuer) names none of them; the last three groups
// were added after reading the five letters and examples the first ones
// missed (监考老师, 辅警, 城投集团's 总经理, 保护伞), and 中学, 小学 and 大学 beside
// 学校 after a school's illegal fees, a lead to the second labeller
// (labels/second-opinion.tsv), named none. Broad single characters
// (所, 办) were left out, since 所以 and 办理 are in almost every letter.
// The English words, for letters written in English, were added on
// 2026-12-01 (none of our labelled leads is in English): a whole word
// each, so a plural is a word of its own.
var actorWords = []string{
	"书记", "支书", "村长", "主任", "局长", "科长", "处长", "镇长", "乡长", "区长", "县长", "市长", "所长", "站长", "院长", "校长", "组长", "队长", "厅",
	"干部", "领导", "官", "工作人员", "公务员", "党员", "公职", "会计", "执法", "警", "派出所", "城管",
	"政府", "局", "委", "办公室", "村组", "社区", "街道", "部门", "法院", "检察", "公安",
	"老师", "教师", "医生", "医院", "学校", "中学", "小学", "大学", "国企", "总经理", "保护伞",
	"official", "officials", "officer", "officers", "cadre", "cadres", "leader", "leaders", "party member", "civil servant",
	"mayor", "secretary", "director", "chief", "village head", "police", "policeman", "policemen", "judge", "prosecutor", "clerk", "staff",
	"government", "bureau", "department", "office", "committee", "council", "township", "court",
	"teacher", "teachers", "principal", "doctor", "doctors", "hospital", "school",
}

// matcher finds which of a set of keywords occur in a text in one pass. A
// bitmap of the keywords' first runes skips most positions at the cost of
// a load; at a set bit, the bits below it in the bitmap count to the
// keywords starting with that rune (a rank, so no map lookup per hit).
//
// A keyword that begins or ends with a Latin letter or digit matches only
// on that side of a word's edge ("test message" is not in "latest
// message"); Chinese has no such edges, so a Chinese keyword can instead
// carry exception phrases: where the text at a hit spells one of them (私分
// inside 公私分明), the hit does not count.
//
// Extracting features looks for keywords through a coarser filter
// (maybe), and the matcher's own pass (match), the reference, through the
// bitmap alone.
type matcher struct {
	// lone and pair choose the positions extract asks at about: lone has
	// a bit for the hash of each keyword of one rune, pair one for the
	// hash of the first two runes of each longer keyword. A keyword can
	// only be at a position whose rune is set in lone, or whose rune and
	// the next are set in pair; most of the positions that the bitmap of
	// first runes passes (区, 市, 公, 有 …, some 15 % of a letter's runes)
	// fail the pair: 区 starts 区长, but is mostly followed by other
	// characters. On 附件3 this made deciding some 9 % faster.
	lone     [loneBits / 64]uint64
	pair     [pairBits / 64]uint64
	first    [0x10000 / 64]uint64
	rank     [0x10000 / 64]uint16 // set bits of first in the words before
	groups   [][]int              // per set bit, in rune order: keyword indexes
	astral   map[rune][]int       // first runes outside the BMP
	keywords []string
	kwBytes  [][]byte
	edges    []uint8       // per keyword: edgeLeft, edgeRight
	except   [][]exception // per keyword: phrases whose hits do not count
}

const (
	edgeLeft  = 1 << iota // the keyword starts with a Latin letter or digit
	edgeRight             // it ends with one
)

// exception is a phrase holding a keyword off bytes into it.
type exception struct {
	phrase []byte
	off    int
}

func newMatcher(keywords []string, except map[int][]string) *matcher {
	m := &matcher{astral: map[rune][]int{}, keywords: keywords, except: make([][]exception, len(keywords))}
	byFirst := map[rune][]int{}
	for i, k := range keywords {
		m.kwBytes = append(m.kwBytes, []byte(k))
		var e uint8
		if k != "" && isWordRune(rune(k[0])) {
			e |= edgeLeft
		}
		if k != "" && isWordRune(rune(k[len(k)-1])) {
			e |= edgeRight
		}
		m.edges = append(m.edges, e)
		for _, p := range except[i] {
			for off := 0; ; {
				j := strings.Index(p[off:], k)
				if j < 0 {
					break
				}
				m.except[i] = append(m.except[i], exception{[]byte(p), off + j})
				off += j + 1
			}
		}
		r, n := utf8.DecodeRuneInString(k)
		if r2, _ := utf8.DecodeRuneInString(k[n:]); n == len(k) {
			h := loneHash(r)
			m.lone[h/64] |= 1 << (h % 64)
		} else {
			h := pairHash(r, r2)
			m.pair[h/64] |= 1 << (h % 64)
		}
		if r >= 0x10000 {
			m.astral[r] = append(m.astral[r], i)
			continue
		}
		m.first[r/64] |= 1 << (r % 64)
		byFirst[r] = append(byFirst[r], i)
	}
	n := 0
	for w, set := range m.first {
		m.rank[w] = uint16(n)
		for b := range 64 {
			if set&(1<<b) != 0 {
				m.groups = append(m.groups, byFirst[rune(w*64+b)])
				n++
			}
		}
	}
	return m
}

// match sets found[i] for every keyword i in text.
func (m *matcher) match(text []byte, found []bool) {
	for i := 0; i < len(text); {
		r, n := decode3(text, i)
		if m.starts(r) {
			m.at(text, i, r, found)
		}
		i += n
	}
}

// Sizes of matcher.lone and matcher.pair, in bits: with a few hundred
// keywords, a position passes by chance one time in twenty or so.
const (
	loneLog  = 10
	loneBits = 1 << loneLog
	pairLog  = 13
	pairBits = 1 << pairLog
)

func loneHash(r rune) uint32 { return uint32(r) * 0x9E3779B1 >> (32 - loneLog) }

func pairHash(r, next rune) uint32 {
	return (uint32(r)*0x85EBCA6B ^ uint32(next)*0xC2B2AE35) >> (32 - pairLog)
}

// maybe reports whether a keyword of one rune may be r (lone), and
// whether one of more may start with prev followed by r (pairs). A
// keyword at position i, of rune r, is found by asking at i when lone
// says so, or at i when the next rune passes pairs with r: every position
// that holds a keyword is asked about, and only a few others.
// prev is -1 at the start of a text, where no rune comes before.
func (m *matcher) maybe(prev, r rune) (lone, pairs bool) {
	l, p := loneHash(r), pairHash(prev, r)
	return m.lone[l/64]&(1<<(l%64)) != 0, prev >= 0 && m.pair[p/64]&(1<<(p%64)) != 0
}

// ask is at for what maybe said of r at text[i], prev being the rune at
// text[before]: at i if lone, at before if pairs.
func (m *matcher) ask(text []byte, i int, r rune, before int, prev rune, lone, pairs bool, found []bool) {
	if lone {
		m.at(text, i, r, found)
	}
	if pairs {
		m.at(text, before, prev, found)
	}
}

// starts reports whether some keyword may start with r.
func (m *matcher) starts(r rune) bool {
	if r < 0x10000 {
		return m.first[r/64]&(1<<(r%64)) != 0
	}
	return len(m.astral) > 0
}

// at sets found[k] for the keywords k that text[i:] starts with, r being
// the rune at i (which may start none).
func (m *matcher) at(text []byte, i int, r rune, found []bool) {
	var group []int
	if r < 0x10000 {
		w, bit := r/64, uint64(1)<<(r%64)
		if m.first[w]&bit == 0 {
			return
		}
		group = m.groups[int(m.rank[w])+bits.OnesCount64(m.first[w]&(bit-1))]
	} else {
		group = m.astral[r]
	}
	for _, k := range group {
		if !found[k] && bytes.HasPrefix(text[i:], m.kwBytes[k]) && m.counts(text, i, k) {
			found[k] = true
		}
	}
}

// counts reports whether the hit of keyword k at text[i:] counts: at a
// word's edge where the keyword needs one, and not inside one of its
// exception phrases.
func (m *matcher) counts(text []byte, i, k int) bool {
	if e := m.edges[k]; e != 0 {
		if e&edgeLeft != 0 && i > 0 && isWordRune(rune(text[i-1])) {
			return false
		}
		if end := i + len(m.kwBytes[k]); e&edgeRight != 0 && end < len(text) && isWordRune(rune(text[end])) {
			return false
		}
	}
	for _, x := range m.except[k] {
		if at := i - x.off; at >= 0 && bytes.HasPrefix(text[at:], x.phrase) {
			return false
		}
	}
	return true
}

// compiledRule is a Rule with its keywords as matcher indexes.
type compiledRule struct {
	Rule
	any, all []int
}

func compileRules(rules []Rule) ([]compiledRule, *matcher) {
	idx := map[string]int{}
	var kws []string
	except := map[int][]string{}
	// A keyword is one matcher entry per set of exception phrases: the
	// exceptions are a rule's, and must not silence another rule that
	// names the same keyword (a user's 纪委 excepting 纪委书记 must leave the
	// built-in to_inspectors rule firing there).
	id := func(w string, ex []string) int {
		w = foldKeyword(w)
		var mine []string
		for _, p := range ex {
			if p = foldKeyword(p); strings.Contains(p, w) && !slices.Contains(mine, p) {
				mine = append(mine, p)
			}
		}
		slices.Sort(mine)
		key := strings.Join(append([]string{w}, mine...), "\x00")
		i, ok := idx[key]
		if !ok {
			i = len(kws)
			idx[key] = i
			kws = append(kws, w)
			except[i] = mine
		}
		return i
	}
	out := make([]compiledRule, len(rules))
	for i, r := range rules {
		out[i].Rule = r
		for _, w := range r.Any {
			if foldKeyword(w) != "" {
				out[i].any = append(out[i].any, id(w, r.Except))
			}
		}
		for _, w := range r.All {
			if foldKeyword(w) != "" {
				out[i].all = append(out[i].all, id(w, r.Except))
			}
		}
	}
	return out, newMatcher(kws, except)
}

// foldKeyword is a keyword as it is looked for: folded as the text is
// (full-width forms, case, traditional characters, spaces), but with no
// greeting or markup removed, so that a keyword means what it says.
func foldKeyword(w string) string {
	b := make([]byte, 0, len(w))
	space := true
	for _, r := range w {
		b, space = appendFolded(b, r, space)
	}
	if space && len(b) > 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// fires reports whether the rule fires on the found keywords, and the
// keyword that made it.
func (r *compiledRule) fires(found []bool, kws []string) (string, bool) {
	for _, k := range r.all {
		if !found[k] {
			return "", false
		}
	}
	if len(r.any) == 0 {
		if len(r.all) == 0 {
			return "", false
		}
		hit := make([]string, len(r.all))
		for i, k := range r.all {
			hit[i] = kws[k]
		}
		return strings.Join(hit, "+"), true
	}
	for _, k := range r.any {
		if found[k] {
			return kws[k], true
		}
	}
	return "", false
}

// anyFires compiles rules and returns a test of whether any of them fires
// on a title and body, normalised as the engine normalises them.
func anyFires(rules []Rule) func(title, body string) bool {
	compiled, m := compileRules(rules)
	return func(title, body string) bool {
		found := make([]bool, len(m.keywords))
		m.match([]byte(Normalize(title)+"\n"+Normalize(body)), found)
		for i := range compiled {
			if _, ok := compiled[i].fires(found, m.keywords); ok {
				return true
			}
		}
		return false
	}
}

var builtinLead = sync.OnceValue(func() func(title, body string) bool {
	var lead []Rule
	for _, r := range builtin {
		if r.DisciplineLead {
			lead = append(lead, r)
		}
	}
	return anyFires(lead)
})

var builtinActor = sync.OnceValue(func() func(title, body string) bool {
	return anyFires([]Rule{{Name: "lead_actor", Any: actorWords}})
})

// NamesActor reports whether a text holds one of the built-in words naming
// an official or public body, without which the lead head raises no lead
// (for measuring the engine's lead figures in training).
func NamesActor(title, body string) bool { return builtinActor()(title, body) }

// LeadRuleFires reports whether a built-in discipline-lead rule fires on a
// text (for measuring the engine's lead recall in training).
func LeadRuleFires(title, body string) bool { return builtinLead()(title, body) }
