package learn

import (
	"path/filepath"
	"testing"

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
