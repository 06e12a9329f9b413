package importfile

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/width"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/timefmt"
)

// Field is an item field a column can fill.
type Field string

// The fields.
const (
	FieldRef      Field = "ref"
	FieldTitle    Field = "title"
	FieldBody     Field = "body"
	FieldTime     Field = "time"
	FieldName     Field = "name"
	FieldPhone    Field = "phone"
	FieldEmail    Field = "email"
	FieldAddress  Field = "address"
	FieldDistrict Field = "district"
	FieldCategory Field = "category"
)

// Fields lists the fields in documentation order.
var Fields = []Field{FieldRef, FieldTitle, FieldBody, FieldTime, FieldName, FieldPhone, FieldEmail,
	FieldAddress, FieldDistrict, FieldCategory}

// DefaultHeaders are the header names recognised for each field, out of
// the box: the message-board export headers (留言编号, 留言主题, 留言详情,
// 留言时间, 留言用户) and common 12345 hotline export headers. Matching ignores
// spaces, full-width forms and letter case.
var DefaultHeaders = map[Field][]string{
	FieldRef:      {"留言编号", "工单编号", "工单号", "受理编号", "信件编号", "编号", "id", "ref"},
	FieldTitle:    {"留言主题", "工单标题", "诉求标题", "标题", "主题", "title", "subject"},
	FieldBody:     {"留言详情", "诉求内容", "来电内容", "问题描述", "诉求描述", "工单内容", "内容", "详情", "body", "content"},
	FieldTime:     {"留言时间", "来电时间", "受理时间", "登记时间", "创建时间", "时间", "time", "date"},
	FieldName:     {"留言用户", "来电人", "来电人姓名", "诉求人", "联系人", "姓名", "name", "author"},
	FieldPhone:    {"联系电话", "来电号码", "手机号码", "联系方式", "电话", "手机", "手机号", "来电人电话", "phone", "mobile"},
	FieldEmail:    {"电子邮箱", "邮箱", "电子邮件", "email", "e-mail"},
	FieldAddress:  {"诉求地址", "事发地址", "事发地点", "地址", "address"},
	FieldDistrict: {"所属区县", "所属区域", "区县", "区域", "行政区", "district"},
	FieldCategory: {"诉求类别", "工单类别", "问题分类", "业务类别", "分类", "category"},
}

func normHeader(s string) string {
	s = width.Fold.String(strings.TrimPrefix(s, "\ufeff"))
	return strings.ToLower(strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s))
}

// identityWords mark a column about the caller rather than the case: its
// name, phones, ID card, home address, e-mail, chat accounts. A column whose
// header contains one and that fills no field is withheld: it is not
// imported at all, for attrs reach destinations that are not entitled to
// the complainant's identity (a media desk, in a discipline case), and the
// item has no place for it among the complainant's fields. A problem's own
// address is a field (address: 诉求地址, 事发地址, 地址), so it is mapped
// before this check; 来电人住址 or 家庭地址 is not.
var identityWords = []string{"姓名", "名字", "来电人", "诉求人", "联系人", "投诉人", "举报人", "反映人",
	"电话", "手机", "号码", "联系方式", "身份证", "证件", "住址", "地址", "邮箱", "邮件", "微信", "qq",
	"name", "phone", "mobile", "tel", "mail", "address", "idcard", "wechat"}

// identityColumn reports whether a header names something about the caller.
func identityColumn(header string) bool {
	h := normHeader(header)
	for _, w := range identityWords {
		if strings.Contains(h, w) {
			return true
		}
	}
	return false
}

// mapping is the column index of each field (-1: absent), the columns that
// go to attrs and those withheld as the caller's identity.
type mapping struct {
	col      map[Field]int
	attrs    []int
	withheld []int
	header   []string
}

