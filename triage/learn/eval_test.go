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
// accuracy) and department routing on the 921 held-out rows (reported; the
// figure goes in the model card).
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
	dept, err := EvalDepartment(e, filepath.Join(shared, FileDeptTest))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("department routing on %d held-out rows: macro-F1 %.3f accuracy %.3f", dept.N, dept.MacroF1(), dept.Accuracy())
	if dept.N != 921 || dept.MacroF1() < 0.70 {
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
		rep, err := EvalDepartment(e, tc.path)
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
