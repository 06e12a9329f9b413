package learn

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/triage"
)

// A fit starts from nothing: a feature that only an earlier fit saw keeps no
// weight. In cross-validation such a feature is one found only in the
// held-out fold, whose documents the earlier folds trained on.
func TestFitStartsFromZero(t *testing.T) {
	m, h := toyHead(t, 10, "a", "b")
	Fit(m, h, []Doc{{IDs: []uint32{7, 1}, Label: 1}, {IDs: []uint32{2, 1}, Label: 0}}, DefaultOptions())
	if w := m.Weights(h, 7); w[1] <= w[0] {
		t.Fatalf("the first fit did not learn feature 7 as b: %v", w)
	}
	Fit(m, h, []Doc{{IDs: []uint32{3}, Label: 0}, {IDs: []uint32{4}, Label: 1}}, DefaultOptions())
	if w := m.Weights(h, 7); w[0] != 0 || w[1] != 0 {
		t.Errorf("feature 7, absent from the second fit's documents, kept the first fit's weights %v", w)
	}
}

// A head learns a separable toy task and gets it right on held-out texts.
func TestFitSeparates(t *testing.T) {
	m, h := toyHead(t, 14, "water", "road", "school")
	train := map[int][]string{
		0: {"停水三天了", "自来水发黄", "水压太低", "水管爆裂漏水", "小区停水"},
		1: {"道路坑洼", "马路上有大坑", "路面塌陷", "道路施工封路", "路灯不亮马路黑"},
		2: {"学校乱收费", "孩子入学难", "老师体罚学生", "学校食堂卫生差", "小学学位不足"},
	}
	var docs []Doc
	for l, texts := range train {
		for _, s := range texts {
			docs = append(docs, Doc{IDs: m.Featurize(nil, "", s), Label: l})
		}
	}
	Fit(m, h, docs, DefaultOptions())
	for want, s := range map[int]string{0: "我家停水了", 1: "路面有坑", 2: "学校收费"} {
		p := Predict(m, h, m.Featurize(nil, "", s))
		if got := triage.Argmax(p); got != want {
			t.Errorf("%s: predicted %s (%v), want %s", s, h.Labels[got], p, h.Labels[want])
		}
		sum := 0.0
		for _, x := range p {
			sum += x
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("probabilities sum to %v", sum)
		}
	}
}

func TestReport(t *testing.T) {
	r := NewReport([]string{"a", "b"})
	for range 8 {
		r.Add(0, 0)
	}
	r.Add(0, 1)
	r.Add(0, 1)
	r.Add(1, 1)
	r.Add(1, 0)
	p, rc, f := r.PRF(1)
	if math.Abs(p-1.0/3) > 1e-9 || math.Abs(rc-0.5) > 1e-9 || math.Abs(f-0.4) > 1e-9 {
		t.Errorf("PRF(b) = %v %v %v, want 1/3 1/2 0.4", p, rc, f)
	}
	// a: p 8/9, r 0.8, f1 = 2*(8/9*0.8)/(8/9+0.8)
	fa := 2 * (8.0 / 9 * 0.8) / (8.0/9 + 0.8)
	if math.Abs(r.MacroF1()-(fa+0.4)/2) > 1e-9 || math.Abs(r.Accuracy()-0.75) > 1e-9 {
		t.Errorf("macro-F1 %v accuracy %v", r.MacroF1(), r.Accuracy())
	}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "macro-F1 0.") || !strings.Contains(b.String(), "[1] b") {
		t.Errorf("report:\n%s", b.String())
	}
}

func TestFitTemperature(t *testing.T) {
	// Over-confident predictions, right only 70% of the time: the fitted
	// temperature softens them (> 1).
	var probs [][]float64
	var labels []int
	for i := range 100 {
		probs = append(probs, []float64{0.99, 0.01})
		labels = append(labels, map[bool]int{true: 0, false: 1}[i%10 < 7])
	}
	if T := FitTemperature(probs, labels); T <= 1.5 {
		t.Errorf("temperature %v for over-confident predictions, want > 1.5", T)
	}
}

