package triage

import (
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
)

// builtinRule compiles one built-in rule by name.
func builtinRule(t *testing.T, name string) (compiledRule, *matcher) {
	t.Helper()
	for _, r := range builtin {
		if r.Name == name {
			rules, m := compileRules([]Rule{r})
			return rules[0], m
		}
	}
	t.Fatalf("no built-in rule %s", name)
	return compiledRule{}, nil
}

// Each lead keyword added for misconduct the guide lists fires on a short
// letter that uses it, and no lead rule fires on a near miss: a letter with
// similar words but no accusation (不作为 or 作风 alone, 报复 without 挟私 …).
func TestLeadRules(t *testing.T) {
	cases := []struct {
		rule, keyword, text, nearMiss string
	}{
		{"corruption", "贿赂", "他拿两条烟贿赂了街道办的干部，违建就没人管了", "他拿两条烟送给了邻居，感谢帮忙看家"},
		{"corruption", "回扣", "医院采购科长吃医药代表的回扣，药价越来越高", "回收站扣了我的押金不退"},
		{"corruption", "好处费", "办准生证要先给工作人员五百元好处费才给盖章", "这项政策对老百姓好，费用也不高"},
		{"corruption", "截留", "村里把上面发的种粮补贴截留了一半", "小区雨水截流沟堵了，一下雨就积水"},
		{"public_funds", "吃喝玩乐", "所长整天吃喝玩乐，临时工的工资却一拖再拖", "这条街吃喝都方便，就是晚上太吵"},
		{"public_funds", "大吃大喝", "镇干部中午在农家乐大吃大喝，下午办事窗口没人", "楼下饭店吃饭喝酒的人大声喧哗到半夜"},
		{"public_funds", "八项规定", "局长儿子结婚摆了五十桌，违反八项规定", "小区规定晚上八点以后不能装修，请物业执行"},
		{"abuse_of_power", "挟私报复", "我举报后主任挟私报复，扣了我全年绩效", "邻居和我吵架后把垃圾扔在我家门口"},
		{"abuse_of_power", "假公济私", "站长假公济私，用单位的钱修自家房子", "公共卫生间太脏，请环卫处清理"},
		{"abuse_of_power", "包庇", "我们怀疑村支书收了开发商的钱，才一直包庇他们", "家长不能一味包容孩子的坏习惯"},
		{"abuse_of_power", "官商勾结", "规划局官商勾结，把公园用地改成了商品房", "商场和银行合作推出了优惠活动"},
		{"abuse_of_power", "徇私", "派出所所长徇私，把打人的亲戚放了", "私家车占用消防通道"},
		{"to_inspectors", "违纪", "镇长违纪操办儿子婚宴，收了很多礼金", "小区违规停车严重，请物业管理"},
		{"favouritism", "关系户", "学校把老师子女和关系户都分到重点班", "咨询户口迁移需要开什么关系证明"},
		{"favouritism", "人情关系", "低保名额全凭人情关系，困难户评不上", "邻里关系很和睦，很有人情味"},
		{"favouritism", "任人唯亲", "新来的院长任人唯亲，科室主任都换成了他老乡", "招聘公告要求本人亲自到场报名"},
		{"falsified_data", "虚报", "街道虚报了绿化面积，树根本没种", "网上的虚假报道误导市民，请辟谣"},
		{"falsified_data", "数据造假", "环保站的噪声监测数据造假，工厂夜里照样开工", "请公开小区附近的空气监测数据"},
		{"falsified_data", "统计造假", "镇里统计造假，把没收入的户也算成了就业", "统计局的网站打不开，查不到人口数据"},
		{"falsified_data", "数字脱贫", "镇里为完成考核搞数字脱贫，收入一点没涨", "村里数字电视信号很差，请维修"},
		{"dereliction", "乱作为", "城管队长乱作为，随意扣押商户的三轮车", "小区车辆乱停乱放，物业不作为"},
		{"dereliction", "干部不作为", "村干部不作为，村口垃圾堆了半年", "社区不作为，楼下垃圾堆了半年"},
		{"formalism_bureaucratism", "形式主义", "上级搞形式主义，一个月让网格员填七张同样的表", "医保报销的表格形式太复杂，能否简化"},
		{"formalism_bureaucratism", "官僚", "局长官僚作风严重，群众预约三次都不见", "官方网站打不开，无法预约"},
		{"formalism_bureaucratism", "形式主义", "上級搞形式主義，網格員一個月填七張表", "報銷表格形式太複雜"}, // traditional script
		{"formalism_bureaucratism", "作风问题", "举报所长的作风问题，上班时间打麻将", "希望12345改进工作作风，回电话快一点"},
	}
	for _, c := range cases {
		r, m := builtinRule(t, c.rule)
		found := make([]bool, len(m.keywords))
		m.match([]byte(Normalize(c.text)), found)
		if hit, ok := r.fires(found, m.keywords); !ok || hit != Normalize(c.keyword) {
			t.Errorf("%s on %q: fired %v with %q, want %q", c.rule, c.text, ok, hit, c.keyword)
		}
		if LeadRuleFires("", c.nearMiss) {
			t.Errorf("a lead rule fires on the near miss %q", c.nearMiss)
		}
	}
}

