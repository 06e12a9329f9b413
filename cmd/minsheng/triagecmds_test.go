package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
	"github.com/minsheng/minsheng/triage/learn"
)

func TestClassify(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"id":"a1","title":"举报村支书贪污","body":"村党支部书记虚报冒领低保金，还用公款吃喝，请纪委调查。"}`,
		`{"id":7,"title":"","body":"测试测试"}`,
		`{"id":"bad",`,
		``,
		`{"id":"c3","title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。"}`,
	}, "\n")
	var out bytes.Buffer
	n, bad, err := classify(e, strings.NewReader(in), &out, false)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 || bad != 2 { // the malformed line and the blank one: the exit status is 1
		t.Errorf("classify counted %d lines, %d bad; want 5 and 2", n, bad)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d output lines for 5 input lines:\n%s", len(lines), out.String())
	}
	var got []classifyLine
	for _, l := range lines {
		var c classifyLine
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		got = append(got, c)
	}
	if string(got[0].ID) != `"a1"` || got[0].Class != minsheng.ClassDiscipline || !got[0].DisciplineLead || len(got[0].Reasons) == 0 || got[0].Department == "" {
		t.Errorf("line 1: %+v", got[0])
	}
	if string(got[1].ID) != `7` || got[1].Class != minsheng.ClassInvalid { // a number stays a number
		t.Errorf("line 2: %+v", got[1])
	}
	if got[2].Error == "" || got[2].Class != "" {
		t.Errorf("malformed line 3 without an error: %+v", got[2])
	}
	if got[3].Error != "line 4: blank" {
		t.Errorf("blank line 4: %+v", got[3])
	}
	if string(got[4].ID) != `"c3"` || got[4].Class != minsheng.ClassGovService || got[4].Department == "" {
		t.Errorf("line 5: %+v", got[4])
	}

	// A line over the limit gets an error line, and the next is still read.
	huge := `{"id":"huge","body":"` + strings.Repeat("路", maxClassifyLine/3+1) + `"}`
	out.Reset()
	if n, bad, err := classify(e, strings.NewReader(huge+"\n"+`{"id":"next","body":"小区门口路灯坏了一个月，请维修。"}`), &out, false); err != nil || n != 2 || bad != 1 {
		t.Fatalf("classify: %d lines, %d bad, %v; want 2, 1, nil", n, bad, err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"error":"line 1: longer than 16 MiB, not read"`) || !strings.Contains(lines[1], `"id":"next","class":"gov_service"`) {
		t.Errorf("after a huge line:\n%.300s", out.String())
	}
}

// classifyLine reads either kind of classify output line.
type classifyLine struct {
	classified
	Error string `json:"error"`
}

// TestClassifyErrors: each line classify cannot classify gets an error
// line of the shape triage/README.md gives, with the id whenever the line
// is an object with one; the output stays aligned with the input.
func TestClassifyErrors(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ in, want string }{ // want: the error line, or "" for a decision
		{`{"id":"a","title":"小区停水三天","body":"请自来水公司尽快处理"}`, ""},
		{`not json`, `{"id":null,"error":"line 2: invalid character 'o' in literal null (expecting 'u')"}`},
		{`{"id":"b","title":123,"body":"路灯坏了两个月请修"}`, `{"id":"b","error":"line 3: title 123: want a string"}`},
		{`{"id":9,"body":["x"]}`, `{"id":9,"error":"line 4: body [\"x\"]: want a string"}`},
		{``, `{"id":null,"error":"line 5: blank"}`},
		{" \t ", `{"id":null,"error":"line 6: blank"}`},
		{`{"id":"c"}`, `{"id":"c","error":"line 7: no title or body"}`},
		{`{"id":"c2","title":null,"body":null}`, `{"id":"c2","error":"line 8: no title or body"}`},
		{`{}`, `{"id":null,"error":"line 9: no title or body"}`},
		{`null`, `{"id":null,"error":"line 10: no title or body"}`},
		{`[]`, `{"id":null,"error":"line 11: a JSON array, not an object"}`},
		{`"str"`, `{"id":null,"error":"line 12: a JSON string, not an object"}`},
		{`{"id":"d","title":"路灯坏了","body":null}`, ""},
		{`{"id":"e","title":"路灯坏了"} trailing`, `{"id":null,"error":"line 14: invalid character 't' after top-level value"}`},
		// Text encoding/json would read as U+FFFD without a word: GBK bytes
		// (路灯坏了 in GBK), an id among them not echoed as it is not UTF-8;
		// half a surrogate pair. A whole pair is a character.
		{"{\"id\":\"f\",\"body\":\"\xc2\xb7\xb5\xc6\xbb\xb5\xc1\xcb\"}", `{"id":"f","error":"line 15: not UTF-8 (first bad byte at offset 20; is it GBK? iconv -f GB18030 -t UTF-8)"}`},
		{"{\"id\":\"g\xb5\",\"body\":\"路灯坏了很久\"}", `{"id":null,"error":"line 16: not UTF-8 (first bad byte at offset 8; is it GBK? iconv -f GB18030 -t UTF-8)"}`},
		{`{"id":"h","body":"\ud800路灯坏了很久"}`, `{"id":"h","error":"line 17: the \\u escape at offset 18 is half a UTF-16 surrogate pair and would be read as U+FFFD: give the character, or both halves"}`},
		{`{"id":"i","body":"\ud83d\ude00路灯坏了很久"}`, ""},
		{`{"id":"j","body":"\\ud800路灯坏了很久"}`, ""},
		// Two files saved by a Windows editor, joined: the second's byte
		// order mark opens a line.
		{"\uFEFF" + `{"id":"k","body":"路灯坏了很久"}`, ""},
	}
	var in []string
	for _, c := range cases {
		in = append(in, c.in)
	}
	var out bytes.Buffer
	// A byte order mark before the first line is skipped.
	n, bad, err := classify(e, strings.NewReader("\uFEFF"+strings.Join(in, "\r\n")+"\n"), &out, false)
	if err != nil {
		t.Fatal(err)
	}
	wantBad := 0
	for _, c := range cases {
		if c.want != "" {
			wantBad++
		}
	}
	if n != len(cases) || bad != wantBad {
		t.Errorf("classify counted %d lines, %d bad; want %d and %d", n, bad, len(cases), wantBad)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(cases) {
		t.Fatalf("%d output lines for %d input lines:\n%s", len(lines), len(cases), out.String())
	}
	for i, c := range cases {
		var got classifyLine
		if err := json.Unmarshal([]byte(lines[i]), &got); err != nil {
			t.Errorf("line %d: %s: %v", i+1, lines[i], err)
		}
		switch {
		case c.want != "" && lines[i] != c.want:
			t.Errorf("line %d %s:\n got %s\nwant %s", i+1, c.in, lines[i], c.want)
		case c.want == "" && (got.Error != "" || got.Class == "" || got.ModelVersion == ""):
			t.Errorf("line %d %s: got %s, want a decision", i+1, c.in, lines[i])
		}
	}
}

func TestEachLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // "<nil>" for a line over the limit
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"\n\nx", []string{"", "", "x"}},
		{"12345678\n123456789\nz", []string{"12345678", "<nil>", "z"}}, // max 8
		{"123456789", []string{"<nil>"}},
		{strings.Repeat("y", 200) + "\nok\n", []string{"<nil>", "ok"}}, // longer than the reader's buffer too
	} {
		var got []string
		var nums []int
		err := eachLine(strings.NewReader(tc.in), 8, func(n int, line []byte) error {
			nums = append(nums, n)
			if line == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, string(line))
			}
			return nil
		})
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("eachLine(%.20q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		for i, n := range nums {
			if n != i+1 {
				t.Errorf("eachLine(%.20q): line numbers %v", tc.in, nums)
				break
			}
		}
	}
}

func TestEvalFile(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := dir + "/good.jsonl"
	os.WriteFile(good, []byte(strings.Join([]string{
		`{"id":"1","title":"举报村支书贪污","body":"村党支部书记虚报冒领低保金，还用公款吃喝。","class":"discipline","discipline_lead":true}`,
		``,
		`{"id":"2","title":"","body":"测试测试","class":"invalid","discipline_lead":false}`,
		`{"id":"3","title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"gov_service","department":"城乡建设"}`,
	}, "\n")), 0o644)
	var out bytes.Buffer
	if err := evalFile(&out, e, good); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n=3", "discipline lead (recall of yes 1.000, ", "department:",
		"review: 0 of 3 items sent to review (0.0 %), 0 of them with the right class; 3 decided without review, 0 of them wrong (0.0 %"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	// Review: a vague question goes to review; a service request labelled
	// petition is decided alone, wrongly.
	vague, wrong := "这个事情怎么办？", "小区门口路灯坏了一个月，请维修。"
	if d := e.DecideText("", vague); !d.Review {
		t.Fatalf("the fixture needs a text the engine sends to review; %q is not: %+v", vague, d)
	}
	if d := e.DecideText("路灯不亮", wrong); d.Review || d.Class != minsheng.ClassGovService {
		t.Fatalf("the fixture needs a service request decided alone: %+v", d)
	}
	rev := dir + "/review.jsonl"
	os.WriteFile(rev, []byte(`{"id":"v","title":"","body":"`+vague+`","class":"gov_service"}`+"\n"+
		`{"id":"w","title":"路灯不亮","body":"`+wrong+`","class":"petition"}`+"\n"+
		`{"id":"x","title":"路灯不亮","body":"`+wrong+`","class":"gov_service"}`+"\n"+
		`{"id":"y","title":"路灯不亮","body":"`+wrong+`","discipline_lead":false}`+"\n"), 0o644) // no class: not counted
	out.Reset()
	if err := evalFile(&out, e, rev); err != nil {
		t.Fatal(err)
	}
	vd := e.DecideText("", vague)
	want := fmt.Sprintf("review: 1 of 3 items sent to review (33.3 %%), %d of them with the right class; 2 decided without review, 1 of them wrong (33.3 %% of all)", b2i(vd.Class == minsheng.ClassGovService))
	if !strings.Contains(out.String(), want) {
		t.Errorf("eval output lacks %q:\n%s", want, out.String())
	}
	// A file labelled elsewhere: numeric ids, Chinese or spaced class
	// names, leads as numbers and words. Each counts as its class.
	other := dir + "/other.jsonl"
	os.WriteFile(other, []byte(strings.Join([]string{
		`{"id":101,"title":"举报村支书贪污","body":"村党支部书记虚报冒领低保金，还用公款吃喝。","class":"纪检监察","discipline_lead":1}`,
		`{"id":102,"title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"Gov Service","discipline_lead":"no"}`,
		`{"id":103,"title":"拆迁补偿","body":"我家房屋被征收，补偿标准远低于市场价，多次上访未果。","class":"信访事项","discipline_lead":0}`,
	}, "\n")), 0o644)
	out.Reset()
	if err := evalFile(&out, e, other); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"petition                 1.000     1.000     1.000       1", // support 1 each: the names were read
		"gov_service              1.000     1.000     1.000       1",
		"discipline               1.000     1.000     1.000       1",
		"n=3", "four-way macro-F1 (media_oversight, petition, gov_service, discipline): 1.000",
		"recall of yes 1.000",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval output lacks %q:\n%s", want, out.String())
		}
	}
	// Tables: a TSV with the 泰迪杯 headers, a CSV with ours.
	tsv := dir + "/board.tsv"
	os.WriteFile(tsv, []byte("留言编号\t留言主题\t留言详情\t一级分类\t类别\n"+
		"5\t路灯不亮\t小区门口路灯坏了一个月，请维修。\t城乡建设\t政务服务\n"), 0o644)
	out.Reset()
	if err := evalFile(&out, e, tsv); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(1 items)", "gov_service              1.000     1.000     1.000       1", "\ndepartment:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval of %s lacks %q:\n%s", tsv, want, out.String())
		}
	}
	csvFile := dir + "/labels.csv"
	os.WriteFile(csvFile, []byte("id,title,body,class,discipline_lead\n"+
		`7,举报贪污,"村支书虚报冒领低保金，还用公款吃喝。",discipline,yes`+"\n"), 0o644)
	out.Reset()
	if err := evalFile(&out, e, csvFile); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"discipline               1.000     1.000     1.000       1", "recall of yes 1.000, precision 1.000, 1 of 1 items flagged"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("eval of %s lacks %q:\n%s", csvFile, want, out.String())
		}
	}
	os.WriteFile(csvFile, []byte("id,class\n1,petition\n"), 0o644)
	if err := evalFile(&out, e, csvFile); err == nil || !strings.Contains(err.Error(), "no title or body column") {
		t.Errorf("a table without text: %v", err)
	}

	bad := dir + "/bad.jsonl"
	for _, tc := range []struct{ line, want string }{
		{`{"id":"1","body":"x","class":"urgent"}`, `line 1 (id 1): unknown class "urgent"`},
		{`{"id":7,"body":"x","class":"petition","discipline_lead":"maybe"}`, `line 1 (id 7): discipline_lead "maybe"`},
		{`{"id":"8","body":"x","department":"城建"}`, `unknown department "城建"`},
		{"{", "bad.jsonl:1"},
		// Text that would be scored, and trained on, as other text or none.
		{"{\"id\":\"9\",\"body\":\"\xc2\xb7\xb5\xc6\xbb\xb5\xc1\xcb\",\"class\":\"gov_service\"}", "bad.jsonl:1: not UTF-8 (first bad byte at offset 20"},
		{`{"id":"10","body":"路灯\udc00坏了","class":"gov_service"}`, "bad.jsonl:1: the \\u escape at offset 25 is half a UTF-16 surrogate pair"},
		{"\xff\xfe{", "bad.jsonl: the file is UTF-16"},
		{`{"id":"11","message":"小区门口路灯坏了","class":"gov_service"}`, "line 1 (id 11): no title or body"},
	} {
		os.WriteFile(bad, []byte(tc.line+"\n"), 0o644)
		if err := evalFile(&out, e, bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.line, err, tc.want)
		}
	}
}

