package importfile

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/conntest"
	"github.com/minsheng/minsheng/store"
)

var sharedData = flag.String("shared-data", "", "path to the shared data folder (default $MINSHENG_SHARED_DATA or ../shared/data beside the repository)")

// SharedData is where the real data lives, or "" when it is absent.
func SharedData() string {
	p := *sharedData
	if p == "" {
		p = os.Getenv("MINSHENG_SHARED_DATA")
	}
	if p == "" {
		p = filepath.Join("..", "..", "..", "shared", "data") // repo root/../shared/data
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func openStore(t *testing.T, dir string) *store.Store { return conntest.OpenStore(t, dir) }

var hotlineHeader = []string{"工单编号", "来电人", "联系电话", "来电时间", "诉求内容", "诉求地址", "诉求类别", "满意度"}

var complaints = []string{
	"小区门口的下水道堵塞，污水漫到路面，已经一个星期没人处理。",
	"楼下烧烤店油烟直排，晚上营业到凌晨两点，噪音和油烟严重影响休息。",
	"公司拖欠两个月工资，劳动合同到期后不续签也不给经济补偿。",
	"家门口公交站牌被撞坏后一直没有恢复，乘客不知道在哪里等车。",
	"孩子就读的幼儿园擅自提高伙食费，没有公示收费标准。",
}

// hotlineRows makes n rows of a hotline export, in the two time forms the
// real exports mix, with one Excel serial date among them.
func hotlineRows(n int) [][]string {
	rows := make([][]string, n)
	base := time.Date(2023, 7, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range rows {
		at := base.Add(time.Duration(i) * 37 * time.Minute)
		when := at.Format("2006-01-02 15:04:05")
		if i%2 == 1 {
			when = at.Format("2006/1/2 15:04:05")
		}
		rows[i] = []string{fmt.Sprintf("GD2023%06d", i+1), "来电人" + fmt.Sprint(i%7), fmt.Sprintf("1390000%04d", i),
			when, complaints[i%len(complaints)], fmt.Sprintf("城阳区正阳路%d号", i+1), "城乡建设", "满意"}
	}
	rows[10][3] = "45108.5" // Excel serial: 2023-07-01 12:00
	return rows
}

func writeXLSX(t *testing.T, path string, header []string, rows [][]string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	write := func(r int, cells []string) {
		vals := make([]any, len(cells))
		for i, c := range cells {
			vals[i] = c
		}
		cell, _ := excelize.CoordinatesToCellName(1, r)
		if err := sw.SetRow(cell, vals); err != nil {
			t.Fatal(err)
		}
	}
	write(1, header)
	for i, r := range rows {
		write(i+2, r)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

// importUntil runs an import, cancelling it once stopAfter acks arrived
// (0: never).
func importUntil(t *testing.T, path string, st *store.Store, stopAfter int, o Options) (*Summary, *conntest.Emitter) {
	t.Helper()
	em := &conntest.Emitter{Ledger: st, MaxDelay: 2 * time.Millisecond, MaxInFlight: 32}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stopAfter > 0 {
		go func() {
			for em.Acked() < stopAfter && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
	}
	s, err := Run(ctx, path, em, o)
	if err != nil {
		t.Fatal(err)
	}
	em.Wait()
	if inv := em.Invalid(); len(inv) > 0 {
		t.Fatalf("emitted invalid items: %v", inv[0])
	}
	return s, em
}

func lastLine(s *Summary) string {
	var b bytes.Buffer
	s.Write(&b)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	return lines[len(lines)-1]
}

// An XLSX written here, with rows that cannot become items and a blank
// row; imported, interrupted, and imported again: the totals add up and the
// second run's duplicates are exactly the first run's imports.
func TestXLSXInterruptedAndResumed(t *testing.T) {
	dir := t.TempDir()
	rows := hotlineRows(300)
	rows[5][0] = ""        // no order number
	rows[77][3] = "上周三"    // unreadable time
	rows[150] = []string{} // blank row: not a row
	rows[200][4] = ""      // no content (and no title column)
	path := filepath.Join(dir, "12345导出.xlsx")
	writeXLSX(t, path, hotlineHeader, rows)
	st := openStore(t, filepath.Join(dir, "state"))
	opts := Options{Channel: minsheng.ChannelHotline, Source: "qd-12345", RejectsPath: filepath.Join(dir, "rejected.csv")}

	first, _ := importUntil(t, path, st, 120, opts)
	if !first.Interrupted || first.Imported < 100 || first.Imported >= 296 {
		t.Fatalf("first run: %+v (want an interruption after about 120 rows)", first)
	}
	if first.Imported+first.Duplicates+first.Rejected+first.Unfinished < first.Rows {
		t.Errorf("first run does not account for its rows: %+v", first)
	}
	second, em := importUntil(t, path, st, 0, opts)
	if second.Interrupted || !second.Complete() {
		t.Fatalf("second run: %+v", second)
	}
	if second.Rows != 299 {
		t.Errorf("rows %d, want 299 (300 less the blank one)", second.Rows)
	}
	if got := second.Imported + second.Duplicates + second.Rejected; got != second.Rows {
		t.Errorf("imported+duplicates+rejected = %d, rows %d", got, second.Rows)
	}
	if second.Duplicates != first.Imported {
		t.Errorf("second run duplicates %d, first run imported %d", second.Duplicates, first.Imported)
	}
	if second.Rejected != 3 {
		t.Errorf("rejected %d, want 3", second.Rejected)
	}
	if want := fmt.Sprintf("imported=%d duplicates=%d rejected=3", second.Imported, second.Duplicates); lastLine(second) != want {
		t.Errorf("last line %q, want %q", lastLine(second), want)
	}
	if n, _ := st.CountItems(); n != 296 {
		t.Errorf("ledger holds %d items, want 296", n)
	}

	// The rejects file: row number, reason, then the row as it was.
	f, err := os.Open(opts.RejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 || recs[0][1] != "reason" || recs[0][2] != "工单编号" {
		t.Fatalf("rejects file: %q", recs)
	}
	for i, want := range []struct{ row, reason string }{{"7", "no reference"}, {"79", "unrecognised time"}, {"202", "neither title nor body"}} {
		if recs[i+1][0] != want.row || !strings.Contains(recs[i+1][1], want.reason) {
			t.Errorf("reject %d: %q, want row %s, %q", i, recs[i+1][:2], want.row, want.reason)
		}
	}

	// What the items look like.
	var it *minsheng.Item
	for _, e := range em.Emitted() {
		if e.Ref == "GD2023000011" {
			it = e
		}
	}
	if it == nil {
		t.Fatal("row 12 not emitted in the second run")
	}
	cst := time.FixedZone("CST", 8*3600)
	if it.Channel != minsheng.ChannelHotline || it.Source != "qd-12345" || it.Complainant.Phone != "13900000010" ||
		it.Location == nil || it.Location.Address != "城阳区正阳路11号" || it.Attrs["category"] != "城乡建设" ||
		it.Attrs["满意度"] != "满意" || it.Attrs["import_row"] != "12" ||
		!it.SubmittedAt.Equal(time.Date(2023, 7, 1, 12, 0, 0, 0, cst)) {
		t.Errorf("item: %+v", it)
	}
}

// A GB18030 CSV with headers of its own, mapped by option; a reference
// that appears twice is a duplicate; progress lines when not a terminal.
func TestCSVGBKCustomColumnsAndProgress(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"单号", "反映人", "日期", "标题", "内容"})
	for i := 0; i < 50; i++ {
		w.Write([]string{fmt.Sprintf("X%03d", i), "市民", fmt.Sprintf("2020年3月%d日 10:%02d", 1+i%28, i), "供暖问题", complaints[i%5] + "\n（来电记录）"})
	}
	w.Write([]string{"X007", "市民", "2020-03-30 10:00:00", "重复工单", "同一工单号再次出现"})
	w.Flush()
	gbk, err := simplifiedchinese.GB18030.NewEncoder().String(b.String())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "export.csv")
	os.WriteFile(path, []byte(gbk), 0o644)
	st := openStore(t, filepath.Join(dir, "state"))
	progress := &conntest.LogBuffer{}
	em := &conntest.Emitter{Ledger: st, MaxDelay: 3 * time.Millisecond}
	s, err := Run(context.Background(), path, em, Options{
		Channel:  minsheng.ChannelHotline,
		Columns:  map[Field]string{FieldRef: "单号", FieldName: "反映人", FieldTime: "日期"},
		Progress: progress, ProgressEvery: time.Millisecond, RejectsPath: filepath.Join(dir, "r.csv"),
	})
	if err != nil {
		t.Fatal(err)
	}
	em.Wait()
	if s.Rows != 51 || s.Imported != 50 || s.Duplicates != 1 || s.Rejected != 0 || !strings.Contains(s.Format, "GB18030") {
		t.Errorf("summary %+v", s)
	}
	items := em.Emitted()
	if items[0].Title != "供暖问题" || !strings.Contains(items[0].Body, "（来电记录）") || items[0].Complainant.Name != "市民" {
		t.Errorf("first item: %+v", items[0])
	}
	if _, err := os.Stat(filepath.Join(dir, "r.csv")); !os.IsNotExist(err) {
		t.Error("a rejects file was written with nothing rejected")
	}
	if !strings.Contains(progress.String(), "rows/s") {
		t.Logf("no progress line was drawn (import finished within the first tick): %q", progress.String())
	}

	// A header without a reference column is refused as a whole.
	if _, err := Run(context.Background(), path, em, Options{Channel: minsheng.ChannelHotline}); err == nil ||
		!strings.Contains(err.Error(), "no reference column") {
		t.Errorf("unmapped reference: err = %v", err)
	}
}

// The real 附件3 workbook (4,326 message-board posts), when the shared data
// is present: interrupted, resumed, and the totals add up.
func TestRealWorkbookAttachment3(t *testing.T) {
	data := SharedData()
	if data == "" {
		t.Skip("shared data not found (set -shared-data or MINSHENG_SHARED_DATA); skipping the 附件3 workbook")
	}
	path := filepath.Join(data, "tipdm2020c", "xlsx", "附件3_全部_4326.xlsx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not present", path)
	}
	dir := t.TempDir()
	st := openStore(t, dir)
	opts := Options{Channel: minsheng.ChannelMessageBoard, Source: "tipdm-board", RejectsPath: filepath.Join(dir, "rejected.csv")}
	first, _ := importUntil(t, path, st, 1500, opts)
	second, _ := importUntil(t, path, st, 0, opts)
	t.Logf("first run: %d rows, imported %d (interrupted %v); second: imported %d duplicates %d rejected %d",
		first.Rows, first.Imported, first.Interrupted, second.Imported, second.Duplicates, second.Rejected)
	if second.Rows != 4326 {
		t.Errorf("rows %d, want 4326", second.Rows)
	}
	if got := second.Imported + second.Duplicates + second.Rejected; got != 4326 {
		t.Errorf("imported+duplicates+rejected = %d, want 4326", got)
	}
	if second.Duplicates != first.Imported+first.Duplicates {
		t.Errorf("second run duplicates %d, first run imported %d (+%d duplicates)", second.Duplicates, first.Imported, first.Duplicates)
	}
	if first.Imported+first.Duplicates+second.Imported+second.Rejected != 4326 {
		t.Errorf("runs together: %d imported + %d + rejected %d != 4326", first.Imported, second.Imported, second.Rejected)
	}
}

func TestParseTimeForms(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	for in, want := range map[string]time.Time{
		"2019/4/25 9:32:09":   time.Date(2019, 4, 25, 9, 32, 9, 0, cst),
		"2017-06-08 17:31:20": time.Date(2017, 6, 8, 17, 31, 20, 0, cst),
		"43580.3973263889":    time.Date(2019, 4, 25, 9, 32, 9, 0, cst),
	} {
		got, err := parseTime(in, "", cst)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseTime("12345", "", cst); err == nil {
		t.Error("a bare number was read as a time")
	}
	// The last instant of 9999-12-31 rounds to the next second, in the
	// year 10000, which encoding/json cannot write: taken, the row could
	// never be queued, and every run of the import ended "1 rows not
	// durably handled; run the import again".
	for _, in := range []string{"2958465.9999999", "2958465.99999"} {
		if got, err := parseTime(in, "", cst); err == nil {
			if _, merr := got.MarshalJSON(); merr != nil {
				t.Errorf("parseTime(%q) = %v, a time the item cannot hold (%v); want it refused", in, got, merr)
			}
		}
	}
	if got, err := parseTime("2958465.5", "", cst); err != nil || !got.Equal(time.Date(9999, 12, 31, 12, 0, 0, 0, cst)) {
		t.Errorf("parseTime(2958465.5) = %v, %v; want 9999-12-31 12:00", got, err)
	}
}

func TestHeaderMapping(t *testing.T) {
	m, err := newMapping([]string{"\ufeff留言编号", "留言用户", "留言 主题", "留言时间", "留言详情", "反对数", "点赞数"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.col[FieldRef] != 0 || m.col[FieldName] != 1 || m.col[FieldTitle] != 2 || m.col[FieldTime] != 3 || m.col[FieldBody] != 4 || len(m.attrs) != 2 {
		t.Errorf("mapping %+v", m)
	}
	if _, err := newMapping([]string{"a"}, map[Field]string{"colour": "a"}); err == nil {
		t.Error("unknown field accepted")
	}
	if _, err := newMapping(hotlineHeader, map[Field]string{FieldBody: "没有这一列"}); err == nil || !strings.Contains(err.Error(), "not in the header") {
		t.Errorf("missing override column: %v", err)
	}
}

// TestIdentityColumnsWithheld: a column about the caller that fills no
// complainant field is not imported (attrs reach destinations not entitled
// to the identity); a column about the case still goes to attrs.
func TestIdentityColumnsWithheld(t *testing.T) {
	header := []string{"工单编号", "来电人", "联系电话", "来电时间", "诉求内容", "诉求地址",
		"身份证号", "备用电话", "来电人住址", "E-mail", "微信号", "点赞数", "承办单位"}
	m, err := newMapping(header, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		want   string // field, "attrs" or "withheld"
	}{
		{"来电人", "name"}, {"联系电话", "phone"}, {"诉求地址", "address"}, {"E-mail", "email"},
		{"身份证号", "withheld"}, {"备用电话", "withheld"}, {"来电人住址", "withheld"}, {"微信号", "withheld"},
		{"点赞数", "attrs"}, {"承办单位", "attrs"},
	}
	for _, tc := range tests {
		i := slices.Index(header, tc.header)
		got := ""
		for f, c := range m.col {
			if c == i {
				got = string(f)
			}
		}
		switch {
		case slices.Contains(m.attrs, i):
			got = "attrs"
		case slices.Contains(m.withheld, i):
			got = "withheld"
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.header, got, tc.want)
		}
	}
	row := []string{"GD1", "吴某", "13000000001", "2026/11/2 9:00:00", "路灯坏了", "黄岛区长江中路",
		"370202199001011234", "13911112222", "市北区某路 8 号", "wu@example.cn", "wx_wu", "3", "城管局"}
	it, reason := m.item(row, 2, &rowSpec{channel: minsheng.ChannelHotline, source: "s", file: "f.csv", loc: time.UTC}, time.Now())
	if it == nil {
		t.Fatal(reason)
	}
	for k, v := range it.Attrs {
		for _, secret := range row[6:11] {
			if strings.Contains(k+v, secret) {
				t.Errorf("attrs[%s] = %q holds the caller's %q", k, v, secret)
			}
		}
	}
	if it.Complainant.Email != "wu@example.cn" || it.Attrs["承办单位"] != "城管局" {
		t.Errorf("item %+v", it)
	}
	if d := m.Describe(); !strings.Contains(d, "not imported: 备用电话,微信号,来电人住址,身份证号") {
		t.Errorf("Describe does not name the withheld columns: %s", d)
	}
}

// TestControlCharactersReplaced: a cell's NUL, escape or DEL (the desk
// refuses them with 400; a row cannot be refused so) is replaced with
// U+FFFD in the item, which names the fields in attrs.text_notes; the
// title and body keep vertical tab and form feed.
func TestControlCharactersReplaced(t *testing.T) {
	header := []string{"工单编号", "来电人", "联系电话", "来电时间", "诉求内容", "诉求地址", "承办单位"}
	m, err := newMapping(header, nil)
	if err != nil {
		t.Fatal(err)
	}
	row := []string{"GD2", "郑\x00女士", "1380000\a1234", "2026/11/2 9:00:00", "路灯\x1b[2J坏了\f第二页\x7f", "花园路\x00北段", "城管\x1b局"}
	it, reason := m.item(row, 2, &rowSpec{channel: minsheng.ChannelHotline, source: "s", file: "f.csv", loc: time.UTC}, time.Now())
	if it == nil {
		t.Fatal(reason)
	}
	for _, c := range []struct{ field, got, want string }{
		{"name", it.Complainant.Name, "郑\uFFFD女士"},
		{"phone", it.Complainant.Phone, "1380000\uFFFD1234"},
		{"body", it.Body, "路灯\uFFFD[2J坏了\f第二页\uFFFD"},
		{"address", it.Location.Address, "花园路\uFFFD北段"},
		{"attrs[承办单位]", it.Attrs["承办单位"], "城管\uFFFD局"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	note := it.Attrs["text_notes"]
	for _, w := range []string{"complainant.name", "complainant.phone", "body", "location.address", "attrs", "U+0000", "U+001B", "U+007F"} {
		if !strings.Contains(note, w) {
			t.Errorf("text_notes %q does not name %s", note, w)
		}
	}
}

// A file in neither UTF-8 nor GB18030 (here UTF-16, as Excel's "Unicode
// text" saves) is refused as a whole with the reason, not imported as
// mojibake.
func TestCSVOtherEncodingRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "unicode.csv")
	os.WriteFile(path, []byte("\xff\xfe\xb0\x76\x58\x5f\x16\x7f\xf7\x53"), 0o644)
	em := &conntest.Emitter{Ledger: openStore(t, filepath.Join(dir, "state"))}
	_, err := Run(context.Background(), path, em, Options{Channel: minsheng.ChannelHotline})
	if err == nil || !strings.Contains(err.Error(), "UTF-16") || len(em.Emitted()) != 0 {
		t.Errorf("err %v, %d emitted; want the file refused as UTF-16", err, len(em.Emitted()))
	}
}

// FuzzRowItem: no header or row panics the mapping; a row becomes an item
// or a reason, never both nor neither; an item is valid, keeps its
// reference, withholds identity columns and has at most 50 attributes.
func FuzzRowItem(f *testing.F) {
	f.Add("工单编号", "身份证号", "GD1", "2026/11/2 9:00:00", "路灯坏了", "370202199001011234", "城管局")
	f.Add("留言编号", "承办单位", "7", "45597.5", "", "", "\xff")
	f.Add("编号", "备注", " ", "2026-11-02T09:00:00+08:00", "噪音\x00", "x", "")
	f.Add("编号", "备注", "8", "2958465.9999999", "噪音", "x", "")
	f.Fuzz(func(t *testing.T, refHeader, extraHeader, ref, when, body, extra, attr string) {
		header := []string{refHeader, "来电时间", "诉求内容", extraHeader, "承办单位"}
		m, err := newMapping(header, nil)
		if err != nil {
			return // a header it cannot map is refused as a whole, with the reason
		}
		row := []string{ref, when, body, extra, attr}
		it, reason := m.item(row, 2, &rowSpec{channel: minsheng.ChannelHotline, source: "s", file: "f.csv", loc: time.UTC}, time.Now())
		if (it == nil) == (reason == "") {
			t.Fatalf("item %v and reason %q", it, reason)
		}
		if it == nil {
			return
		}
		c := *it
		c.TraceID = "t"
		if errs := c.Validate(); len(errs) > 0 {
			t.Fatalf("invalid item: %v", errs)
		}
		if _, err := it.SubmittedAt.MarshalJSON(); err != nil {
			t.Fatalf("a time the item cannot hold, from %q: %v", when, err)
		}
		if it.Ref == "" || it.Ref != strings.TrimSpace(it.Ref) || len(it.Attrs) > 50 {
			t.Fatalf("ref %q, %d attrs", it.Ref, len(it.Attrs))
		}
		// A column that names the caller's identity and is no field of the
		// item is withheld: never in the attributes, under any key.
		if identityColumn(extraHeader) && !slices.Contains(slices.Collect(maps.Values(m.col)), 3) {
			if !slices.Contains(m.withheld, 3) || slices.Contains(m.attrs, 3) {
				t.Fatalf("identity column %q: withheld %v, attrs %v", extraHeader, m.withheld, m.attrs)
			}
			if v := strings.TrimSpace(extra); v != "" && len(v) > 8 {
				for k, a := range it.Attrs {
					if a == clip(v, 2000) && k != "import_file" && k != "import_row" && strings.TrimSpace(attr) != v {
						t.Fatalf("identity column %q's value kept in attrs[%s]", extraHeader, k)
					}
				}
			}
		}
	})
}