// newMapping maps the header. overrides names the header of a field
// explicitly (flags or configuration); it wins over the defaults.
func newMapping(header []string, overrides map[Field]string) (*mapping, error) {
	m := &mapping{col: map[Field]int{}, header: header}
	idx := map[string]int{}
	for i, h := range header {
		if _, dup := idx[normHeader(h)]; !dup {
			idx[normHeader(h)] = i
		}
	}
	for f := range overrides {
		if !knownField(f) {
			return nil, fmt.Errorf("unknown field %q (fields: %s)", f, fieldList())
		}
	}
	used := map[int]bool{}
	for _, f := range Fields {
		m.col[f] = -1
		names := DefaultHeaders[f]
		if h, ok := overrides[f]; ok {
			if h == "" || h == "-" {
				continue // explicitly not mapped
			}
			i, ok := idx[normHeader(h)]
			if !ok {
				return nil, fmt.Errorf("column %q for %s is not in the header (%s)", h, f, strings.Join(header, ", "))
			}
			m.col[f] = i
			used[i] = true
			continue
		}
		for _, n := range names {
			if i, ok := idx[normHeader(n)]; ok && !used[i] {
				m.col[f] = i
				used[i] = true
				break
			}
		}
	}
	if m.col[FieldRef] < 0 {
		return nil, fmt.Errorf("no reference column: the header (%s) has none of %s; name it with --column ref=HEADER",
			strings.Join(header, ", "), strings.Join(DefaultHeaders[FieldRef], ", "))
	}
	if m.col[FieldBody] < 0 && m.col[FieldTitle] < 0 {
		return nil, fmt.Errorf("no body or title column in the header (%s); name one with --column body=HEADER", strings.Join(header, ", "))
	}
	if m.col[FieldTime] < 0 {
		return nil, fmt.Errorf("no time column in the header (%s); name it with --column time=HEADER", strings.Join(header, ", "))
	}
	for i, h := range header {
		switch {
		case used[i] || strings.TrimSpace(h) == "":
		case identityColumn(h):
			m.withheld = append(m.withheld, i)
		default:
			m.attrs = append(m.attrs, i)
		}
	}
	return m, nil
}

func knownField(f Field) bool {
	for _, k := range Fields {
		if k == f {
			return true
		}
	}
	return false
}

func fieldList() string {
	var s []string
	for _, f := range Fields {
		s = append(s, string(f))
	}
	return strings.Join(s, ", ")
}

// Describe lists which column fills each field, for the summary.
func (m *mapping) Describe() string {
	var parts []string
	for _, f := range Fields {
		if i := m.col[f]; i >= 0 {
			parts = append(parts, fmt.Sprintf("%s=%s", f, m.header[i]))
		}
	}
	for _, cols := range []struct {
		label string
		idx   []int
	}{{"attrs: ", m.attrs}, {"withheld as the caller's identity, not imported: ", m.withheld}} {
		if len(cols.idx) == 0 {
			continue
		}
		var a []string
		for _, i := range cols.idx {
			a = append(a, m.header[i])
		}
		sort.Strings(a)
		parts = append(parts, cols.label+strings.Join(a, ","))
	}
	return strings.Join(parts, " ")
}

func (m *mapping) get(row []string, f Field) string {
	i := m.col[f]
	if i < 0 || i >= len(row) {
		return ""
	}
	return row[i]
}

// rowSpec is what turning rows into items needs.
type rowSpec struct {
	channel minsheng.Channel
	source  string
	file    string
	layout  string
	loc     *time.Location
}