// FuzzEachLine checks eachLine against a plain split: the same lines, in
// order, numbered from 1, with those over the limit passed as nil.
func FuzzEachLine(f *testing.F) {
	for _, s := range []string{"", "a\nb", "a\r\n\r\n", strings.Repeat("x", 70) + "\ny\n", "\n\n\n", "12345678\n123456789"} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, in string, max int) {
		if max < 0 || max > 1<<12 {
			return
		}
		var want []string
		if in != "" {
			want = strings.Split(strings.TrimSuffix(in, "\n"), "\n")
		}
		i := 0
		err := eachLine(strings.NewReader(in), max, func(n int, line []byte) error {
			if i >= len(want) {
				t.Fatalf("line %d beyond the %d lines of %q", n, len(want), in)
			}
			w := strings.TrimSuffix(want[i], "\r")
			switch {
			case n != i+1:
				t.Fatalf("line %d numbered %d", i+1, n)
			case len(w) > max && line != nil:
				t.Fatalf("line %d of %d bytes passed with limit %d", n, len(w), max)
			case len(w) <= max && string(line) != w:
				t.Fatalf("line %d = %q, want %q", n, line, w)
			}
			i++
			return nil
		})
		if err != nil || i != len(want) {
			t.Fatalf("%d of %d lines, error %v", i, len(want), err)
		}
	})
}

