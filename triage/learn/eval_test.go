package learn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	minsheng "github.com/minsheng/minsheng"

	"github.com/minsheng/minsheng/triage"
)

// TestEvalShared measures the built-in model on the shared data when it is
// present: the spam screen on trec06c's test folders (target ≥ 0.97
// accuracy) and department routing on the 921 held-out rows less the 45 also
// in the training file (reported; the figure goes in the model card).
func TestEvalShared(t *testing.T) {
	shared := sharedDir(t)
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	spam, err := EvalSpam(e, filepath.Join(shared, DirTrec))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spam screen on %d test mails: accuracy %.3f", spam.N, spam.Accuracy())
	if spam.N != 392 || spam.Accuracy() < 0.97 {
		t.Errorf("spam screen accuracy %.3f on %d mails, want ≥ 0.97 on 392", spam.Accuracy(), spam.N)
	}
	train, err := ReadTipdmCSV(filepath.Join(shared, FileDeptTrain), "")
	if err != nil {
		t.Fatal(err)
	}
	dept, left, err := EvalDepartment(e, filepath.Join(shared, FileDeptTest), train)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("department routing on %d held-out rows not in the training file (%d left out): macro-F1 %.3f accuracy %.3f", dept.N, left, dept.MacroF1(), dept.Accuracy())
	if left != 45 || dept.N != 876 || dept.MacroF1() < 0.70 {
		t.Errorf("department macro-F1 %.3f on %d rows fell below the 0.70 it had when the model was committed", dept.MacroF1(), dept.N)
	}
}

// TestRealDemandsNotRejected: the 4,326 messages of 附件3 are real citizens'
// demands (our labeller found no invalid one among those read); the engine
// must reject almost none of them.
func TestRealDemandsNotRejected(t *testing.T) {
	shared := sharedDir(t)
	e, err := triage.New(triage.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadTipdmCSV(filepath.Join(shared, FileUnlabelled), "")
	if err != nil {
		t.Fatal(err)
	}
	rejected, review := 0, 0
	for _, r := range recs {
		d := e.DecideText(r.Title, r.Body)
		if d.Class == minsheng.ClassInvalid {
			rejected++
		}
		if d.Review {
			review++
		}
	}
	t.Logf("%d real messages: %d rejected, %d to review", len(recs), rejected, review)
	if rejected > len(recs)/200 {
		t.Errorf("%d of %d real demands rejected as invalid, want at most 0.5%%", rejected, len(recs))
	}
}

// otherDepartments returns an engine on an untrained model whose
// department head has labels of its own, as a city's retrained model would.
func otherDepartments(t *testing.T, labels ...string) *triage.Engine {
	t.Helper()
	m, err := NewModel("other-departments", 10)
	if err == nil {
		m.Head(triage.HeadDepartment).Labels = labels
		var e *triage.Engine
		if e, err = triage.NewWithModel(triage.DefaultConfig(), m); err == nil {
			return e
		}
	}
	t.Fatal(err)
	return nil
}

// TestEvalDepartmentModelLabels: a model with departments of its own is
// scored against them, and a gold department it does not know is an error
// naming the message, not a panic.
func TestEvalDepartmentModelLabels(t *testing.T) {
	e := otherDepartments(t, "片区甲", "片区乙", "片区丙", "片区丁", "片区戊", "片区己", "片区庚")
	dir := t.TempDir()
	all, err := os.ReadFile("testdata/dept_other.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(all), "\n")
	known := filepath.Join(dir, "known.csv")
	os.WriteFile(known, []byte(strings.Join(lines[:3], "")), 0o644)
	for _, tc := range []struct {
		path    string
		n       int
		wantErr string
	}{
		{known, 2, ""},
		{"testdata/dept_other.csv", 0, `dept_other.csv: message 3: gold label "城乡建设" is not one of 片区甲, 片区乙`},
	} {
		rep, _, err := EvalDepartment(e, tc.path, nil)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.path, err, tc.wantErr)
		case tc.wantErr == "" && (rep.N != tc.n || rep.Labels[0] != "片区甲"):
			t.Errorf("%s: n=%d labels %v, want n=%d over the model's labels", tc.path, rep.N, rep.Labels, tc.n)
		}
	}
}

// TestNotIn: a held-out row is left out when the training file has its id,
// or its title and body up to normalisation and white space.
func TestNotIn(t *testing.T) {
	train := []Record{
		{ID: "1", Title: "路灯不亮", Body: "小区门口路灯坏了"},
		{ID: "2", Title: "学校 收费", Body: "乱收\n资料费"},
		{ID: "", Title: "", Body: ""},
	}
	for _, tc := range []struct {
		name string
		rec  Record
		left int // 1: left out
	}{
		{"same id", Record{ID: "1", Title: "别的", Body: "别的"}, 1},
		{"same text, other id", Record{ID: "9", Title: "路灯不亮", Body: "小区门口路灯坏了"}, 1},
		{"text laid out otherwise", Record{ID: "9", Title: " 学校收费", Body: "乱收 资料费\t"}, 1},
		{"traditional characters", Record{ID: "9", Title: "路燈不亮", Body: "小區門口路燈壞了"}, 1},
		{"title alone the same", Record{ID: "9", Title: "路灯不亮", Body: "另一条街"}, 0},
		{"empty id and text", Record{ID: "", Title: "", Body: ""}, 0},
		{"other", Record{ID: "3", Title: "噪音", Body: "夜间施工"}, 0},
	} {
		kept, left := NotIn([]Record{tc.rec}, train)
		if left != tc.left || len(kept)+left != 1 {
			t.Errorf("%s: kept %d, left out %d; want left out %d", tc.name, len(kept), left, tc.left)
		}
	}
}