// The matcher finds exactly the keywords a plain search finds (refFinds),
// with keywords that share a first rune, start outside the BMP, are one
// rune long, Latin, or have exception phrases.
func TestMatcherAgreesWithContains(t *testing.T) {
	kws := []string{"公款吃喝", "公车私用", "公", "😀测试", "test message", "贪污", "污", "a", "\U0001F600", "私分", "9"}
	except := map[int][]string{9: {"公私分明", "私分明"}, 5: {"贪污染"}}
	m := newMatcher(kws, except)
	pieces := []string{"公款", "吃喝", "公车私用", "😀", "测试", "test ", "message", "la", "贪", "污", "染", "a", "路灯", " ", "公", "私分", "明", "9", "x9"}
	for _, text := range mixes(pieces, 4000) {
		found := make([]bool, len(kws))
		m.match([]byte(text), found)
		for i, k := range kws {
			if want := refFinds(text, k, except[i]); found[i] != want {
				t.Fatalf("%q: found %q = %v, want %v", text, k, found[i], want)
			}
		}
	}
}

// refFinds reports whether text holds k at a place that counts: where k
// starts (ends) with a Latin letter or digit, not right after (before)
// another, and not inside one of the phrases of except.
func refFinds(text, k string, except []string) bool {
	word := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	for i := 0; i <= len(text)-len(k); i++ {
		if !strings.HasPrefix(text[i:], k) {
			continue
		}
		end := i + len(k)
		if word(k[0]) && i > 0 && word(text[i-1]) || word(k[len(k)-1]) && end < len(text) && word(text[end]) {
			continue
		}
		inside := false
		for _, p := range except {
			for s := max(0, end-len(p)); s <= i && !inside; s++ {
				inside = strings.HasPrefix(text[s:], p)
			}
		}
		if !inside {
			return true
		}
	}
	return false
}

// The urgent rule marks danger to life in its usual words, and not a
// nuisance that shares a character with them.
func TestUrgentRule(t *testing.T) {
	e := engine(t, DefaultConfig())
	for text, urgent := range map[string]bool{
		"小区燃气管道老化漏气，楼道里闻到很重的煤气味，请燃气公司马上来检修。": true,
		"三号楼的电梯困人半小时了，物业电话一直打不通，请赶快派人来救援。":   true,
		"楼下天然气泄漏了，已经疏散了住户，请燃气公司尽快处理。":        true,
		"自行车轮胎漏气了，小区门口的修车摊被城管赶走了，希望能保留。":     false,
		"小区电梯经常停运，物业维修不及时，老人上下楼很不方便。":        false,
	} {
		if d := e.DecideText("", text); d.Flags.Urgent != urgent {
			t.Errorf("%s: urgent %v, want %v", text, d.Flags.Urgent, urgent)
		}
	}
}