// TestEvalFileModelDepartments: eval --file with a model retrained on other
// departments scores against the model's labels; a gold department the
// model does not know is an error naming the item, not a panic.
func TestEvalFileModelDepartments(t *testing.T) {
	m, err := learn.NewModel("other-departments", 10)
	if err != nil {
		t.Fatal(err)
	}
	m.Head(triage.HeadDepartment).Labels = []string{"区0", "区1", "区2"}
	e, err := triage.NewWithModel(triage.DefaultConfig(), m)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/depts.jsonl"
	for _, tc := range []struct{ dept, want string }{
		{"区0", "\ndepartment:\nlabel"},
		{"城乡建设", `line 1 (id 1): unknown department "城乡建设" (the model ` + m.Version + ` knows 区0, 区1, 区2)`},
	} {
		os.WriteFile(path, []byte(`{"id":1,"title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","department":"`+tc.dept+`"}`+"\n"), 0o644)
		var out bytes.Buffer
		err := evalFile(&out, e, path)
		if got := out.String() + fmt.Sprint(err); !strings.Contains(got, tc.want) {
			t.Errorf("department %s: got %s, want it to contain %q", tc.dept, got, tc.want)
		}
	}
}

// TestEvalHelpNamesBothTrainingFiles: eval's help says that --task department
// leaves out the rows also in 附件3, as it does and as triage/README.md says.
func TestEvalHelpNamesBothTrainingFiles(t *testing.T) {
	_, stderr, _ := runCmd(t, "eval", "-h")
	if !strings.Contains(stderr, "附件2_示例数据_495 or 附件3") {
		t.Errorf("eval -h does not say --task department leaves out the rows also in 附件3:\n%s", stderr)
	}
}

// TestEvalDepartmentLeavesOutTraining: eval --task department leaves out
// the held-out rows that are also in the training file, by id (1) or by
// title and body (3), and says how many it left out and scored.
func TestEvalDepartmentLeavesOutTraining(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := evalDepartment(&out, e, "testdata/dept_heldout.csv", "testdata/dept_train.csv"); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	want := "department routing on dept_heldout.csv (model " + e.ModelVersion() + "): left out 2 of its 4 rows that are also in the training file dept_train.csv (same id, or same normalised title and body); scored on the other 2"
	if first != want || !strings.Contains(out.String(), "n=2\n") {
		t.Errorf("got\n%s\nwant the first line\n%s\nand n=2", out.String(), want)
	}
	// A second training file, without labels (as 附件3 is), leaves out its
	// copy of row 4 as well.
	out.Reset()
	if err := evalDepartment(&out, e, "testdata/dept_heldout.csv", "testdata/dept_train.csv", "testdata/dept_unlabelled.csv"); err != nil {
		t.Fatal(err)
	}
	first, _, _ = strings.Cut(out.String(), "\n")
	want = "department routing on dept_heldout.csv (model " + e.ModelVersion() + "): left out 3 of its 4 rows that are also in the training files dept_train.csv and dept_unlabelled.csv (same id, or same normalised title and body); scored on the other 1"
	if first != want || !strings.Contains(out.String(), "n=1\n") {
		t.Errorf("got\n%s\nwant the first line\n%s\nand n=1", out.String(), want)
	}
}

