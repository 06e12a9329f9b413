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

// ModelDepartments are the department labels of e's model, in its order.
// They are Departments for the built-in model, but a city may retrain on
// its own departments, and is then scored against them.
func ModelDepartments(e *triage.Engine) []string {
	return e.Model().Head(triage.HeadDepartment).Labels
}

// EvalDepartment measures department routing of e on a labelled 泰迪杯 file
// (the 921 held-out rows), against the model's own department labels
// (ModelDepartments): a row whose label the model does not know is an
// error naming the row. Rows that are also in train (the training file,
// 附件2_示例数据_495), by id or by normalised title and body (NotIn),
// are left out; left is how many.
func EvalDepartment(e *triage.Engine, path string, train []Record) (rep *Report, left int, err error) {
	recs, err := ReadTipdmCSV(path, "")
	if err != nil {
		return nil, 0, err
	}
	recs, left = NotIn(recs, train)
	rep = NewReport(ModelDepartments(e))
	for _, r := range recs {
		if err := rep.AddLabel(r.Label, e.DecideText(r.Title, r.Body).Department); err != nil {
			return nil, 0, fmt.Errorf("%s: message %s: %w", filepath.Base(path), r.ID, err)
		}
	}
	return rep, left, nil
}

// NotIn returns the records of recs that are not in train, and how many it
// left out: a record is in train when a train record has its id or its
// title and body (textKey). Empty ids and texts match nothing.
func NotIn(recs, train []Record) (kept []Record, left int) {
	ids, texts := map[string]bool{}, map[string]bool{}
	for _, r := range train {
		ids[r.ID], texts[textKey(r.Title, r.Body)] = true, true
	}
	ids[""], texts[textKey("", "")] = false, false
	for _, r := range recs {
		if ids[r.ID] || texts[textKey(r.Title, r.Body)] {
			left++
			continue
		}
		kept = append(kept, r)
	}
	return kept, left
}

// textKey is a message's title and body as compared across files:
// normalised (triage.Normalize) and without white space, which the files
// lay out differently.
func textKey(title, body string) string {
	squeeze := func(s string) string { return strings.Join(strings.Fields(triage.Normalize(s)), "") }
	return squeeze(title) + "\x00" + squeeze(body)
}
