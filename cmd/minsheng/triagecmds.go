package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/internal/jsonkeys"
	"github.com/minsheng/minsheng/internal/textenc"
	"github.com/minsheng/minsheng/triage"
	"github.com/minsheng/minsheng/triage/learn"
)

func init() {
	register(&command{name: "train", summary: "train the triage model from triage/labels and ../shared/data", run: runTrain})
	register(&command{name: "eval", summary: "print precision, recall, F1 and the confusion matrix of the triage model", run: runEval})
	register(&command{name: "classify", summary: "classify JSON lines from stdin (id, title, body) to stdout", run: runClassify})
	register(&command{name: "triage-bench", summary: "print the triage model's items/s on one core over real texts", run: runTriageBench})
}

// engine loads the triage engine for command cmd, printing a failure.
func engine(cmd, model string) (*triage.Engine, bool) {
	cfg := triage.DefaultConfig() // as the gateway's embedded default decides
	cfg.Model = model
	e, err := triage.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd, err)
		return nil, false
	}
	return e, true
}

// defaultShared is where ../shared/data sits relative to a checkout.
const defaultShared = "../shared/data"

// sharedThere reports whether the shared data folder dir exists, and
// otherwise tells the user how to name it: the default is relative to
// the working directory, which a clone elsewhere does not have beside it.
func sharedThere(cmd, dir string) bool {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return true
	}
	abs, _ := filepath.Abs(dir)
	fmt.Fprintf(os.Stderr, "%s: no shared data folder at %s (%s): give its path with --shared DIR (the folder that holds tipdm2020c and trec06c-ccert-subset)\n", cmd, dir, abs)
	return false
}

func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return exitConfig
	}
	return -1
}

func runTrain(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	shared := fs.String("shared", defaultShared, "the shared data folder (tipdm2020c, trec06c-ccert-subset)")
	labels := fs.String("labels", "triage/labels", "folder with fourway.tsv and examples.jsonl")
	out := fs.String("out", "triage/model/default.mstm", "model file to write")
	report := fs.String("report", "triage/model/metrics.md", "cross-validation report to write (markdown); empty: none")
	version := fs.String("version", "", "model version (default ngram-lr-YYYYMMDD)")
	bits := fs.Uint("bits", 18, fmt.Sprintf("feature hash bits: 2^bits buckets (%d..%d)", minBits, maxBits))
	leadDump := fs.String("lead-dump", "", "write each lead doc's held-out lead probability, class and rule hit to this TSV (to read the leads the engine misses)")
	titleWeight := fs.Float64("title-weight", learn.DefaultConfig("", "").TitleWeight, "weight of the letters' titles, sent alone, in the class head's training (0: none)")
	var extra []string
	fs.Func("extra-labels", "labelled items to train on besides --labels, as eval --file reads them: the output of minsheng reviews, or a CSV, TSV or JSON-lines file of your own (repeatable)", func(v string) error {
		extra = append(extra, v)
		return nil
	})
	extraWeight := fs.Float64("extra-weight", 1, "weight of each --extra-labels item")
	titleRepeat := fs.Int("title-repeat", 0, "how many times a title's features count (0: the model's default)")
	sectorWeight := fs.Float64("sector-weight", learn.DefaultConfig("", "").SectorWeight, "weight of the 附件3 letters labelled with a sector in labels/department.tsv, in the department head's training (0: none)")
	domainShift := fs.Float64("domain-shift", learn.DefaultConfig("", "").DomainShift, "weight the 495's letters in the department head's training for covariate shift towards 附件3's texts, at this power (0: none)")
	grams := fs.String("grams", "", "extra kinds of features, an experiment: tri (runs of three Chinese characters), skip (a character with the one two before), or tri,skip; they take the upper half of the buckets, so --bits 19 keeps the others' 2^18")
	gramWeight := fs.Float64("gram-weight", 1, "weight of the --grams features against the others' 1")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	gramKinds, ok := parseGrams(*grams)
	if !ok || !(*gramWeight > 0) {
		fmt.Fprintf(os.Stderr, "train: --grams %q --gram-weight %g: want tri, skip or tri,skip, and a weight above 0\n", *grams, *gramWeight)
		return exitConfig
	}
	if *bits < minBits || *bits > maxBits {
		fmt.Fprintf(os.Stderr, "train: --bits %d outside %d..%d\n", *bits, minBits, maxBits)
		return exitConfig
	}
	if *titleRepeat < 0 || *titleRepeat > triage.MaxTitleRepeat {
		fmt.Fprintf(os.Stderr, "train: --title-repeat %d outside 0..%d\n", *titleRepeat, triage.MaxTitleRepeat)
		return exitConfig
	}
	if !sharedThere("train", *shared) {
		return exitConfig
	}
	if !(*sectorWeight >= 0) {
		fmt.Fprintf(os.Stderr, "train: --sector-weight %g: want 0 or more\n", *sectorWeight)
		return exitConfig
	}
	if !(*domainShift >= 0) {
		fmt.Fprintf(os.Stderr, "train: --domain-shift %g: want 0 or more\n", *domainShift)
		return exitConfig
	}
	if *extraWeight <= 0 {
		fmt.Fprintf(os.Stderr, "train: --extra-weight %g: want a weight above 0 (leave --extra-labels out to train without them)\n", *extraWeight)
		return exitConfig
	}
	cfg := learn.DefaultConfig(*shared, *labels)
	cfg.TitleWeight = *titleWeight
	cfg.TitleRepeat = *titleRepeat
	cfg.SectorWeight = *sectorWeight
	cfg.DomainShift = *domainShift
	cfg.Grams, cfg.GramWeight = gramKinds, *gramWeight
	cfg.Log = os.Stderr
	cfg.Bits = uint8(*bits)
	if *version != "" {
		cfg.Version = *version
	}
	if *leadDump != "" {
		f, err := os.Create(*leadDump)
		if err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			return exitFail
		}
		defer f.Close()
		cfg.LeadDump = f
	}
	start := time.Now()
	cfg.ExtraWeight = *extraWeight
	d, err := learn.Load(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return exitFail
	}
	if d.Extra, err = readExtra(os.Stderr, extra); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return exitFail
	}
	m, results, err := learn.Train(cfg, d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return exitFail
	}
	if err := writeModel(*out, m); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		return exitFail
	}
	if *report != "" {
		var b strings.Builder
		fmt.Fprintf(&b, "# Triage model %s: cross-validated metrics\n\nWritten by `minsheng train`; see MODEL_CARD.md.\n\n", m.Version)
		for _, r := range results {
			fmt.Fprintf(&b, "## %s — %s\n\n```\n", r.Head, r.Method)
			r.Report.Print(&b)
			if r.Extra != "" {
				b.WriteString("\n" + r.Extra)
			}
			b.WriteString("```\n\n")
		}
		if err := os.WriteFile(*report, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			return exitFail
		}
	}
	fmt.Fprintf(os.Stderr, "train: wrote %s (%s) in %s\n", *out, m.Version, time.Since(start).Round(time.Millisecond))
	return exitOK
}

