package triage

import (
	"strings"

	minsheng "github.com/minsheng/minsheng"
)

// builtin are the v0 rules, written from ../shared/TRIAGE-LABELS.md.
var builtin = []Rule{
	// Screening: not a demand.
	{Name: "spam_invoice", Any: []string{"代开发票", "发票代开", "代开各类发票", "增值税发票"}, Class: minsheng.ClassInvalid, Weight: 5, Force: true},
	{Name: "spam_ad", Any: []string{"优惠多多", "欢迎来电咨询", "加微信", "微信同号", "免费领取", "点击链接", "退订回t", "中奖", "日赚", "刷单"}, Class: minsheng.ClassInvalid, Weight: 3},
	{Name: "test_message", Any: []string{"测试测试", "这是一条测试", "test message", "testing 123"}, Class: minsheng.ClassInvalid, Weight: 5, Force: true},

	// Discipline inspection: misconduct of officials, party members, cadres.
	{Name: "corruption", Any: []string{"贪污", "受贿", "行贿", "索贿", "挪用", "侵占", "虚报冒领", "套取", "私分", "中饱私囊", "吃回扣", "权钱交易"}, Class: minsheng.ClassDiscipline, Weight: 3, DisciplineLead: true},
	{Name: "public_funds", Any: []string{"公款吃喝", "公款旅游", "公车私用", "大操大办", "收受礼金", "违规发放", "小金库"}, Class: minsheng.ClassDiscipline, Weight: 3, DisciplineLead: true},
	{Name: "abuse_of_power", Any: []string{"以权谋私", "滥用职权", "徇私舞弊", "贿选", "拉票", "优亲厚友", "打击报复", "弄虚作假"}, Class: minsheng.ClassDiscipline, Weight: 2.5, DisciplineLead: true},
	{Name: "named_official", Any: []string{"村支书", "村主任", "村委会主任", "村干部", "书记", "镇长", "局长", "干部", "党员"}, Class: minsheng.ClassDiscipline, Weight: 0.5},
	{Name: "inspectors", Any: []string{"纪委", "纪检", "监察委"}, Class: minsheng.ClassDiscipline, Weight: 2},

	// Petition: redress of one's own rights against a state body, long-standing cases.
	{Name: "land_and_demolition", Any: []string{"征地", "拆迁", "征收", "安置房", "补偿款", "回迁"}, Class: minsheng.ClassPetition, Weight: 2},
	{Name: "petition_history", Any: []string{"上访", "信访", "多次反映无果", "历史遗留", "多年未解决", "至今未解决", "请求领导", "恳请领导", "领导过问"}, Class: minsheng.ClassPetition, Weight: 2},
	{Name: "entitlements", Any: []string{"退役军人", "安置待遇", "养老金待遇", "工龄认定", "行政复议", "行政处罚不服"}, Class: minsheng.ClassPetition, Weight: 1.5},

	// Media oversight: broad public interest, asking for exposure.
	{Name: "asks_for_exposure", Any: []string{"曝光", "记者", "媒体", "暗访", "舆论监督", "报道一下"}, Class: minsheng.ClassMediaOversight, Weight: 2.5},
	{Name: "public_harm", Any: []string{"食品安全", "地沟油", "偷排", "污染严重", "烂尾楼", "集资诈骗", "乱收费", "坑害"}, Class: minsheng.ClassMediaOversight, Weight: 1.5},
	{Name: "buck_passing", Any: []string{"推诿扯皮", "互相推诿", "踢皮球", "走过场", "敷衍", "糊弄"}, Class: minsheng.ClassMediaOversight, Weight: 1},

	// Flags.
	{Name: "urgent_danger", Any: []string{"燃气泄漏", "煤气泄漏", "有生命危险", "着火", "坍塌", "触电"}, Urgent: true},
}

// departments are the seven first-level sectors of the 泰迪杯 taxonomy,
// with words that point to each.
var departments = []struct {
	name  string
	words []string
}{
	{"城乡建设", []string{"物业", "小区", "道路", "施工", "拆迁", "房屋", "违建", "违章建筑", "井盖", "路灯", "供水", "停水", "供暖", "燃气", "住房", "公积金", "征地", "安置"}},
	{"环境保护", []string{"噪音", "污染", "排放", "异味", "垃圾", "油烟", "扬尘", "废水", "环保"}},
	{"交通运输", []string{"公交", "出租车", "地铁", "交通", "停车", "车辆", "驾驶", "客运", "路线"}},
	{"教育文体", []string{"学校", "教师", "老师", "学生", "入学", "幼儿园", "教育", "培训", "体育", "文化"}},
	{"劳动和社会保障", []string{"社保", "医保", "养老", "工资", "拖欠", "劳动", "就业", "失业", "退休", "灵活就业", "低保"}},
	{"商贸旅游", []string{"商家", "消费", "餐馆", "商场", "旅游", "景区", "价格", "市场", "超市", "快递"}},
	{"卫生计生", []string{"医院", "医生", "看病", "卫生", "疫苗", "生育", "计生", "药店", "诊所"}},
}

func department(text string) string {
	best, bestN := "", 0
	for _, d := range departments {
		n := 0
		for _, w := range d.words {
			n += strings.Count(text, w)
		}
		if n > bestN {
			best, bestN = d.name, n
		}
	}
	if best == "" {
		return "城乡建设"
	}
	return best
}
