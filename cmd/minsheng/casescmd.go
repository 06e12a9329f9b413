package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/router"
	"github.com/minsheng/minsheng/triage"
	"github.com/minsheng/minsheng/triage/cases"
	"github.com/minsheng/minsheng/triage/learn"
)

func init() {
	register(&command{name: "cases-eval", summary: "measure case linking over a file of letters, in file order", run: runCasesEval})
}

func runCasesEval(_ context.Context, args []string) int {
	fs := flag.NewFlagSet("cases-eval", flag.ContinueOnError)
	file := fs.String("file", "", "letters: a CSV of the 泰迪杯 board (留言编号, 留言主题, 留言详情) or JSON lines (id, title, body)")
	model := fs.String("model", "", "model file (default: the built-in model)")
	def := cases.DefaultConfig()
	threshold := fs.Float64("threshold", def.Threshold, "cases.threshold")
	minRuns := fs.Int("min-runs", def.MinRuns, "cases.min_runs")
	show := fs.Int("show", 0, "print this many links with both titles, for a person to judge")
	if c := parseFlags(fs, args); c >= 0 {
		return c
	}
	if *file == "" {
		fmt.Fprintln(os.Stderr, "cases-eval: give --file F")
		return exitConfig
	}
	cfg := def
	cfg.Threshold, cfg.MinRuns = *threshold, *minRuns
	x, err := cases.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cases-eval:", err)
		return exitConfig
	}
	recs, err := readLetters(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cases-eval:", err)
		return exitFail
	}
	e, ok := engine("cases-eval", *model)
	if !ok {
		return exitFail
	}
	w := bufio.NewWriter(os.Stdout)
	casesEval(w, e, x, cfg, recs, *show)
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "cases-eval:", err)
		return exitFail
	}
	return exitOK
}

// readLetters reads a board CSV (by its .csv name) or JSON lines.
func readLetters(path string) ([]learn.Record, error) {
	if strings.HasSuffix(strings.ToLower(path), ".csv") {
		return learn.ReadTipdmCSV(path, "")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []learn.Record
	err = eachLine(f, maxClassifyLine, func(n int, line []byte) error {
		line = bytes.TrimPrefix(line, []byte("\uFEFF")) // on any line: files joined
		if line != nil && len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		title, body, id, err := classifyInput(line)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", path, n, err)
		}
		out = append(out, learn.Record{ID: learn.IDOf(id), Title: title, Body: body})
		return nil
	})
	return out, err
}