// TestReadLabelledQuotes: a TSV has no quoting, so a field that starts
// with " is read as it is and the rows stay apart; a CSV keeps its quoting.
func TestReadLabelledQuotes(t *testing.T) {
	for _, tc := range []struct {
		path   string
		bodies []string
	}{
		{"testdata/quoted.tsv", []string{`"路灯"坏了两个月没人修`, "村支书贪污低保金，用公款吃喝", "停水三天没人管"}},
		{"testdata/quoted.csv", []string{`"路灯"坏了两个月没人修`, "村支书贪污低保金\n用公款吃喝"}},
	} {
		items, err := readLabelled(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		var bodies []string
		for _, it := range items {
			bodies = append(bodies, it.Body)
		}
		if !slices.Equal(bodies, tc.bodies) {
			t.Errorf("%s: bodies %q, want %q", tc.path, bodies, tc.bodies)
		}
	}
}

// A table saved as UTF-8 with a byte order mark and its header quoted is
// read, and so is one saved in GBK; a row with fewer fields than the header, whose labels would be read
// as blank, is an error naming it.
func TestReadLabelledTables(t *testing.T) {
	dir := t.TempDir()
	bom := dir + "/bom.csv"
	os.WriteFile(bom, []byte("\uFEFF\"id\",\"title\",\"body\",\"class\"\n\"1\",\"路灯不亮\",\"小区门口路灯坏了\",\"gov_service\"\n"), 0o644)
	if items, err := readLabelled(bom); err != nil || len(items) != 1 || items[0].Class != "gov_service" {
		t.Errorf("%s: %+v, %v", bom, items, err)
	}
	// Saved by Chinese Excel: GBK, no byte order mark.
	for name, text := range map[string]string{
		"gbk.csv": "id,title,body,class\n1,路灯不亮,小区门口路灯坏了,gov_service\n",
		"gbk.tsv": "id\ttitle\tbody\tclass\n1\t路灯不亮\t小区门口路灯坏了\tgov_service\n",
	} {
		path := dir + "/" + name
		gbk, err := simplifiedchinese.GBK.NewEncoder().String(text)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, []byte(gbk), 0o644)
		if items, err := readLabelled(path); err != nil || len(items) != 1 || items[0].Body != "小区门口路灯坏了" || items[0].Class != "gov_service" {
			t.Errorf("%s: %+v, %v", name, items, err)
		}
	}
	for name, text := range map[string]string{
		"short.tsv": "id\ttitle\tbody\tclass\n1\t路灯\t路灯坏了\tgov_service\n2\t举报局长收受贿赂\n",
		"short.csv": "id,title,body,class\n1,路灯,路灯坏了,gov_service\n2,举报局长收受贿赂\n",
	} {
		path := dir + "/" + name
		os.WriteFile(path, []byte(text), 0o644)
		if _, err := readLabelled(path); err == nil || !strings.Contains(err.Error(), "row 2 after the header has 2 fields, the header 4") {
			t.Errorf("%s: %v, want the short row named", name, err)
		}
	}
	// A tab inside a .tsv field splits it, and the class would be read
	// from a piece of the body: refused, with the reason. Empty fields
	// after the last column (a trailing comma) are not.
	for name, c := range map[string]struct{ text, want string }{
		"long.tsv":     {"id\ttitle\tbody\tclass\n1\t路灯\t路灯坏了\tgov_service\n2\t举报\t局长\t收受贿赂\tdiscipline\n", "row 2 after the header has 5 fields, the header 4 (a tab or a line break inside a field splits it unless the field is quoted"},
		"long.csv":     {"id,title,body,class\n1,路灯,路灯坏了,gov_service,extra\n", "row 1 after the header has 5 fields, the header 4"},
		"trailing.csv": {"id,title,body,class\n1,路灯,路灯坏了,gov_service,\n", ""},
	} {
		path := dir + "/" + name
		os.WriteFile(path, []byte(c.text), 0o644)
		items, err := readLabelled(path)
		if c.want == "" && (err != nil || len(items) != 1 || items[0].Class != "gov_service") {
			t.Errorf("%s: %+v, %v", name, items, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// Written by Python's csv module with a tab as delimiter: the fields
	// holding a tab, a line break or a quote mark are quoted, and read whole.
	quoted := dir + "/python.tsv"
	os.WriteFile(quoted, []byte("id\ttitle\tbody\tclass\r\n1\t路灯\t\"路灯坏了\t两个月\"\tgov_service\r\n2\t举报\t\"局长收受贿赂\n还用公款吃喝，他说\"\"没人管得了\"\"\"\tdiscipline\r\n"), 0o644)
	if items, err := readLabelled(quoted); err != nil || len(items) != 2 || items[0].Body != "路灯坏了\t两个月" || items[1].Body != "局长收受贿赂\n还用公款吃喝，他说\"没人管得了\"" || items[1].Class != "discipline" {
		t.Errorf("a quoted .tsv: %+v, %v", items, err)
	}
	// A plain TSV whose field starts with a quote mark that a later field's
	// last quote mark closes: read with quoting, the rows between would
	// vanish into one body. Refused as ambiguous.
	for name, row2 := range map[string]string{"even": "2\t举报\t局长受贿\tdiscipline", "long": "2\t举报\t局长受贿\t\tdiscipline", "short": "2\t举报\t局长受贿"} {
		swallow := dir + "/swallow-" + name + ".tsv"
		os.WriteFile(swallow, []byte("id\ttitle\tbody\tclass\n1\t路灯\t\"路灯坏了\tgov_service\n"+row2+"\n3\t噪音\t晚上施工，工人说别管\"\tgov_service\n"), 0o644)
		if _, err := readLabelled(swallow); err == nil || !strings.Contains(err.Error(), "row 1 after the header holds a quoted field with a line break and a tab") {
			t.Errorf("a .tsv whose quote marks join rows (%s): %v", name, err)
		}
	}
	// One field under two names with different values is an error; with
	// the same value it is read.
	conflict := dir + "/conflict.jsonl"
	os.WriteFile(conflict, []byte(`{"id":"1","留言编号":"1","title":"路灯","留言主题":"路灯","body":"路灯坏了","class":"gov_service"}`+"\n"+
		`{"id":"2","留言编号":"3","body":"路灯坏了","class":"gov_service"}`+"\n"), 0o644)
	if _, err := readLabelled(conflict); err == nil || !strings.Contains(err.Error(), `line 2: "id" and "留言编号" are both given, with different values`) {
		t.Errorf("conflicting names: %v", err)
	}
	// null is not given; an escape is the character it names.
	same := dir + "/same.jsonl"
	os.WriteFile(same, []byte(`{"id":null,"留言编号":7,"body":"路灯坏了","text":null,"title":"\u8def灯","留言主题":"路灯","class":"gov_service"}`+"\n"), 0o644)
	if items, err := readLabelled(same); err != nil || len(items) != 1 || items[0].Title != "路灯" || string(items[0].ID) != "7" {
		t.Errorf("null and escaped names: %+v, %v", items, err)
	}
	// A key given twice would be read as its last value: refused.
	twice := dir + "/twice.jsonl"
	os.WriteFile(twice, []byte(`{"id":"1","body":"路灯坏了","class":"gov_service"}`+"\n"+`{"id":"2","body":"路灯坏了","class":"petition","class":"gov_service"}`+"\n"), 0o644)
	if _, err := readLabelled(twice); err == nil || !strings.Contains(err.Error(), `line 2: key "class" is given twice`) {
		t.Errorf("a key twice: %v", err)
	}
	array := dir + "/array.jsonl"
	os.WriteFile(array, []byte(`["路灯坏了","gov_service"]`+"\n"), 0o644)
	if _, err := readLabelled(array); err == nil || !strings.Contains(err.Error(), "line 1: a JSON array, not an object") {
		t.Errorf("an array line: %v", err)
	}
	table := dir + "/two-ids.csv"
	os.WriteFile(table, []byte("id,留言编号,body,class\n1,1,路灯坏了,gov_service\n2,,路灯坏了,gov_service\n3,999,路灯坏了,gov_service\n"), 0o644)
	if _, err := readLabelled(table); err == nil || !strings.Contains(err.Error(), `row 3 after the header: "id" and "留言编号" are both given, with different values`) {
		t.Errorf("a table's two id columns: %v", err)
	}
}

// TestEvalFileSaysUnscored: items without a class label are counted aloud,
// so that a file whose class column was lost does not pass for a small one.
func TestEvalFileSaysUnscored(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/some.jsonl"
	os.WriteFile(path, []byte(`{"id":"1","body":"小区门口路灯坏了，请维修。","class":"gov_service"}`+"\n"+
		`{"id":"2","body":"楼上漏水，物业不管。","class":""}`+"\n"+`{"id":"3","body":"楼上漏水，物业不管。","discipline_lead":false}`+"\n"), 0o644)
	var out bytes.Buffer
	if err := evalFile(&out, e, path); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2 items carry no class label (blank or missing) and are not scored for class") {
		t.Errorf("report:\n%s", out.String())
	}
}

// TestClassifyEnds: blank lines at the end of an input file are not lines
// (an editor's last newline twice), while one between lines is answered,
// and on a pipe every line is; and UTF-16 input is refused with the
// reason.
func TestClassifyEnds(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	in := `{"id":1,"body":"路灯坏了一个月"}` + "\n\n" + `{"id":2,"body":"路灯坏了一个月"}` + "\n\n \n"
	n, bad, err := classify(e, strings.NewReader(in), &out, true)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if err != nil || n != 3 || bad != 1 || len(lines) != 3 || lines[1] != `{"id":null,"error":"line 2: blank"}` {
		t.Errorf("a file: %d lines, %d bad, %v:\n%s", n, bad, err, out.String())
	}
	// Not a file (a pipe): every line is answered as it comes, so a
	// caller that writes a blank line and waits is answered.
	out.Reset()
	if n, bad, err := classify(e, strings.NewReader(in), &out, false); err != nil || n != 5 || bad != 3 {
		t.Errorf("a pipe: %d lines, %d bad, %v:\n%s", n, bad, err, out.String())
	}
	utf16 := []byte{0xFF, 0xFE, '{', 0, '}', 0, '\n', 0}
	if _, _, err := classify(e, bytes.NewReader(utf16), io.Discard, false); err == nil || !strings.Contains(err.Error(), "UTF-16") {
		t.Errorf("UTF-16 input: %v", err)
	}
}

// classify answers each line as soon as it is decided when no more input
// is waiting: a caller that sends a line and waits for its answer gets it.
func TestClassifyStreams(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { _, _, err := classify(e, inR, outW, false); outW.Close(); done <- err }()
	answers := bufio.NewScanner(outR)
	for i, line := range []string{`{"id":"a","body":"小区门口路灯坏了，请维修。"}`, `{"id":"b","body":"楼上漏水，物业不管。"}`} {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() {
			if answers.Scan() {
				got <- answers.Text()
			}
			close(got)
		}()
		select {
		case a := <-got:
			if !strings.Contains(a, fmt.Sprintf(`"id":"%c"`, 'a'+i)) {
				t.Fatalf("answer %d: %s", i+1, a)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to line %d while the input stays open", i+1)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestEvalFileLabels: JSON lines take the fields under the names a table's
// header may give them and may start with a byte order mark; a file where
// no item carries a readable label is an error, not a report of nothing.
func TestEvalFileLabels(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/items.jsonl"
	for _, tc := range []struct{ name, in, want string }{
		{"aliases", `{"ID":1,"留言主题":"举报村支书贪污","text":"村支书虚报冒领低保金，还用公款吃喝。","label":"discipline","lead":true}`,
			"discipline               1.000     1.000     1.000       1"},
		{"byte order mark", "\uFEFF" + `{"id":1,"title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"gov_service"}`,
			"gov_service              1.000     1.000     1.000       1"},
		{"empty", "\n", "items.jsonl: no items"},
		{"no label", `{"id":1,"title":"路灯不亮","body":"小区门口路灯坏了一个月。"}`, "none of its 1 items carries a class, discipline_lead or department label (names read: class/label/"},
		{"labels under unknown names", `{"id":1,"text":"路灯坏了","tag":"gov_service","lead_flag":0}`, "none of its 1 items carries"},
		{"blank labels", `{"id":1,"body":"路灯坏了","class":" ","discipline_lead":null,"department":""}`, "none of its 1 items carries"},
		{"no item of the four classes", `{"id":1,"title":"感谢","body":"谢谢你们修好了路灯！","class":"invalid"}`,
			"four-way macro-F1 (media_oversight, petition, gov_service, discipline): n/a (no item's class is one of them)\n"},
		{"a field not a string", `{"id":"b","title":123,"class":"petition"}`, "items.jsonl: line 1 (id b): title 123: want a string"},
		{"null", "null", "items.jsonl: line 1: null, not an object"},
		{"the line, blank lines counted", "\n\n" + `{"id":"c","title":[],"class":"petition"}`, "items.jsonl: line 3 (id c): title []: want a string"},
		{"a key twice", `{"id":1,"Class":"invalid","class":"gov_service","body":"路灯坏了"}`, `line 1: keys "Class" and "class" name the same field`},
		{"an id again", `{"id":1,"title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"gov_service"}` + "\n" +
			`{"id":1,"title":"路灯不亮","body":"小区门口路灯坏了一个月，请维修。","class":"petition"}`,
			"1 items repeat an earlier item's id and were not scored again\n"},
		{"a line over 4 MiB", `{"id":1,"title":"路灯不亮","body":"` + strings.Repeat("路灯坏了", 400_000) + `","class":"gov_service"}`,
			"gov_service              1.000     1.000     1.000       1"},
	} {
		os.WriteFile(path, []byte(tc.in+"\n"), 0o644)
		var out bytes.Buffer
		err := evalFile(&out, e, path)
		if got := out.String() + fmt.Sprint(err); !strings.Contains(got, tc.want) {
			t.Errorf("%s: got %s, want it to contain %q", tc.name, got, tc.want)
		}
	}
}

// TestTriageFlagRanges: a flag out of its range is an error naming it,
// before any data is read.
func TestTriageFlagRanges(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"triage-bench", "--duration", "0"}, "triage-bench: --duration 0s: want a positive duration"},
		{[]string{"triage-bench", "--duration", "-1s"}, "triage-bench: --duration -1s: want a positive duration"},
		{[]string{"train", "--bits", "25", "--shared", "/nonexistent"}, "train: --bits 25 outside 10..24"},
		{[]string{"train", "--bits", "9", "--shared", "/nonexistent"}, "train: --bits 9 outside 10..24"},
		{[]string{"train", "--title-repeat", "9", "--shared", "/nonexistent"}, "train: --title-repeat 9 outside 0..8"},
		{[]string{"train", "--title-repeat", "-1", "--shared", "/nonexistent"}, "train: --title-repeat -1 outside 0..8"},
		// A shared folder that is not there is named, with the flag to fix it.
		{[]string{"train", "--shared", "/nonexistent"}, "train: no shared data folder at /nonexistent (/nonexistent): give its path with --shared DIR"},
		{[]string{"eval", "--task", "spam", "--shared", "/nonexistent"}, "eval: no shared data folder at /nonexistent"},
		{[]string{"eval", "--task", "department", "--file", "x.jsonl"}, "eval: --task department and --file: give one"},
		{[]string{"triage-bench", "--shared", "/nonexistent"}, "triage-bench: no shared data folder at /nonexistent"},
		{[]string{"train", "--shared", ".", "--extra-weight", "0"}, "train: --extra-weight 0: want a weight above 0"},
	} {
		_, stderr, code := runCmd(t, tc.args...)
		if code != exitConfig || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, exitConfig, tc.want)
		}
	}
}

// FuzzReadLabelled reads any bytes as a labelled .tsv, .csv and JSON-lines
// file without panicking; a .tsv it accepts has one item per non-blank line
// after the header, whatever quotes it holds.
func FuzzReadLabelled(f *testing.F) {
	f.Add([]byte("留言编号\t留言主题\t留言详情\t一级分类\n1\t路灯\t\"路灯\"坏了\t城乡建设\n"))
	f.Add([]byte("id,title,body,class\n1,a,\"b,c\",petition\n"))
	f.Add([]byte(`{"id":1,"title":"t","body":"b","class":"舆论监督","discipline_lead":"是"}` + "\n"))
	f.Add([]byte("\uFEFFtitle\tbody\r\n\"x\t\"y\r\n\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, ext := range []string{".tsv", ".csv", ".jsonl"} {
			path := filepath.Join(dir, "in"+ext)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			items, err := readLabelled(path)
			if ext != ".tsv" || err != nil {
				continue
			}
			lines := 0
			for _, l := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(l) != "" {
					lines++
				}
			}
			if lines > 0 && len(items) != lines-1 {
				t.Fatalf("%d items from %d non-blank lines of %q", len(items), lines, data)
			}
		}
	})
}