// parseGrams reads train's --grams: "" for none, else tri and skip
// separated by commas.
func parseGrams(v string) (uint8, bool) {
	var g uint8
	if v == "" {
		return 0, true
	}
	for _, k := range strings.Split(v, ",") {
		switch strings.TrimSpace(k) {
		case "tri":
			g |= triage.GramTrigrams
		case "skip":
			g |= triage.GramSkip
		default:
			return 0, false
		}
	}
	return g, true
}

// readExtra reads train's --extra-labels files into training records.
// Every item needs a class (an item without one is an error naming it); a
// missing discipline_lead is no lead label (NoLead), which is how minsheng
// reviews writes an item whose reviewer raised no lead, since the review
// desk is not told of triage's leads and cannot clear one; a department
// that is not one of the model's sectors (a city's own department in
// routes.departments) does not train the department head. An item whose
// id came earlier, in this file or an earlier one, is left out, so two
// exports of one ledger count each item once; but a lead label or a
// department it carries and the first did not is kept (a review desk's
// export, GET /v1/reviews, carries no leads; minsheng reviews does). What
// was read and left out is written to log.
func readExtra(log io.Writer, paths []string) ([]learn.Record, error) {
	var out []learn.Record
	seen := map[string]int{} // id → index in out
	for _, path := range paths {
		items, err := readLabelled(path)
		if err != nil {
			return nil, err
		}
		var again, otherDept int
		for _, l := range items {
			id := learn.IDOf(l.ID)
			c, ok := learn.ClassOf(l.Class)
			if !ok {
				return nil, fmt.Errorf("%s: %s (id %s): class %q: want one of %s, or its Chinese name", path, l.At, id, l.Class, strings.Join(learn.Classes(), ", "))
			}
			lead, err := learn.LeadOf(l.DisciplineLead)
			if err != nil {
				return nil, fmt.Errorf("%s: %s (id %s): %w", path, l.At, id, err)
			}
			dep := strings.TrimSpace(l.Department)
			if indexOf(learn.Departments, dep) < 0 {
				dep = ""
			}
			if j, ok := seen[id]; ok && id != "" {
				if out[j].NoLead && lead != nil {
					out[j].Lead, out[j].NoLead = *lead, false
				}
				if out[j].Department == "" {
					out[j].Department = dep
				}
				again++
				continue
			}
			seen[id] = len(out)
			r := learn.Record{Source: filepath.Base(path), ID: id, Title: l.Title, Body: l.Body, Label: string(c), NoLead: lead == nil}
			if lead != nil {
				r.Lead = *lead
			}
			r.Department = dep
			if dep == "" && strings.TrimSpace(l.Department) != "" {
				otherDept++
			}
			out = append(out, r)
		}
		fmt.Fprintf(log, "train: %s: %d items", path, len(items)-again)
		if again > 0 {
			fmt.Fprintf(log, "; %d left out, their id came before", again)
		}
		if otherDept > 0 {
			fmt.Fprintf(log, "; %d departments are not among the model's sectors (%s) and do not train its department head", otherDept, strings.Join(learn.Departments, ", "))
		}
		fmt.Fprintln(log)
	}
	return out, nil
}