// item turns one row into an item, or says why it cannot.
func (m *mapping) item(row []string, n int, s *rowSpec, now time.Time) (*minsheng.Item, string) {
	// Fields past the header's columns hold text no column takes (a comma
	// in a body that was not quoted): refused, not cut off. Empty ones, as
	// spreadsheets leave after the last column, are no loss.
	if len(row) > len(m.header) && slices.ContainsFunc(row[len(m.header):], func(f string) bool { return strings.TrimSpace(f) != "" }) {
		return nil, fmt.Sprintf("%d fields, but the header has %d columns: text past the last column (a comma in a field that is not quoted?)", len(row), len(m.header))
	}
	ref := strings.TrimSpace(m.get(row, FieldRef))
	if ref == "" {
		return nil, fmt.Sprintf("no reference: column %q is empty", m.header[m.col[FieldRef]])
	}
	when := strings.TrimSpace(m.get(row, FieldTime))
	if when == "" {
		return nil, fmt.Sprintf("no time: column %q is empty", m.header[m.col[FieldTime]])
	}
	at, err := parseTime(when, s.layout, s.loc)
	if err != nil {
		return nil, err.Error()
	}
	it := &minsheng.Item{
		SchemaVersion: minsheng.SchemaVersion,
		ID:            minsheng.ItemID(s.channel, s.source, ref),
		Channel:       s.channel,
		Source:        s.source,
		Ref:           ref,
		ReceivedAt:    now,
		SubmittedAt:   at,
		Title:         strings.Join(strings.Fields(m.get(row, FieldTitle)), " "),
		Body:          strings.TrimSpace(m.get(row, FieldBody)),
		Complainant: minsheng.Complainant{
			Name:  strings.TrimSpace(m.get(row, FieldName)),
			Phone: strings.TrimSpace(m.get(row, FieldPhone)),
			Email: strings.TrimSpace(m.get(row, FieldEmail)),
		},
		Attrs: map[string]string{"import_file": clip(s.file, 2000), "import_row": strconv.Itoa(n)},
	}
	if it.Title == "" && it.Body == "" {
		return nil, "neither title nor body"
	}
	if d, a := strings.TrimSpace(m.get(row, FieldDistrict)), strings.TrimSpace(m.get(row, FieldAddress)); d != "" || a != "" {
		it.Location = &minsheng.Location{District: d, Address: a}
	}
	if c := strings.TrimSpace(m.get(row, FieldCategory)); c != "" {
		it.Attrs["category"] = clip(c, 2000)
	}
	for _, i := range m.attrs {
		if len(it.Attrs) >= 50 {
			break
		}
		if i < len(row) && strings.TrimSpace(row[i]) != "" {
			k := clip(strings.TrimSpace(m.header[i]), 64)
			if _, taken := it.Attrs[k]; !taken {
				it.Attrs[k] = clip(strings.TrimSpace(row[i]), 2000)
			}
		}
	}
	// A cell may hold control characters the desk would refuse (a NUL, an
	// escape); a row cannot be refused as a post is, so each is replaced
	// and the item says which, the file keeping the original.
	if n := it.ScrubControls(); n != "" {
		it.Attrs[TextNotesAttr] = clip("control characters replaced with U+FFFD ("+n+"); the file's row keeps them", 2000)
	}
	c := *it
	c.TraceID = "t" // the pipeline gives it one
	if errs := c.Validate(); len(errs) > 0 {
		return nil, "not a valid item: " + errs.Error()
	}
	return it, ""
}

// TextNotesAttr is the attribute that says which of an item's fields had
// control characters replaced, as the hotline and board intakes name it.
const TextNotesAttr = "text_notes"

// parseTime reads the time forms of the exports, and Excel serial dates
// (days since 1899-12-30) when a cell's number format was lost.
func parseTime(s, layout string, loc *time.Location) (time.Time, error) {
	t, err := timefmt.Parse(s, layout, loc)
	if err == nil || layout != "" {
		return t, err
	}
	if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f > 1 && f < 2958466 && strings.Contains(s, ".") {
		days, frac := math.Modf(f)
		base := time.Date(1899, 12, 30, 0, 0, 0, 0, loc)
		// The last half second of 9999-12-31 rounds into the year 10000,
		// which the item cannot hold (encoding/json writes years 0-9999).
		if t := base.AddDate(0, 0, int(days)).Add(time.Duration(math.Round(frac*86400)) * time.Second); t.Year() <= 9999 {
			return t, nil
		}
	}
	return time.Time{}, err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