func TestReservedRefused(t *testing.T) {
	for _, p := range []string{"x/附件2_留出测试集_921_含一级标签与模型预测.csv", "附件4_全部_2816.xlsx", "作品测试数据_2801_某参赛队预测结果.csv", "附件2_已标注并集_1380.csv"} {
		if !Reserved(p) {
			t.Errorf("%s not reserved", p)
		}
	}
	if Reserved("附件2_示例数据_495.csv") || Reserved("附件3_全部_4326.csv") {
		t.Error("a training file is reserved")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "fourway.tsv")
	os.WriteFile(f, []byte("file\tid\tclass\tdiscipline_lead\tnote\n附件4_全部_2816.csv\t1\tpetition\t0\tx\n"), 0o644)
	if _, err := ReadLabelRefs(f); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("a label on a reserved file was read: %v", err)
	}
}

func TestMailText(t *testing.T) {
	raw := []byte("Subject: =?GB2312?B?1tDOxA==?=\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n\xc4\xe3\xba\xc3\r\n")
	s, b := MailText(raw)
	if s != "中文" || strings.TrimSpace(b) != "你好" {
		t.Errorf("MailText = %q, %q", s, b)
	}
}

// The labels in the repository resolve against the shared data, when it is
// there: every reference names a message that exists, and every class and
// sector has some.
func TestLabelsResolve(t *testing.T) {
	shared := sharedDir(t)
	recs, err := ReadFourWay(shared, "../labels")
	if err != nil {
		t.Fatal(err)
	}
	checkLabelled(t, "four-way labels", recs, Classes())
	sectors, err := ReadSectors(shared, "../labels")
	if err != nil {
		t.Fatal(err)
	}
	checkLabelled(t, "sector labels (department.tsv)", sectors, Departments)
}

// checkLabelled fails for a record with no text or a label of names with no
// record.
func checkLabelled(t *testing.T, what string, recs []Record, names []string) {
	t.Helper()
	counts := map[string]int{}
	for _, r := range recs {
		counts[r.Label]++
		if r.Title == "" && r.Body == "" {
			t.Errorf("%s: %s %s: empty text", what, r.Source, r.ID)
		}
	}
	for _, n := range names {
		if counts[n] == 0 {
			t.Errorf("%s: none labelled %s", what, n)
		}
	}
	t.Logf("%s: %v", what, counts)
}

func sharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MINSHENG_SHARED")
	if dir == "" {
		dir = "../../../shared/data"
	}
	if _, err := os.Stat(filepath.Join(dir, "INDEX.md")); err != nil {
		t.Skipf("shared data not found at %s (set MINSHENG_SHARED): %v", dir, err)
	}
	return dir
}

