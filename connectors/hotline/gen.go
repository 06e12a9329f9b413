package hotline

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Generated work orders: plausible 12345 calls assembled from a few parts,
// for demos, tests and the throughput benchmark. The texts are written for
// this project; names and phone numbers are fictitious.
var (
	genDistricts = []struct{ district, street string }{
		{"市南区", "香港中路"}, {"市北区", "延安三路"}, {"李沧区", "九水东路"}, {"崂山区", "海尔路"},
		{"黄岛区", "长江中路"}, {"城阳区", "正阳路"}, {"即墨区", "蓝鳌路"}, {"胶州市", "常州路"},
	}
	genCases = []struct{ category, title, body string }{
		{"城乡建设/市政设施", "路灯不亮", "%s附近有多盏路灯已经一周不亮，晚上行人和电动车经过很危险，希望尽快维修。"},
		{"城乡建设/物业管理", "物业不作为", "%s某小区物业长期不清理楼道杂物，电梯故障报修多次无人处理，业主多次反映无果。"},
		{"环境保护/噪声污染", "夜间施工噪音", "%s工地每天夜里十一点以后还在施工，噪音很大，附近居民无法休息，请核查是否办理夜间施工许可。"},
		{"劳动和社会保障/工资拖欠", "拖欠工资", "来电人在%s一家装修公司工作，公司已拖欠三个月工资，老板不接电话，请劳动监察部门帮助追讨。"},
		{"交通运输/公交线路", "公交车间隔太长", "%s站点的公交车早高峰间隔超过二十分钟，乘客很多挤不上车，建议增加班次。"},
		{"卫生计生/医疗服务", "医院排队时间长", "来电人反映%s附近的社区医院只有一个收费窗口，排队要一个多小时，希望增加窗口。"},
		{"教育文体/学校管理", "学校收费问题", "来电人孩子在%s附近的小学上学，学校要求统一购买校外辅导资料，家长认为不合理。"},
		{"商贸旅游/市场监管", "超市出售过期食品", "来电人在%s一家超市买到过期的牛奶，与超市协商退换被拒绝，请市场监管部门处理。"},
		{"城乡建设/供水供暖", "小区停水", "%s一带从昨天早上开始停水，没有提前通知，居民生活受到很大影响，请问什么时候恢复。"},
		{"环境保护/垃圾清运", "垃圾清运不及时", "%s路边的垃圾桶已经满溢三天没有清运，天气炎热气味很大，请环卫部门处理。"},
	}
	genSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙"}
	genTitles   = []string{"女士", "先生"}
)

// Generate returns n generated work orders numbered from first (order
// numbers "<date>-<n>"), called in at one-minute steps from start, drawn
// with the given seed (the same seed gives the same orders).
func Generate(n, first int, start time.Time, seed uint64) []*WorkOrder {
	r := rand.New(rand.NewPCG(seed, seed^0x12345))
	out := make([]*WorkOrder, n)
	for i := range out {
		d := genDistricts[r.IntN(len(genDistricts))]
		c := genCases[r.IntN(len(genCases))]
		place := fmt.Sprintf("%s%s%d号", d.district, d.street, 1+r.IntN(300))
		at := start.Add(time.Duration(i) * time.Minute)
		o := &WorkOrder{
			OrderNo:    fmt.Sprintf("%s-%07d", at.Format("20060102"), first+i),
			ReceivedAt: at.Format(time.RFC3339),
			Caller: Caller{
				Name:  genSurnames[r.IntN(len(genSurnames))] + genTitles[r.IntN(2)],
				Phone: fmt.Sprintf("1380000%04d", r.IntN(10000)),
			},
			Category:    c.category,
			District:    d.district,
			Address:     place,
			Title:       c.title,
			Description: fmt.Sprintf(c.body, place),
			Attrs:       map[string]string{"operator": fmt.Sprintf("%04d", 1+r.IntN(60)), "call_type": "来电"},
		}
		if r.IntN(10) == 0 {
			o.Caller.Anonymous = true
			o.Caller.Name, o.Caller.Phone = "", ""
		}
		if r.IntN(8) == 0 {
			o.Attachments = []Attachment{{Name: "现场照片.jpg", Type: "image/jpeg", Size: int64(50000 + r.IntN(500000)),
				URL: fmt.Sprintf("https://cc.example.gov.cn/att/%s/1", o.OrderNo)}}
		}
		out[i] = o
	}
	return out
}