// TestClassifyEchoesID: each answer carries its line's id exactly as
// given, so that a script joins answers to items by id: a string stays a
// string, a number a number (a long one not rounded), and a line with no
// id answers "id": null.
func TestClassifyEchoesID(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	body := `"body":"小区门口路灯坏了一个月，请维修。"`
	in := []string{`{"id":"0012",` + body + `}`, `{"id":12,` + body + `}`, `{"id":1234567890123456789012,` + body + `}`,
		`{"id": 1.50 ,` + body + `}`, `{` + body + `}`, `{"id":null,` + body + `}`}
	want := []string{`"0012"`, `12`, `1234567890123456789012`, `1.50`, `null`, `null`}
	var out bytes.Buffer
	if _, bad, err := classify(e, strings.NewReader(strings.Join(in, "\n")), &out, false); err != nil || bad != 0 {
		t.Fatalf("classify: %d bad, %v", bad, err)
	}
	for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var got struct{ ID json.RawMessage }
		if err := json.Unmarshal([]byte(l), &got); err != nil || string(got.ID) != want[i] {
			t.Errorf("line %d %s: id %s, want %s (%v)", i+1, in[i], got.ID, want[i], err)
		}
	}
}

// TestClassifyFieldNames: the fields may have the names a labelled table
// gives them (the 泰迪杯 files' Chinese headers, text, content), in any
// case; two keys naming one field are an error, not a guess.
func TestClassifyFieldNames(t *testing.T) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	in := []string{
		`{"留言编号":5,"留言主题":"小区路灯坏了","留言详情":"小区门口路灯坏了一个月，请维修。"}`,
		`{"ID":"x","Text":"小区门口路灯坏了一个月，请维修。"}`,
		`{"id":"y","content":"小区门口路灯坏了一个月，请维修。"}`,
		`{"id":"z","title":"路灯","Title":"路灯坏了"}`,
		`{"id":"w","body":"路灯坏了","body":"另一封信"}`,
		`{"id":"v1","id":"v2","body":"路灯坏了"}`,
		`{"ID":"u","body":"路灯坏了","body":"另一封信"}`,
		`{"id":"a","ID":"b","body":"路灯坏了"}`,
	}
	want := []string{`{"id":5,"class":"gov_service"`, `{"id":"x","class":"gov_service"`, `{"id":"y","class":"gov_service"`,
		`{"id":"z","error":"line 4: keys \"Title\" and \"title\" name the same field"}`,
		`{"id":"w","error":"line 5: key \"body\" is given twice"}`,
		`{"id":null,"error":"line 6: key \"id\" is given twice"}`,
		`{"id":"u","error":"line 7: key \"body\" is given twice"}`,
		`{"id":null,"error":"line 8: keys \"ID\" and \"id\" name the same field"}`}
	var out bytes.Buffer
	if _, bad, err := classify(e, strings.NewReader(strings.Join(in, "\n")), &out, false); err != nil || bad != 5 {
		t.Fatalf("classify: %d bad, %v; want 5 bad", bad, err)
	}
	for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, want[i]) {
			t.Errorf("line %d %s:\n got %.120s\nwant %s…", i+1, in[i], l, want[i])
		}
	}
}