// The lead dump has a header and one row per lead doc with its held-out
// figures and its gold and held-out class.
func TestDumpLeads(t *testing.T) {
	recs := []Record{
		{Source: "own", ID: "a", Body: "村主任贪污低保金", Label: "discipline"},
		{Source: "own", ID: "b", Body: "路灯坏了", Label: "petition"},
	}
	probs := [][]float64{{0.2, 0.8}, {0.9, 0.1}}
	class := [][]float64{{0, 0, 0, 1, 0}, {0, 0, 1, 0, 0}}
	var b strings.Builder
	dumpLeads(&b, recs, probs, []int{1, 0}, 1, class, []int{8, 4}, []bool{true, false})
	want := "source\tid\tgold\tp_lead\tclass_discipline\trule\tgold_class\theld_out_class\twords\tnames_actor\n" +
		"own\ta\t1\t0.8000\t1\t1\tdiscipline\tdiscipline\t8\t1\n" +
		"own\tb\t0\t0.1000\t0\t0\tpetition\tgov_service\t4\t0\n"
	if b.String() != want {
		t.Errorf("dump:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A class the held-out predictions under-call gets an offset that recovers
// it, and the cross-fitted estimate sees the gain.
func TestFitBias(t *testing.T) {
	var probs [][]float64
	var labels []int
	for i := range 40 {
		if i%5 == 0 { // in both halves of the cross-fit

			probs, labels = append(probs, []float64{0.6, 0.4}), append(labels, 1)
		} else {
			probs, labels = append(probs, []float64{0.9, 0.1}), append(labels, 0)
		}
	}
	off := FitBias(probs, labels, 2, nil)
	if d := off[1] - off[0]; d <= math.Log(1.5) || d >= math.Log(9) {
		t.Fatalf("offsets %v do not separate the classes", off)
	}
	if f := biasedReport(probs, labels, 2, off, nil).MacroF1(); f != 1 {
		t.Errorf("macro-F1 with offsets %v = %.3f, want 1", off, f)
	}
	crossed, without := CrossFitBias(probs, labels, []string{"a", "b"})
	if crossed.MacroF1() <= without || crossed.N != len(probs) {
		t.Errorf("cross-fitted %.3f (n=%d), without %.3f", crossed.MacroF1(), crossed.N, without)
	}
	if got := shifted([]float64{0.5, 0.5}, []float64{0, math.Log(3)}); math.Abs(got[1]-0.75) > 1e-9 {
		t.Errorf("shifted = %v, want [0.25 0.75]", got)
	}
}

// TestTrainingRules pins two choices of Train: the spam screen takes from
// the four-way labels only our own valid examples, so a new pass of real
// labels cannot move it, and class offsets need a gain of offsetMargin.
func TestTrainingRules(t *testing.T) {
	for _, c := range []struct {
		r    Record
		want string
	}{
		{Record{Source: "own", Label: "gov_service"}, "ham"},
		{Record{Source: "own", Label: "discipline"}, "ham"},
		{Record{Source: "own", Label: "invalid"}, ""},
		{Record{Source: "附件3_全部_4326.csv", Label: "gov_service"}, ""},
		{Record{Source: "附件2_示例数据_495.csv", Label: "petition"}, ""},
	} {
		if got := screenHam(c.r); got != c.want {
			t.Errorf("screenHam(%s %s) = %q, want %q", c.r.Source, c.r.Label, got, c.want)
		}
	}
	for _, c := range []struct {
		crossed, without float64
		want             bool
	}{
		{0.764, 0.747, true},  // the fourth pass: kept
		{0.757, 0.756, false}, // within what retraining moves
		{0.746, 0.750, false},
	} {
		if got := keepOffsets(c.crossed, c.without); got != c.want {
			t.Errorf("keepOffsets(%.3f, %.3f) = %v, want %v", c.crossed, c.without, got, c.want)
		}
	}
}

// TestSecondOpinion measures how far two labellers agree: second-opinion.tsv
// holds blind second labels for a random 300 of the 附件3 rows in
// fourway.tsv. It needs no shared data. Run with -v for the figures.
func TestSecondOpinion(t *testing.T) {
	read := func(name string) map[string]LabelRef {
		refs, err := ReadLabelRefs(filepath.Join("../labels", name))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]LabelRef{}
		for _, r := range refs {
			if index(Classes(), r.Class) < 0 {
				t.Fatalf("%s: %s %s has class %q", name, r.File, r.ID, r.Class)
			}
			out[r.File+"|"+r.ID] = r
		}
		return out
	}
	first, second := read("fourway.tsv"), read("second-opinion.tsv")
	classes := Classes()
	rep := NewReport(classes)
	lead := NewReport([]string{"no", "yes"})
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	for k, b := range second {
		a, ok := first[k]
		if !ok {
			t.Fatalf("%s: second label for a row fourway.tsv does not have", k)
		}
		rep.Add(index(classes, a.Class), index(classes, b.Class))
		lead.Add(b2i(a.Lead), b2i(b.Lead))
	}
	k, kl := kappa(rep), kappa(lead)
	f4 := rep.MacroF1Over(validClasses)
	t.Logf("%d rows: class agreement %.3f, Cohen's kappa %.3f; the second labeller against the first: macro-F1 over the four valid classes %.3f", rep.N, rep.Accuracy(), k, f4)
	t.Logf("lead: agreement %.3f, kappa %.3f; %d leads first, %d second, %d both", lead.Accuracy(), kl,
		lead.Confusion[1][0]+lead.Confusion[1][1], lead.Confusion[0][1]+lead.Confusion[1][1], lead.Confusion[1][1])
	t.Logf("\n%s", reportString(rep))
	if rep.N < 300 || k < 0.6 {
		t.Errorf("%d rows, kappa %.3f: the labels no longer agree as they did (0.777 on 2026-11-30)", rep.N, k)
	}
}

// kappa is Cohen's kappa of a report read as two raters' agreement.
func kappa(r *Report) float64 {
	n := float64(r.N)
	var pe float64
	for i := range r.Labels {
		var row, col float64
		for j := range r.Labels {
			row += float64(r.Confusion[i][j])
			col += float64(r.Confusion[j][i])
		}
		pe += row * col / n / n
	}
	po := r.Accuracy()
	return (po - pe) / (1 - pe)
}

func TestAgainstSecond(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "second-opinion.tsv")
	if got, err := againstSecond(path, nil, nil, Classes()); got != "" || err != nil {
		t.Fatalf("no file: got %q, %v; want nothing", got, err)
	}
	tsv := "file\tid\tclass\tdiscipline_lead\tnote\n" +
		"b.csv\t1\tpetition\t0\tx\n" +
		"b.csv\t2\tmedia_oversight\t0\tx\n" +
		"b.csv\t9\tgov_service\t0\tnot among the records\n"
	if err := os.WriteFile(path, []byte(tsv), 0o600); err != nil {
		t.Fatal(err)
	}
	recs := []Record{{Source: "b.csv", ID: "1"}, {Source: "b.csv", ID: "2"}, {Source: "b.csv", ID: "3"}, {Source: "own", ID: "1"}}
	p := func(k int) []float64 { out := make([]float64, 5); out[k] = 1; return out }
	// held out: row 1 petition (agrees), row 2 gov_service (the second
	// labeller says media_oversight), rows 3 and own not in the file
	probs := [][]float64{p(1), p(2), p(0), p(0)}
	got, err := againstSecond(path, recs, probs, Classes())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(2 rows;", "accuracy 0.500  n=2", "macro-F1 over the four valid classes 0.500"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if err := os.WriteFile(path, []byte("b.csv\t1\tnews\t0\tx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := againstSecond(path, recs, probs, Classes()); err == nil || !strings.Contains(err.Error(), `"news"`) {
		t.Errorf("unknown class: err %v, want one naming it", err)
	}
}

// The naive-Bayes scales: a bucket found only in one label's documents gets
// a large scale for it, one found equally in both gets 1−beta, one found
// nowhere 0; and a fit with them keeps a bucket at weight 0 where its scale
// is 0 (beta 1, a bucket that says nothing).
func TestNBScales(t *testing.T) {
	docs := []Doc{
		{IDs: []uint32{1, 2, 2}, Label: 0},
		{IDs: []uint32{1, 3}, Label: 1},
	}
	s := nbScales(docs, 2, 8, 0.5)
	// Bucket 1: in one document of each label, each with two distinct
	// buckets: p = q = 2/3, r = 0.
	if s[1*2+0] != 0.5 || s[1*2+1] != 0.5 {
		t.Errorf("bucket 1, in both labels alike: scales %v, want 0.5 0.5", s[2:4])
	}
	// Bucket 2: only in label 0 (counted once): p = 2/3, q = 1/3, r = log 2.
	want := float32(0.5*math.Log(2) + 0.5)
	if math.Abs(float64(s[2*2+0]-want)) > 1e-6 || math.Abs(float64(s[2*2+1]-want)) > 1e-6 {
		t.Errorf("bucket 2: scales %v, want %v for both labels (|r| is symmetric for two labels)", s[4:6], want)
	}
	if s[5*2] != 0 || s[5*2+1] != 0 {
		t.Errorf("bucket 5, in no document: scales %v, want 0", s[10:12])
	}

	m, h := toyHead(t, 10, "a", "b")
	o := DefaultOptions()
	o.NBScale = 1
	Fit(m, h, docs, o)
	if w := m.Weights(h, 1); w[0] != 0 || w[1] != 0 {
		t.Errorf("bucket 1 says nothing (scale 0) but got weights %v", w)
	}
	if w := m.Weights(h, 2); w[0] <= w[1] {
		t.Errorf("bucket 2 (label a only) weights %v do not favour a", w)
	}
	if w := m.Weights(h, 3); w[1] <= w[0] {
		t.Errorf("bucket 3 (label b only) weights %v do not favour b", w)
	}
}

// An averaged fit keeps the mean of the fits with seeds Seed, Seed+1, …
func TestFitAverage(t *testing.T) {
	m, h := toyHead(t, 10, "a", "b", "c")
	docs := []Doc{
		{IDs: []uint32{1, 2}, Label: 0}, {IDs: []uint32{2, 3}, Label: 1},
		{IDs: []uint32{3, 4}, Label: 2}, {IDs: []uint32{1, 4}, Label: 0},
	}
	o := DefaultOptions()
	o.Seed = 5
	var want [5][3]float32
	var wantBias [3]float32
	for s := range 3 {
		one := o
		one.Seed = 5 + uint64(s)
		Fit(m, h, docs, one)
		for f := range 5 {
			for j, x := range m.Weights(h, uint32(f)) {
				want[f][j] += x / 3
			}
		}
		for j, b := range h.Bias {
			wantBias[j] += b / 3
		}
	}
	// The seeds do change the fit, or the test would prove nothing.
	first := o
	Fit(m, h, docs, first)
	w5 := append([]float32(nil), m.Weights(h, 1)...)
	if math.Abs(float64(w5[0]-want[1][0])) < 1e-6 {
		t.Fatalf("seed 5 alone already gives the mean %v: pick documents that seeds order differently", w5)
	}
	o.Average = 3
	Fit(m, h, docs, o)
	for f := range 5 {
		for j, x := range m.Weights(h, uint32(f)) {
			if math.Abs(float64(x-want[f][j])) > 1e-5 {
				t.Errorf("bucket %d label %d: averaged weight %v, want the mean %v", f, j, x, want[f][j])
			}
		}
	}
	for j, b := range h.Bias {
		if math.Abs(float64(b-wantBias[j])) > 1e-5 {
			t.Errorf("bias %d: %v, want %v", j, b, wantBias[j])
		}
	}
}

// toyHead returns a model of 2^bits buckets with one head, "h", of labels.
func toyHead(t *testing.T, bits uint8, labels ...string) (*triage.Model, *triage.Head) {
	t.Helper()
	m, err := triage.NewModel("toy", bits, []triage.Head{{Name: "h", Labels: labels}})
	if err != nil {
		t.Fatal(err)
	}
	return m, m.Head("h")
}

// In the lead table the head's flag counts for the engine on a short text
// (lead_min_words) only at lead_short_threshold, and on a text naming no
// official or public body not at all; rules and the discipline class count
// on any.
func TestThresholdTableMinWords(t *testing.T) {
	probs := [][]float64{{0.5, 0.5}, {0.5, 0.5}, {0.99, 0.01}}
	labels := []int{1, 0, 1}
	also := []bool{false, false, true}
	words := []int{50, 10, 5}
	actor := []bool{true, true, true}
	row := func(cfg triage.Config) []string {
		tab := thresholdTable(probs, labels, 1, also, words, actor, cfg)
		for _, l := range strings.Split(tab, "\n") {
			if strings.HasPrefix(l, "0.10 ") {
				return strings.Fields(l)
			}
		}
		t.Fatalf("no row at 0.10:\n%s", tab)
		return nil
	}
	// head: a and b flagged (1 of 2 right, 1 of 2 leads); engine: a and c,
	// b being short and under 0.6.
	if got := row(triage.Config{LeadMinWords: 40, LeadShortThreshold: 0.6}); len(got) != 7 || got[1] != "0.500" || got[2] != "0.500" || got[3] != "2" ||
		got[4] != "1.000" || got[5] != "1.000" || got[6] != "2" {
		t.Errorf("row at 0.10 with short threshold 0.6: %q", got)
	}
	// At 0.5, b reaches the short threshold: the engine flags all three.
	if got := row(triage.Config{LeadMinWords: 40, LeadShortThreshold: 0.5}); len(got) != 7 || got[4] != "0.667" || got[5] != "1.000" || got[6] != "3" {
		t.Errorf("row at 0.10 with short threshold 0.5: %q", got)
	}
	// a names no official or public body: the head's flag does not count
	// for the engine (c's rule still does), unless the guard is off.
	actor[0] = false
	if got := row(triage.Config{LeadMinWords: 40, LeadShortThreshold: 0.5}); len(got) != 7 || got[4] != "0.500" || got[5] != "0.500" || got[6] != "2" {
		t.Errorf("row at 0.10, a naming nobody: %q", got)
	}
	if got := row(triage.Config{LeadMinWords: 40, LeadShortThreshold: 0.5, LeadWithoutActor: true}); len(got) != 7 || got[6] != "3" {
		t.Errorf("row at 0.10, a naming nobody, guard off: %q", got)
	}
}

// crossValidateWith trains on an extra doc only in the folds that train on
// the doc it was made from, and predicts each extra doc once, held out.
func TestCrossValidateWith(t *testing.T) {
	m, h := toyHead(t, 10, "a", "b")
	var ds, extra []Doc
	var of []int
	for i := range 10 {
		ds = append(ds, Doc{IDs: []uint32{uint32(i)}, Label: i % 2})
		if i%3 != 0 { // some docs have an extra, one has two
			extra = append(extra, Doc{IDs: []uint32{uint32(100 + i)}, Label: i % 2})
			of = append(of, i)
		}
	}
	extra = append(extra, Doc{IDs: []uint32{200}, Label: 1})
	of = append(of, 4)
	held := make([]int, len(extra))
	fold := 0
	_, probs := crossValidateWith(m, h, ds, extra, of, 5, func(tr []Doc) {
		seen := map[uint32]bool{}
		for _, d := range tr {
			seen[d.IDs[0]] = true
		}
		for i := range ds {
			if seen[uint32(i)] == (i%5 == fold) {
				t.Errorf("fold %d: doc %d trained on: %v", fold, i, seen[uint32(i)])
			}
		}
		for j, d := range extra {
			if seen[d.IDs[0]] == (of[j]%5 == fold) {
				t.Errorf("fold %d: extra %d (of doc %d) trained on: %v", fold, j, of[j], seen[d.IDs[0]])
			}
		}
		fold++
	}, func(j int, p []float64) { held[j]++ })
	if fold != 5 {
		t.Fatalf("%d fits, want 5", fold)
	}
	for j, n := range held {
		if n != 1 {
			t.Errorf("extra %d predicted %d times held out", j, n)
		}
	}
	for i, p := range probs {
		if len(p) != 2 {
			t.Errorf("doc %d: no held-out prediction", i)
		}
	}
}

// TestTrainRefusesUnknownClass: a four-way record of a class the head does
// not have stops training, naming it, rather than being skipped, which
// would shift every later record against its held-out prediction.
func TestTrainRefusesUnknownClass(t *testing.T) {
	cfg := DefaultConfig("", "")
	cfg.Bits = 10
	d := &Data{FourWay: []Record{{Source: "own", ID: "x1", Title: "路灯", Body: "坏了", Label: "petiton"}}}
	if _, _, err := Train(cfg, d); err == nil || !strings.Contains(err.Error(), `own x1: class "petiton" is not one of`) {
		t.Errorf("Train: %v", err)
	}
}

// TestTrainLearnsFromExtra: items a bureau's people labelled (Data.Extra,
// from train --extra-labels) reach every head they carry a label for: a
// pattern only they show moves the class, the lead and the department of
// a new item that has it, which a model trained without them does not do.
func TestTrainLearnsFromExtra(t *testing.T) {
	own, err := ReadExamples(filepath.Join("..", "labels", "examples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var extra []Record
	for i, body := range []string{
		"ZQX平台收了押金一直不退，找了三次没人管，负责的干部还收了好处费。",
		"ZQX平台的押金问题拖了一年，请领导出面解决，经办人员吃拿卡要。",
		"我们二十户在ZQX平台的押金至今没有退还，相关工作人员收受红包。",
		"ZQX平台欠我们押金，多次反映无果，主管干部与平台老板关系密切。",
		"再次反映ZQX平台押金不退，经办人收钱办事，请求处理。",
		"ZQX平台押金的事情上访多次，工作人员索要好处，至今未解决。",
	} {
		extra = append(extra, Record{Source: "reviews.jsonl", ID: fmt.Sprint("r", i), Title: "ZQX平台押金", Body: body,
			Label: string(minsheng.ClassPetition), Lead: true, Department: "教育文体"})
	}
	// The same pattern labelled without a lead label must not train the
	// lead head to say no.
	extra = append(extra, Record{Source: "reviews.jsonl", ID: "r-nolead", Title: "ZQX平台押金", Body: "ZQX平台押金不退，请求处理。",
		Label: string(minsheng.ClassPetition), NoLead: true, Department: "教育文体"})

	train := func(extra []Record) *triage.Engine {
		t.Helper()
		cfg := DefaultConfig("", "")
		cfg.Bits = 12
		cfg.Class.Average, cfg.Department.Average = 1, 1
		m, _, err := Train(cfg, &Data{FourWay: own, Extra: extra})
		if err != nil {
			t.Fatal(err)
		}
		// The probe names no official: what is tested is the lead head's
		// learning, not the engine's guard on it (lead_actors).
		ecfg := triage.DefaultConfig()
		ecfg.LeadWithoutActor = true
		e, err := triage.NewWithModel(ecfg, m)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	const title, body = "ZQX平台", "ZQX平台押金还是不退。"
	before, after := train(nil).DecideText(title, body), train(extra).DecideText(title, body)
	if after.Class != minsheng.ClassPetition || !after.Flags.DisciplineLead || after.Department != "教育文体" {
		t.Errorf("with the extra items: class %s, lead %v, department %q; want petition, a lead, 教育文体", after.Class, after.Flags.DisciplineLead, after.Department)
	}
	if before.Class == minsheng.ClassPetition && before.Flags.DisciplineLead && before.Department == "教育文体" {
		t.Errorf("without them the model says the same (%s, lead, %s): the test shows nothing", before.Class, before.Department)
	}
}

// TestLeadLabel: the lead head's label for each kind of record; a record
// with no lead label is left out unless its class settles it.
func TestLeadLabel(t *testing.T) {
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Label: "gov_service"}, "no"},
		{Record{Label: "gov_service", Lead: true}, "yes"},
		{Record{Label: "discipline"}, "yes"},
		{Record{Label: "invalid"}, "no"},
		{Record{Label: "gov_service", NoLead: true}, ""},
		{Record{Label: "petition", NoLead: true}, ""},
		{Record{Label: "discipline", NoLead: true}, "yes"},
		{Record{Label: "invalid", NoLead: true}, "no"},
	} {
		if got := leadLabel(tc.r); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.r, got, tc.want)
		}
	}
}

