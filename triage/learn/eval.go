package learn

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/minsheng/minsheng/triage"
)

// EvalSpam measures the spam screen of e on trec06c's test_ham and
// test_spam folders under dir: a mail is spam when its spam probability is
// at or above the engine's threshold.
func EvalSpam(e *triage.Engine, dir string) (*Report, error) {
	recs, err := ReadTrec(dir)
	if err != nil {
		return nil, err
	}
	rep := NewReport([]string{"ham", "spam"})
	for _, r := range recs {
		if !strings.HasPrefix(r.ID, "test_") {
			continue
		}
		pred := 0
		if e.SpamProbability(r.Title, r.Body) >= e.SpamThreshold() {
			pred = 1
		}
		rep.Add(index(rep.Labels, r.Label), pred)
	}
	return rep, nil
}

// EvalDepartment measures department routing of e on a labelled 泰迪杯 file
// (the 921 held-out rows).
func EvalDepartment(e *triage.Engine, path string) (*Report, error) {
	recs, err := ReadTipdmCSV(path, "")
	if err != nil {
		return nil, err
	}
	rep := NewReport(Departments)
	for _, r := range recs {
		g := index(Departments, r.Label)
		if g < 0 {
			return nil, fmt.Errorf("%s: message %s has unknown label %q", filepath.Base(path), r.ID, r.Label)
		}
		rep.Add(g, index(Departments, e.DecideText(r.Title, r.Body).Department))
	}
	return rep, nil
}
