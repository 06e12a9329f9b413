package triage

import (
	"bytes"
	"strings"
	"sync"
	"unicode/utf8"

	minsheng "github.com/minsheng/minsheng"
)

// builtin are the override rules every engine has, written from
// ../shared/TRIAGE-LABELS.md. The model decides the class; these force what
// must not depend on it: obvious spam and tests are rejected, words of
// corruption always raise a discipline lead (recall first: a missed lead
// never reaches the inspectors), danger to life marks an item urgent.
var builtin = []Rule{
	{Name: "spam_invoice", Any: []string{"代开各类发票", "代开各种发票", "代开增值税发票", "发票代开", "代开发票联系", "专业代开发票", "长期代开发票"}, Class: minsheng.ClassInvalid, Force: true},
	{Name: "test_message", Any: []string{"测试测试", "这是一条测试", "test message", "testing 123"}, Class: minsheng.ClassInvalid, Force: true},

	{Name: "corruption", Any: []string{"贪污", "受贿", "行贿", "索贿", "挪用公款", "虚报冒领", "套取资金", "套取补贴", "私分", "中饱私囊", "吃回扣", "权钱交易", "收红包", "收受红包"}, DisciplineLead: true},
	{Name: "public_funds", Any: []string{"公款吃喝", "公款旅游", "公车私用", "大操大办", "收受礼金", "小金库", "违规发放"}, DisciplineLead: true},
	{Name: "abuse_of_power", Any: []string{"以权谋私", "滥用职权", "徇私舞弊", "贿选", "优亲厚友", "打击报复", "充当保护伞", "保护伞"}, DisciplineLead: true},
	{Name: "to_inspectors", Any: []string{"纪委", "纪检", "监察委"}, DisciplineLead: true},

	{Name: "urgent_danger", Any: []string{"燃气泄漏", "煤气泄漏", "有生命危险", "着火了", "坍塌", "触电", "要跳楼", "轻生"}, Urgent: true},
}

// matcher finds which of a set of keywords occur in a text in one pass: a
// bitmap of first runes skips most positions at the cost of a load.
type matcher struct {
	first    [0x10000 / 64]uint64
	byFirst  map[rune][]int // first rune → keyword indexes
	keywords []string
	kwBytes  [][]byte
}

func newMatcher(keywords []string) *matcher {
	m := &matcher{byFirst: map[rune][]int{}, keywords: keywords}
	for i, k := range keywords {
		m.kwBytes = append(m.kwBytes, []byte(k))
		r, _ := utf8.DecodeRuneInString(k)
		if r < 0x10000 {
			m.first[r/64] |= 1 << (r % 64)
		}
		m.byFirst[r] = append(m.byFirst[r], i)
	}
	return m
}

// match sets found[i] for every keyword i in text.
func (m *matcher) match(text []byte, found []bool) {
	for i := 0; i < len(text); {
		r, n := decode3(text, i)
		if r >= 0x10000 || m.first[r/64]&(1<<(r%64)) != 0 {
			for _, k := range m.byFirst[r] {
				if !found[k] && bytes.HasPrefix(text[i:], m.kwBytes[k]) {
					found[k] = true
				}
			}
		}
		i += n
	}
}

// compiledRule is a Rule with its keywords as matcher indexes.
type compiledRule struct {
	Rule
	any, all []int
}

func compileRules(rules []Rule) ([]compiledRule, *matcher) {
	idx := map[string]int{}
	var kws []string
	id := func(w string) int {
		w = Normalize(w)
		if i, ok := idx[w]; ok {
			return i
		}
		idx[w] = len(kws)
		kws = append(kws, w)
		return len(kws) - 1
	}
	out := make([]compiledRule, len(rules))
	for i, r := range rules {
		out[i].Rule = r
		for _, w := range r.Any {
			if w != "" {
				out[i].any = append(out[i].any, id(w))
			}
		}
		for _, w := range r.All {
			if w != "" {
				out[i].all = append(out[i].all, id(w))
			}
		}
	}
	return out, newMatcher(kws)
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

var builtinLead = sync.OnceValue(func() func(title, body string) bool {
	var lead []Rule
	for _, r := range builtin {
		if r.DisciplineLead {
			lead = append(lead, r)
		}
	}
	rules, m := compileRules(lead)
	return func(title, body string) bool {
		found := make([]bool, len(m.keywords))
		m.match([]byte(Normalize(title)+"\n"+Normalize(body)), found)
		for i := range rules {
			if _, ok := rules[i].fires(found, m.keywords); ok {
				return true
			}
		}
		return false
	}
})

// LeadRuleFires reports whether a built-in discipline-lead rule fires on a
// text (for measuring the engine's lead recall in training).
func LeadRuleFires(title, body string) bool { return builtinLead()(title, body) }