// ReadSectors resolves labels/department.tsv against the shared files, and
// refuses with the line's number what it cannot use; no file is no rows.
func TestReadSectors(t *testing.T) {
	shared := t.TempDir()
	csvDir := filepath.Join(shared, "tipdm2020c", "csv")
	if err := os.MkdirAll(csvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(csvDir, "附件3_全部_4326.csv"), []byte("留言编号,留言主题,留言详情\n11,路灯不亮,小区门口路灯坏了。\n12,学校收费,小学乱收资料费。\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, tsv string
		want      []string // id:sector
		err       string
	}{
		{"no file", "", nil, ""},
		{"header and rows", "file\tid\tsector\n附件3_全部_4326.csv\t11\t城乡建设\n附件3_全部_4326.csv\t12\t教育文体\r\n", []string{"11:城乡建设", "12:教育文体"}, ""},
		{"unknown sector", "附件3_全部_4326.csv\t11\t城建\n", nil, ":1: sector \"城建\""},
		{"reserved file", "file\tid\tsector\n附件4_全部_2816.csv\t11\t城乡建设\n", nil, ":2: 附件4_全部_2816.csv is reserved"},
		{"no such message", "附件3_全部_4326.csv\t99\t城乡建设\n", nil, ":1: 附件3_全部_4326.csv has no message 99"},
		{"twice", "附件3_全部_4326.csv\t11\t城乡建设\n附件3_全部_4326.csv\t11\t交通运输\n", nil, ":2: 附件3_全部_4326.csv 11 is labelled twice"},
		{"too few fields", "附件3_全部_4326.csv\t11\n", nil, ":1: want file, id, sector"},
	} {
		t.Run(c.name, func(t *testing.T) {
			labels := t.TempDir()
			if c.tsv != "" {
				if err := os.WriteFile(filepath.Join(labels, "department.tsv"), []byte(c.tsv), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := ReadSectors(shared, labels)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one holding %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.ID+":"+r.Label)
				if r.Title == "" || r.Body == "" {
					t.Errorf("%s: no text", r.ID)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestBlindReads keeps labels/blind-reads.tsv what its README says: a
// re-read of 420 rows of fourway.tsv, none of them in second-opinion.tsv,
// each once, with a valid class and a discipline class always a lead,
// agreeing with the label as often as the README says.
func TestBlindReads(t *testing.T) {
	read := func(name string) []LabelRef {
		refs, err := ReadLabelRefs(filepath.Join("../labels", name))
		if err != nil {
			t.Fatal(err)
		}
		return refs
	}
	key := func(r LabelRef) string { return r.File + "|" + r.ID }
	first, second := map[string]LabelRef{}, map[string]bool{}
	for _, r := range read("fourway.tsv") {
		first[key(r)] = r
	}
	for _, r := range read("second-opinion.tsv") {
		second[key(r)] = true
	}
	blind := read("blind-reads.tsv")
	if len(blind) != 420 {
		t.Errorf("%d rows, want 420", len(blind))
	}
	seen, agree := map[string]bool{}, 0
	for _, r := range blind {
		k := key(r)
		a, ok := first[k]
		switch {
		case !ok:
			t.Errorf("%s is not in fourway.tsv", k)
		case second[k]:
			t.Errorf("%s is in second-opinion.tsv too", k)
		case seen[k]:
			t.Errorf("%s twice", k)
		case index(Classes(), r.Class) < 0:
			t.Errorf("%s: class %q", k, r.Class)
		case r.Class == "discipline" && !r.Lead:
			t.Errorf("%s: discipline without a lead", k)
		}
		seen[k] = true
		if ok && a.Class == r.Class {
			agree++
		}
	}
	if agree != 247 { // labels/README.md, "Blind re-reads"
		t.Errorf("the re-read agrees with fourway.tsv's class on %d of %d rows; the README says 247", agree, len(blind))
	}
}

// shiftWeights gives the letters that read like the pool more weight than
// those that do not, and the weights average 1.
func TestShiftWeights(t *testing.T) {
	var letters []Doc
	var pool [][]uint32
	for i := range 40 {
		if i%2 == 0 {
			letters = append(letters, Doc{IDs: []uint32{1, 2, uint32(100 + i)}}) // like the pool
		} else {
			letters = append(letters, Doc{IDs: []uint32{7, 8, uint32(100 + i)}})
		}
	}
	for i := range 80 {
		pool = append(pool, []uint32{1, 2, uint32(300 + i)})
	}
	w := shiftWeights(12, letters, pool, 1)
	var like, unlike, sum float64
	for i, x := range w {
		sum += float64(x)
		if i%2 == 0 {
			like += float64(x)
		} else {
			unlike += float64(x)
		}
	}
	if like <= 2*unlike {
		t.Errorf("letters like the pool weigh %.2f in all, the others %.2f: want more than twice", like, unlike)
	}
	if math.Abs(sum/float64(len(w))-1) > 1e-3 {
		t.Errorf("mean weight %.4f, want 1", sum/float64(len(w)))
	}
}