// Keywords inside a longer word do not fire: Latin ones at a word's edge
// only, Chinese ones not inside their rule's exception phrases; the same
// words standing alone still do.
func TestRuleEdgesAndExceptions(t *testing.T) {
	e := engine(t, DefaultConfig())
	for _, tc := range []struct {
		text  string
		rule  string
		fires bool
	}{
		{"the latest message from the committee says the lift is broken again", "test_message", false},
		{"this is a test message, please ignore", "test_message", true},
		{"他一向公私分明，这次却把补偿款私分了", "corruption", true},
		{"村主任为人公私分明，大家都信服他，希望提拔", "corruption", false},
		{"我们公司承接了二十一世纪委托的装修工程，工钱一直拖欠", "to_inspectors", false},
		{"请市纪委调查这件事", "to_inspectors", true},
		{"年轻生活压力大，希望多建公租房", "urgent_danger", false},
		{"他说活不下去了，可能要轻生", "urgent_danger", true},
		{"施工时工人接触电线，请加强安全管理", "urgent_danger", false},
		{"小孩在配电箱旁触电了", "urgent_danger", true},
		{"我们楼里一名青年轻生，站在楼顶要跳下来", "urgent_danger", true},
		{"工人直接触电倒地，请供电公司来人", "urgent_danger", true},
	} {
		d := e.DecideText("", tc.text)
		fired := hasReason(d, "rule", tc.rule) || hasReason(d, "screen", tc.rule) // a forced invalid shows as the screen
		if fired != tc.fires {
			t.Errorf("%q: %s fired %v, want %v (%+v)", tc.text, tc.rule, fired, tc.fires, d.Reasons)
		}
	}
}

// NamesActor, which train's lead table uses, reads the text as the engine
// does: traditional characters fold (幹部), and a greeting to a leader
// (领导您好) is stripped before it can count as naming one.
func TestNamesActor(t *testing.T) {
	for _, tc := range []struct {
		title, body string
		want        bool
	}{
		{"", "街道办对违建不管不问", true},
		{"舉報", "鎮幹部收了錢", true},
		{"", "补偿标准远低于同地段，至今没有解决", false},
		{"", "领导您好，小区暖气不热，请督促热力公司维修", false},
		{"", "领导您好，社区一直不处理", true},
	} {
		if got := NamesActor(tc.title, tc.body); got != tc.want {
			t.Errorf("NamesActor(%q, %q) = %v, want %v", tc.title, tc.body, got, tc.want)
		}
	}
}

// The service_manner rule that triage/README.md offers a bureau ("Complaints
// about staff manner") sends short complaints about staff manner to
// gov_service and leaves their lead alone, so the inspectors still get a
// copy; misconduct in the same text still raises its lead by the built-in
// rules.
func TestServiceMannerRule(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rules = []Rule{{Name: "service_manner", Any: []string{"态度很差", "态度差", "态度恶劣", "态度不好", "服务态度", "爱答不理", "语气生硬", "说话难听"},
		Class: minsheng.ClassGovService, Weight: 4}}
	with, plain := engine(t, cfg), engine(t, DefaultConfig())
	for _, text := range []string{"社区工作人员态度很差", "窗口工作人员态度很差。", "街道工作人员接待时语气生硬，让人很不舒服。", "社区医院护士服务态度差。"} {
		d, p := with.DecideText("", text), plain.DecideText("", text)
		if d.Class != minsheng.ClassGovService || !hasReason(d, "rule", "service_manner") {
			t.Errorf("%s: with the rule %s %.2f %+v, want gov_service", text, d.Class, d.Confidence, d.Reasons)
		}
		if d.Flags.DisciplineLead != p.Flags.DisciplineLead {
			t.Errorf("%s: the rule moved the lead: %v, %v without it", text, d.Flags.DisciplineLead, p.Flags.DisciplineLead)
		}
	}
	d := with.DecideText("", "举报科长接待信访时态度差，还收了我的好处费。")
	if !d.Flags.DisciplineLead || !hasReason(d, "rule", "corruption") {
		t.Errorf("misconduct beside bad manner: lead %v, reasons %+v", d.Flags.DisciplineLead, d.Reasons)
	}
}