// casesEval feeds the letters in file order, each classified by the
// engine and routed as the embedded default routes, through the index as
// the pipeline does (link, then remember), and checks the links against
// the exact share of runs: how far the sketch's estimate is off, and how
// many letters that have an earlier letter of their class and destinations
// at least threshold alike were linked (exact pairs found by comparing
// every two such letters). Letters carry no time, so the window does not
// apply.
func casesEval(w io.Writer, e *triage.Engine, x *cases.Index, cfg cases.Config, recs []learn.Record, show int) {
	type letter struct {
		rec      *learn.Record
		class    minsheng.Class
		scope    string // where the embedded default routes it
		linkable bool   // valid, not for review, at least MinRuns runs
		runs     []uint64
		link     *minsheng.CaseLink
	}
	routes := router.DefaultConfig().Routes // as the embedded default routes
	ls := make([]letter, len(recs))
	byID := map[string]int{}
	var took time.Duration
	for i := range recs {
		r := &recs[i]
		id := r.ID
		if id == "" || byID[id] != 0 {
			// A repeated or missing id is not the same item; nor is one
			// the file gives another letter ("line-2" on line 1).
			id = fmt.Sprintf("line-%d", i+1)
			for k := 2; byID[id] != 0; k++ {
				id = fmt.Sprintf("line-%d-%d", i+1, k)
			}
		}
		byID[id] = i + 1
		d := e.DecideText(r.Title, r.Body)
		it := &minsheng.Item{ID: id, Title: r.Title, Body: r.Body}
		start := time.Now()
		dests, _ := routes.For(&d)
		var remember func([]string)
		d.Case, remember = x.Link(it, &d, dests)
		remember(dests)
		took += time.Since(start)
		text := r.Title + "\n" + r.Body
		sk := cases.MakeSketch(text)
		slices.Sort(dests)
		ls[i] = letter{rec: r, class: d.Class, scope: strings.Join(dests, ","), runs: cases.Runs(text), link: d.Case,
			linkable: d.Class != minsheng.ClassInvalid && !d.Review && sk.Runs >= cfg.MinRuns}
	}

	var linkable, linked, below int
	var errSum, errMax float64
	sizes := map[string]int{}
	for i := range ls {
		l := &ls[i]
		if !l.linkable {
			continue
		}
		linkable++
		if l.link == nil {
			continue
		}
		linked++
		sizes[l.link.ID] = l.link.Items
		exact := cases.Jaccard(l.runs, ls[byID[l.link.Nearest]-1].runs)
		d := math.Abs(l.link.Similarity - exact)
		errSum += d
		errMax = max(errMax, d)
		if exact < cfg.Threshold {
			below++
		}
	}
	// Exact: every two linkable letters of a class, for each letter its
	// best earlier one, and how the shares of all pairs fall.
	const histLo = 0.2
	var hist [9]int // [0.2,0.3) … [0.9,1.0), then exactly 1
	var should, found int
	for i := range ls {
		a := &ls[i]
		if !a.linkable {
			continue
		}
		best := 0.0
		for j := range i {
			b := &ls[j]
			if !b.linkable || b.class != a.class || b.scope != a.scope {
				continue
			}
			// The share cannot reach histLo when one set is more than
			// 1/histLo times the other.
			lo, hi := min(len(a.runs), len(b.runs)), max(len(a.runs), len(b.runs))
			if float64(lo) < histLo*float64(hi) {
				continue
			}
			jac := cases.Jaccard(a.runs, b.runs)
			best = max(best, jac)
			switch {
			case jac >= 1:
				hist[8]++
			case jac >= histLo:
				hist[min(int(jac*10)-2, 7)]++
			}
		}
		if best >= cfg.Threshold {
			should++
			if a.link != nil {
				found++
			}
		}
	}
	multi, largest := 0, 0
	for _, n := range sizes {
		multi++
		largest = max(largest, n)
	}
	fmt.Fprintf(w, "letters %d; linkable %d (valid, not for review, at least %d runs); threshold %.2f\n", len(ls), linkable, cfg.MinRuns, cfg.Threshold)
	fmt.Fprintf(w, "linked %d into %d cases of two or more (largest %d items)\n", linked, multi, largest)
	if linked > 0 {
		fmt.Fprintf(w, "estimate off the exact share by %.3f on average, %.3f at most; %d linked below the threshold exactly\n", errSum/float64(linked), errMax, below)
	}
	fmt.Fprintf(w, "letters with an earlier letter of their class and destinations at least %.2f alike exactly: %d, linked %d (%.3f)\n", cfg.Threshold, should, found, float64(found)/float64(max(should, 1)))
	fmt.Fprint(w, "pairs of letters of one class and destinations by exact share:")
	for i, n := range hist[:8] {
		fmt.Fprintf(w, " %.1f–%.1f %d;", histLo+float64(i)/10, histLo+float64(i+1)/10, n)
	}
	fmt.Fprintf(w, " 1 %d\n", hist[8])
	fmt.Fprintf(w, "link and remember: %.1f µs a letter (sketch included; classification not)\n", float64(took.Microseconds())/float64(max(len(ls), 1)))
	if show <= 0 {
		return
	}
	var links []*letter
	for i := range ls {
		if ls[i].link != nil {
			links = append(links, &ls[i])
		}
	}
	slices.SortStableFunc(links, func(a, b *letter) int { return cmp.Compare(a.link.Similarity, b.link.Similarity) })
	fmt.Fprintf(w, "\nthe %d least alike links (similarity, class, this letter's title | the nearest's):\n", min(show, len(links)))
	for _, l := range links[:min(show, len(links))] {
		n := ls[byID[l.link.Nearest]-1].rec
		fmt.Fprintf(w, "%.2f %s %s: %s | %s: %s\n", l.link.Similarity, l.class, l.rec.ID, l.rec.Title, n.ID, n.Title)
	}
}