// minBits and maxBits bound train --bits, as triage.NewModel does.
const minBits, maxBits = 10, 24

func writeModel(path string, m *triage.Model) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := m.Write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// labelled is one item of a labelled file for eval. The id may be a
// string or a number; the class and the lead are read leniently
// (learn.ClassOf, learn.LeadOf), so a file labelled elsewhere, with 舆论监督
// or "discipline_lead": 1, needs no conversion.
type labelled struct {
	At             string // where in its file: "line 4", "row 2"
	ID             json.RawMessage
	Title          string
	Body           string
	Class          string
	DisciplineLead json.RawMessage
	Department     string
}

func runEval(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	task := fs.String("task", "", "department (附件2's 921 held-out rows, less those also in the training files 附件2_示例数据_495 or 附件3), spam (trec06c test_ham + test_spam), fourway (needs --file)")
	shared := fs.String("shared", defaultShared, "the shared data folder")
	file := fs.String("file", "", "a labelled file to evaluate on: JSON lines, or a .csv or .tsv with a header (id, title, body, class, discipline_lead, department, or the 泰迪杯 files' names)")
	model := fs.String("model", "", "model file (default: the built-in model)")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	if *file != "" && *task != "" && *task != "fourway" {
		fmt.Fprintf(os.Stderr, "eval: --task %s and --file: give one (--file scores the file's own labels)\n", *task)
		return exitConfig
	}
	if *file == "" && (*task == "department" || *task == "spam") && !sharedThere("eval", *shared) {
		return exitConfig
	}
	e, ok := engine("eval", *model)
	if !ok {
		return exitFail
	}
	w := bufio.NewWriter(os.Stdout)
	var err error
	switch {
	case *file != "":
		err = evalFile(w, e, *file)
	case *task == "department":
		// 附件3 too: its letters with a sector (labels/department.tsv)
		// train the department head, and it holds copies of some of the
		// 921's rows.
		err = evalDepartment(w, e, filepath.Join(*shared, learn.FileDeptTest), filepath.Join(*shared, learn.FileDeptTrain), filepath.Join(*shared, learn.FileUnlabelled))
	case *task == "spam":
		err = evalSpam(w, e, filepath.Join(*shared, learn.DirTrec))
	default:
		fmt.Fprintln(os.Stderr, "eval: give --task department|spam or --file F")
		return exitConfig
	}
	if err == nil {
		if err = w.Flush(); err != nil {
			err = fmt.Errorf("writing the report: %w", err)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		return exitFail
	}
	return exitOK
}

// evalDepartment scores department routing on the held-out file at path,
// leaving out its rows that are also in one of the training files at
// trainPaths.
func evalDepartment(w io.Writer, e *triage.Engine, path string, trainPaths ...string) error {
	var train []learn.Record
	names := make([]string, len(trainPaths))
	for i, p := range trainPaths {
		recs, err := learn.ReadTipdmCSV(p, "")
		if err != nil {
			return err
		}
		train, names[i] = append(train, recs...), filepath.Base(p)
	}
	rep, left, err := learn.EvalDepartment(e, path, train)
	if err != nil {
		return err
	}
	what := "the training file " + names[0]
	if len(names) > 1 {
		what = "the training files " + strings.Join(names, " and ")
	}
	fmt.Fprintf(w, "department routing on %s (model %s): left out %d of its %d rows that are also in %s (same id, or same normalised title and body); scored on the other %d\n",
		filepath.Base(path), e.ModelVersion(), left, left+rep.N, what, rep.N)
	rep.Print(w)
	printInterval(w, rep, len(rep.Labels))
	return nil
}

// printInterval says how far another sample of as many items could put
// the macro-F1 over the first over labels: a 95 % bootstrap interval.
func printInterval(w io.Writer, rep *learn.Report, over int) {
	const resamples = 1000
	lo, hi := rep.Interval(over, resamples, 1)
	fmt.Fprintf(w, "macro-F1 %.3f, 95 %% bootstrap interval %.3f–%.3f (%d resamples of the %d items)\n", rep.MacroF1Over(over), lo, hi, resamples, rep.N)
}

func evalSpam(w io.Writer, e *triage.Engine, dir string) error {
	rep, err := learn.EvalSpam(e, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "spam screen on trec06c test_ham + test_spam (model %s, spam at p ≥ %.2f)\n", e.ModelVersion(), e.SpamThreshold())
	rep.Print(w)
	return nil
}

func evalFile(w io.Writer, e *triage.Engine, path string) error {
	items, err := readLabelled(path)
	if err != nil {
		return err
	}
	classes := learn.Classes()
	rep := learn.NewReport(classes)
	depts := learn.ModelDepartments(e)
	dept := learn.NewReport(depts)
	lead := learn.NewReport([]string{"no", "yes"})
	var rv reviewCount
	// An id given again is scored once, at its first line, as train
	// --extra-labels takes it: two exports of one ledger overlap.
	seen, repeats, noClass := map[string]bool{}, 0, 0
	for _, l := range items {
		item := fmt.Sprintf("%s: %s (id %s)", path, l.At, learn.IDOf(l.ID))
		if id := learn.IDOf(l.ID); id != "" {
			if seen[id] {
				repeats++
				continue
			}
			seen[id] = true
		}
		gold := -1
		if c, ok := learn.ClassOf(l.Class); ok {
			gold = indexOf(classes, string(c))
		} else if strings.TrimSpace(l.Class) != "" {
			return fmt.Errorf("%s: unknown class %q (want one of %s, or its Chinese name)", item, l.Class, strings.Join(classes, ", "))
		}
		gl, err := learn.LeadOf(l.DisciplineLead)
		if err != nil {
			return fmt.Errorf("%s: %w", item, err)
		}
		gd := indexOf(depts, strings.TrimSpace(l.Department))
		if gd < 0 && strings.TrimSpace(l.Department) != "" {
			return fmt.Errorf("%s: unknown department %q (the model %s knows %s)", item, l.Department, e.ModelVersion(), strings.Join(depts, ", "))
		}
		d := e.DecideText(l.Title, l.Body)
		if gold >= 0 {
			rep.Add(gold, indexOf(classes, string(d.Class)))
			rv.add(d.Review, classes[gold] == string(d.Class))
		} else {
			noClass++
		}
		if gl != nil {
			lead.Add(b2i(*gl), b2i(d.Flags.DisciplineLead))
		}
		if gd >= 0 {
			if err := dept.AddLabel(depts[gd], d.Department); err != nil {
				return fmt.Errorf("%s: department: %w", item, err)
			}
		}
	}
	if len(items) == 0 {
		return fmt.Errorf("%s: no items", path)
	}
	if rep.N+lead.N+dept.N == 0 {
		return fmt.Errorf("%s: none of its %d items carries a class, discipline_lead or department label (names read: %s)", path, len(items), labelNames())
	}
	fmt.Fprintf(w, "model %s on %s (%d items)\n", e.ModelVersion(), path, len(items))
	if repeats > 0 {
		fmt.Fprintf(w, "%d items repeat an earlier item's id and were not scored again\n", repeats)
	}
	if noClass > 0 {
		// Said, not an error: a file may label some items' leads or
		// departments only; but a blank class may also be a broken file.
		fmt.Fprintf(w, "%d items carry no class label (blank or missing) and are not scored for class\n", noClass)
	}
	if rep.N > 0 {
		fmt.Fprintln(w, "\nclass:")
		rep.Print(w)
		four := "n/a (no item's class is one of them)"
		for i := range 4 {
			if rep.Support(i) > 0 {
				lo, hi := rep.Interval(4, 1000, 1)
				four = fmt.Sprintf("%.3f (95 %% bootstrap interval %.3f–%.3f, 1000 resamples)", rep.MacroF1Over(4), lo, hi)
				break
			}
		}
		fmt.Fprintf(w, "four-way macro-F1 (%s): %s\n", strings.Join(classes[:4], ", "), four)
		rv.print(w)
	}
	if lead.N > 0 {
		p, rc, _ := lead.PRF(1)
		flagged := lead.Confusion[0][1] + lead.Confusion[1][1]
		fmt.Fprintf(w, "\ndiscipline lead (recall of yes %.3f, precision %.3f, %d of %d items flagged):\n", rc, p, flagged, lead.N)
		lead.Print(w)
	}
	if dept.N > 0 {
		fmt.Fprintln(w, "\ndepartment:")
		dept.Print(w)
		printInterval(w, dept, len(dept.Labels))
	}
	return nil
}

// reviewCount counts, over the items with a class label, those the engine
// sent to review and those it decided alone (passed on or rejected), and
// how many of each it got right: what review costs a bureau and what it
// catches. A wrong class decided alone reaches a desk unchecked.
type reviewCount struct{ reviewed, reviewedRight, alone, aloneRight int }

func (c *reviewCount) add(review, right bool) {
	if review {
		c.reviewed++
		c.reviewedRight += b2i(right)
	} else {
		c.alone++
		c.aloneRight += b2i(right)
	}
}

func (c reviewCount) print(w io.Writer) {
	n := c.reviewed + c.alone
	fmt.Fprintf(w, "review: %d of %d items sent to review (%.1f %%), %d of them with the right class; %d decided without review, %d of them wrong (%.1f %% of all), which reach a desk unchecked\n",
		c.reviewed, n, 100*float64(c.reviewed)/float64(n), c.reviewedRight, c.alone, c.alone-c.aloneRight, 100*float64(c.alone-c.aloneRight)/float64(n))
}

// readLabelled reads a labelled file: JSON lines, or with a .csv or .tsv
// name a table whose header names its columns (tableColumns).
func readLabelled(path string) ([]labelled, error) {
	comma := rune(0)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		comma = ','
	case ".tsv":
		comma = '\t'
	default:
		return readLabelledJSON(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows [][]string
	// Without a UTF-8 byte order mark (csv would fail on it before a quoted
	// header), and decoded from GB18030 when the file is not UTF-8, as
	// Chinese Excel saves CSV.
	br, _, err := textenc.Reader(f, true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if comma == '\t' {
		rows, err = tsvRows(br)
	} else {
		r := csv.NewReader(br)
		r.FieldsPerRecord = -1
		rows, err = r.ReadAll()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	col := map[string][]int{} // a field's columns, in the header's order
	for i, h := range rows[0] {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF")))
		for name, aliases := range tableColumns {
			if slices.Contains(aliases, h) {
				col[name] = append(col[name], i)
			}
		}
	}
	if _, ok := col["title"]; !ok {
		if _, ok := col["body"]; !ok {
			return nil, fmt.Errorf("%s: the header names no title or body column (%s)", path, strings.Join(rows[0], ", "))
		}
	}
	// get returns a field's value: its first non-empty column. Two columns
	// of one field (id and 留言编号) that differ in a row are an error.
	var conflict error
	get := func(row []string, name string) string {
		v, from := "", -1
		for _, i := range col[name] {
			switch w := row[i]; {
			case strings.TrimSpace(w) == "":
			case from < 0:
				v, from = w, i
			case strings.TrimSpace(w) != strings.TrimSpace(v) && conflict == nil:
				conflict = fmt.Errorf("%q and %q are both given, with different values: give %s once", rows[0][from], rows[0][i], name)
			}
		}
		return v
	}
	hint := ""
	if comma == '\t' {
		hint = " (a tab or a line break inside a field splits it unless the field is quoted as a CSV writer quotes it; take them out of the fields, or write a .csv)"
	}
	out := make([]labelled, 0, len(rows)-1)
	for i, row := range rows[1:] {
		// Fewer fields: its last columns, a label among them, would be read
		// as empty. More, not all empty: a field was split, and a label
		// would be read from a piece of the text.
		extra := len(row) > len(rows[0]) && slices.ContainsFunc(row[len(rows[0]):], func(f string) bool { return strings.TrimSpace(f) != "" })
		if len(row) < len(rows[0]) || extra {
			return nil, fmt.Errorf("%s: row %d after the header has %d fields, the header %d%s", path, i+1, len(row), len(rows[0]), hint)
		}
		id, _ := json.Marshal(get(row, "id"))
		lead := get(row, "discipline_lead")
		var leadRaw json.RawMessage
		if strings.TrimSpace(lead) != "" {
			leadRaw, _ = json.Marshal(lead)
		}
		out = append(out, labelled{At: fmt.Sprintf("row %d", i+1), ID: id, Title: get(row, "title"), Body: get(row, "body"), Class: get(row, "class"),
			DisciplineLead: leadRaw, Department: get(row, "department")})
		if conflict != nil {
			return nil, fmt.Errorf("%s: row %d after the header: %w", path, i+1, conflict)
		}
	}
	return out, nil
}

// readLabelledJSON reads labelled JSON lines, taking each field under any
// of its names in tableColumns, as a table's header may give them; a key's
// case does not matter, and an object that gives one field under two names
// with different values is an error (aliased).
func readLabelledJSON(path string) ([]labelled, error) {
	raws, lines, err := learn.ReadJSONLinesAt[json.RawMessage](path)
	if err != nil {
		return nil, err
	}
	out := make([]labelled, len(raws))
	for i, raw := range raws {
		at := fmt.Sprintf("line %d", lines[i])
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("%s: %s: a JSON %s, not an object", path, at, te.Value)
			}
			return nil, fmt.Errorf("%s: %s: %w", path, at, err)
		}
		if obj == nil {
			return nil, fmt.Errorf("%s: %s: null, not an object", path, at)
		}
		keys, err := foldKeys(raw, obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, at, err)
		}
		var bad error
		field := func(name string) json.RawMessage {
			v, err := aliased(keys, name)
			if err != nil && bad == nil {
				bad = fmt.Errorf("%s: %s: %w", path, at, err)
			}
			return v
		}
		text := func(name string) string {
			var s *string
			if raw := field(name); raw != nil && json.Unmarshal(raw, &s) != nil && bad == nil {
				bad = fmt.Errorf("%s: %s (id %s): %s %s: want a string", path, at, learn.IDOf(field("id")), name, raw)
			}
			if s == nil {
				return ""
			}
			return *s
		}
		out[i] = labelled{At: at, ID: field("id"), Title: text("title"), Body: text("body"), Class: text("class"),
			DisciplineLead: field("discipline_lead"), Department: text("department")}
		if bad != nil {
			return nil, bad
		}
		// As a table's header must name a title or body column: an item
		// whose text is under a name not known here would be scored, and
		// trained on, as an empty text.
		if field("title") == nil && field("body") == nil {
			return nil, fmt.Errorf("%s: %s (id %s): no title or body (names read: %s; %s)", path, at, learn.IDOf(out[i].ID),
				strings.Join(tableColumns["title"], "/"), strings.Join(tableColumns["body"], "/"))
		}
	}
	return out, nil
}

// tsvRows reads the rows of a tab-separated file. Plain TSV has no
// quoting, but Python's csv module (and Excel) quote a field that holds a
// tab, a line break or a quote mark: when the file reads as such, every
// row with as many fields as the header, it is read so; otherwise each
// non-blank line is split on tabs, and a field may start with " (a title
// quoting a name) without joining the next rows.
func tsvRows(r io.Reader) ([][]string, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var quoted [][]string
	if bytes.IndexByte(raw, '"') >= 0 {
		q := csv.NewReader(bytes.NewReader(raw))
		q.Comma, q.FieldsPerRecord = '\t', 0
		if quoted, err = q.ReadAll(); err != nil {
			quoted = nil
		}
	}
	if quoted == nil {
		return plainTSVRows(raw)
	}
	// A field that merely starts with a quote mark can swallow the rows up
	// to the next one, whose counts may still come out even. Such a field
	// holds a line break and a tab; a real one that does is rare enough to
	// ask for a .csv instead of guessing.
	for i, row := range quoted {
		for _, f := range row {
			if strings.Contains(f, "\n") && strings.Contains(f, "\t") {
				return nil, fmt.Errorf("row %d after the header holds a quoted field with a line break and a tab: a quote mark at the start of a field may have joined rows; write the file as a .csv, or take such quote marks out", i)
			}
		}
	}
	return quoted, nil
}

// plainTSVRows splits each non-blank line of raw on tabs.
func plainTSVRows(raw []byte) ([][]string, error) {
	var rows [][]string
	err := eachLine(bytes.NewReader(raw), maxClassifyLine, func(n int, line []byte) error {
		if line == nil {
			return fmt.Errorf("line %d: longer than %d MiB", n, maxClassifyLine>>20)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			rows = append(rows, strings.Split(string(line), "\t"))
		}
		return nil
	})
	return rows, err
}

// foldKeys returns obj, decoded from raw, with its keys lower-cased and
// trimmed, as tableColumns names fields, and an error when raw gives a key
// twice (the map holds the last) or two keys fold to one ("Title" and
// "title"; the map then holds one of them).
func foldKeys(raw []byte, obj map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	fold := func(k string) string { return strings.ToLower(strings.TrimSpace(k)) }
	keys := make(map[string]json.RawMessage, len(obj))
	from := make(map[string]string, len(obj))
	var clash []string
	var involved []string
	for k, v := range obj {
		key := fold(k)
		if other, ok := from[key]; ok {
			clash = append(clash, fmt.Sprintf("keys %q and %q name the same field", min(k, other), max(k, other)))
			involved = append(involved, key)
		}
		keys[key], from[key] = v, k
	}
	if k, twice := jsonkeys.RepeatedTop(raw, false); twice {
		return keys, &keyTrouble{msg: fmt.Sprintf("key %q is given twice", k), folded: []string{fold(k)}}
	}
	if len(clash) > 0 {
		slices.Sort(clash) // the same message whatever the map's order
		return keys, &keyTrouble{msg: clash[0], folded: involved}
	}
	return keys, nil
}

// keyTrouble is the error of keys that do not name their fields once: a
// key given twice, or two that fold to one. The map then holds one of the
// values, which one not known, for each of folded.
type keyTrouble struct {
	msg    string
	folded []string
}

func (k *keyTrouble) Error() string { return k.msg }

// names reports whether one of the keys in trouble is a name of field.
func (k *keyTrouble) names(field string) bool {
	return slices.ContainsFunc(k.folded, func(f string) bool { return slices.Contains(tableColumns[field], f) })
}

// aliased returns the value of field name in obj (keys lower-cased) under
// any of its names in tableColumns: nil when none is given (null is not
// given), an error when two are, with different values (id and 留言编号
// naming two messages; 9 and "9" differ, "\u8def" and "路" do not).
func aliased(obj map[string]json.RawMessage, name string) (json.RawMessage, error) {
	var v json.RawMessage
	first := ""
	for _, a := range tableColumns[name] {
		w, ok := obj[a]
		switch {
		case !ok || string(bytes.TrimSpace(w)) == "null":
		case v == nil:
			v, first = w, a
		case !sameJSON(v, w):
			return nil, fmt.Errorf("%q and %q are both given, with different values: give %s once", first, a, name)
		}
	}
	return v, nil
}

// sameJSON reports whether two JSON values are equal once decoded
// (numbers compared as written).
func sameJSON(a, b json.RawMessage) bool {
	decode := func(raw json.RawMessage) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	x, okA := decode(a)
	y, okB := decode(b)
	return okA && okB && reflect.DeepEqual(x, y)
}

// tableColumns are the header names a labelled table may give each field,
// lower-cased: ours, and those of the 泰迪杯 files.
var tableColumns = map[string][]string{
	"id":              {"id", "留言编号", "编号"},
	"title":           {"title", "留言主题", "主题", "标题"},
	"body":            {"body", "留言详情", "详情", "内容", "text", "content"},
	"class":           {"class", "label", "类别", "分类"},
	"discipline_lead": {"discipline_lead", "lead", "纪检线索"},
	"department":      {"department", "一级分类", "一级标签"},
}

// labelNames lists the names a label field may have, for an error.
func labelNames() string {
	var names []string
	for _, f := range []string{"class", "discipline_lead", "department"} {
		names = append(names, strings.Join(tableColumns[f], "/"))
	}
	return strings.Join(names, ", ")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// classified is one output line of classify for a line it classified.
// ID is the line's id as it was given (a number stays a number, so that a
// script joining the answers to its items by id finds them), or null.
type classified struct {
	ID             json.RawMessage `json:"id"`
	Class          minsheng.Class  `json:"class"`
	Confidence     float64         `json:"confidence"`
	DisciplineLead bool            `json:"discipline_lead"`
	Urgent         bool            `json:"urgent"`
	Department     string          `json:"department"`
	// DepartmentUncertain: the sector is below triage.department_threshold;
	// a gateway sends such a gov_service item to 12345 only.
	DepartmentUncertain bool              `json:"department_uncertain"`
	Review              bool              `json:"review"`
	Reasons             []minsheng.Reason `json:"reasons"`
	ModelVersion        string            `json:"model_version"`
}

// classifyError is the output line of classify for a line it could not
// classify: the line's id when it could be read, and what was wrong.
type classifyError struct {
	ID    json.RawMessage `json:"id"` // null when the line gave none
	Error string          `json:"error"`
}

func runClassify(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	model := fs.String("model", "", "model file (default: the built-in model)")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	e, ok := engine("classify", *model)
	if !ok {
		return exitFail
	}
	// Blank lines at the end of a file are not lines; on a pipe or a
	// terminal every line is answered at once, a blank one too, so that a
	// caller that writes a line and waits gets its answer.
	st, _ := os.Stdin.Stat()
	lines, bad, err := classify(e, os.Stdin, os.Stdout, st != nil && st.Mode().IsRegular())
	if err != nil {
		fmt.Fprintln(os.Stderr, "classify:", err)
		return exitFail
	}
	if bad > 0 {
		// Every line was answered, but a script must not take the run for
		// a clean one: the error lines are easy to miss in a large output.
		fmt.Fprintf(os.Stderr, "classify: %d of %d lines not classified; their output lines say why\n", bad, lines)
		return exitFail
	}
	return exitOK
}

// classify reads JSON lines and writes one JSON line per input line, so
// that output line n answers input line n. A UTF-8 byte order mark before
// the first line is skipped; UTF-16 input is refused. A line that is
// blank (but for blank lines at the end, which are not lines when
// holdBlanks), is not an
// object with a title or a body (strings), or is longer than
// maxClassifyLine gets an error line (classifyError), and the rest go on.
// It returns how many lines it answered and how many of them got an error
// line.
func classify(e *triage.Engine, r io.Reader, w io.Writer, holdBlanks bool) (lines, bad int, err error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	// With holdBlanks (the input is a file), blank lines are answered when
	// a line follows them, so that blank lines at the end of the file (an
	// editor's) are not lines.
	var blanks []int
	err = eachLineIdle(r, maxClassifyLine, bw.Flush, func(n int, line []byte) error {
		if n == 1 {
			if bytes.HasPrefix(line, []byte{0xFF, 0xFE}) || bytes.HasPrefix(line, []byte{0xFE, 0xFF}) {
				return errors.New("the input is UTF-16: send UTF-8 JSON lines (iconv -f UTF-16 -t UTF-8)")
			}
		}
		// A byte-order mark opens every file a Windows editor saves, so
		// it also opens a later line where such files were joined.
		line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		if holdBlanks && line != nil && len(bytes.TrimSpace(line)) == 0 {
			blanks = append(blanks, n)
			return nil
		}
		for _, b := range blanks {
			lines, bad = b, bad+1
			if err := enc.Encode(classifyError{ID: json.RawMessage("null"), Error: fmt.Sprintf("line %d: blank", b)}); err != nil {
				return err
			}
		}
		blanks = blanks[:0]
		lines = n
		title, body, id, err := classifyInput(line)
		if id == nil {
			id = json.RawMessage("null")
		}
		if err != nil {
			bad++
			return enc.Encode(classifyError{ID: id, Error: fmt.Sprintf("line %d: %v", n, err)})
		}
		d := e.DecideText(title, body)
		return enc.Encode(classified{ID: id, Class: d.Class, Confidence: d.Confidence, DisciplineLead: d.Flags.DisciplineLead,
			Urgent: d.Flags.Urgent, Department: d.Department, DepartmentUncertain: d.Flags.DepartmentUncertain, Review: d.Review, Reasons: d.Reasons, ModelVersion: d.ModelVersion})
	})
	if err != nil {
		return lines, bad, err
	}
	return lines, bad, bw.Flush()
}

// classifyInput reads one input line of classify (nil: over the limit).
// The id, as its raw JSON, is returned whenever the line is an object
// that has one, even when another field is wrong.
func classifyInput(line []byte) (title, body string, id json.RawMessage, err error) {
	switch {
	case line == nil:
		return "", "", nil, fmt.Errorf("longer than %d MiB, not read", maxClassifyLine>>20)
	case len(bytes.TrimSpace(line)) == 0:
		return "", "", nil, errors.New("blank")
	}
	// Bytes that are not UTF-8 (a GBK line) and halves of surrogate pairs
	// encoding/json reads as U+FFFD without a word: the line would be
	// decided on garbled text, as the gateway refuses to.
	textErr := learn.CheckJSONText(line)
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		if textErr != nil {
			return "", "", nil, textErr
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return "", "", nil, fmt.Errorf("a JSON %s, not an object", te.Value)
		}
		return "", "", nil, err
	}
	// The fields by any name a labelled table may give them (id, 留言编号;
	// title, 留言主题; body, 留言详情, text …), in any case; the id first,
	// so that an error line names it when it can be read.
	keys, clash := foldKeys(line, obj)
	id, err = aliased(keys, "id") // echoed as given: "9" and 9 are not the same id to a script
	if kt := (*keyTrouble)(nil); errors.As(clash, &kt) && kt.names("id") {
		id = nil // which of the two ids the line meant is not known
	}
	if textErr != nil {
		if id != nil && learn.CheckJSONText(id) != nil {
			id = nil // echoed, it would make the answer no UTF-8 JSON either
		}
		return "", "", id, textErr
	}
	if err == nil {
		err = clash
	}
	if err != nil {
		return "", "", id, err
	}
	rawTitle, err := aliased(keys, "title")
	if err != nil {
		return "", "", id, err
	}
	rawBody, err := aliased(keys, "body")
	if err != nil {
		return "", "", id, err
	}
	var t, b *string
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		to   **string
	}{{"title", rawTitle, &t}, {"body", rawBody, &b}} {
		if f.raw != nil && json.Unmarshal(f.raw, f.to) != nil {
			return "", "", id, fmt.Errorf("%s %s: want a string", f.name, f.raw)
		}
	}
	if t == nil && b == nil {
		return "", "", id, errors.New("no title or body")
	}
	if t != nil {
		title = *t
	}
	if b != nil {
		body = *b
	}
	return title, body, id, nil
}