// FuzzClassify: on any input classify does not panic, answers each line it
// counts with one JSON object that has an id, and counts as bad exactly
// the answers that are errors.
func FuzzClassify(f *testing.F) {
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"id":1,"title":"路灯","body":"路灯坏了"}` + "\n\n" + `{"留言编号":"2","text":"x"}` + "\n\n"))
	f.Add([]byte("\uFEFF{\"ID\":null,\"Body\":\"a\",\"body\":\"b\"}\r\n[]\n"))
	f.Add([]byte{0xFF, 0xFE, '{', 0})
	f.Add([]byte(`{"id":"a","id":"b","title":1}` + "\n \t\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		n, bad, err := classify(e, bytes.NewReader(data), &out, len(data)%2 == 0)
		if err != nil {
			return // UTF-16, or a failed write
		}
		got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if out.Len() == 0 {
			got = nil
		}
		if len(got) != n {
			t.Fatalf("%d answers for %d lines of %q", len(got), n, data)
		}
		errs := 0
		for _, l := range got {
			var a map[string]json.RawMessage
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatalf("answer %q: %v", l, err)
			}
			if _, ok := a["id"]; !ok {
				t.Fatalf("answer without an id: %s", l)
			}
			if _, ok := a["error"]; ok {
				errs++
			}
		}
		if errs != bad {
			t.Fatalf("%d error answers, %d counted bad, for %q", errs, bad, data)
		}
	})
}