// maxClassifyLine is the longest input line classify reads.
const maxClassifyLine = 16 << 20

// eachLine calls fn with each line of r (without its line break) and its
// number from 1. A line longer than max is read to its end but passed as
// nil, so one huge line costs no more than max bytes of memory and the
// lines after it still come.
func eachLine(r io.Reader, max int, fn func(n int, line []byte) error) error {
	return eachLineIdle(r, max, nil, fn)
}

// eachLineIdle is eachLine that calls idle, when set, before it waits for
// more input: whenever nothing read is left unhandled. classify flushes its
// answers there, so that a caller who sends a line and waits for its answer
// gets it.
func eachLineIdle(r io.Reader, max int, idle func() error, fn func(n int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for n := 1; ; n++ {
		if idle != nil && br.Buffered() == 0 {
			if err := idle(); err != nil {
				return err
			}
		}
		buf = buf[:0]
		long := false
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			if !long {
				if len(buf)+len(chunk) > max+2 { // +2: room for a line break
					long, buf = true, buf[:0]
				} else {
					buf = append(buf, chunk...)
				}
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF && len(buf) == 0 && !long {
			return nil
		}
		line := bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
		if long || len(line) > max {
			line = nil
		}
		if ferr := fn(n, line); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}

func runTriageBench(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("triage-bench", flag.ContinueOnError)
	shared := fs.String("shared", defaultShared, "the shared data folder: texts from 附件3 (4,326 real messages)")
	dur := fs.Duration("duration", 5*time.Second, "how long to run")
	model := fs.String("model", "", "model file (default: the built-in model)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	if *dur <= 0 {
		fmt.Fprintf(os.Stderr, "triage-bench: --duration %s: want a positive duration\n", *dur)
		return exitConfig
	}
	if !sharedThere("triage-bench", *shared) {
		return exitConfig
	}
	e, ok := engine("triage-bench", *model)
	if !ok {
		return exitFail
	}
	recs, err := learn.ReadTipdmCSV(filepath.Join(*shared, learn.FileUnlabelled), "")
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("%s: no messages after the header", filepath.Join(*shared, learn.FileUnlabelled))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "triage-bench:", err)
		return exitFail
	}
	runtime.GOMAXPROCS(1)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "triage-bench:", err)
			return exitFail
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "triage-bench:", err)
			return exitFail
		}
		defer pprof.StopCPUProfile()
	}
	var bytes int
	for _, r := range recs {
		bytes += len(r.Title) + len(r.Body)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < *dur {
		for _, r := range recs {
			e.DecideText(r.Title, r.Body)
		}
		n += len(recs)
	}
	el := time.Since(start)
	fmt.Printf("triage-bench: %d items (%d real messages, mean %d bytes) in %s on one core: %.0f items/s, %.1f µs/item, model %s\n",
		n, len(recs), bytes/len(recs), el.Round(time.Millisecond), float64(n)/el.Seconds(), el.Seconds()*1e6/float64(n), e.ModelVersion())
	return exitOK
}
