// Package importfile reads historical exports — CSV or XLSX files of
// hotline work orders or message-board posts — row by row, turns each row
// into an item and hands it to the pipeline, counting what was imported,
// what had been imported before and what could not become an item. It is
// the engine of `minsheng import`; see README.md.
package importfile

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	minsheng "github.com/minsheng/minsheng"
	"github.com/minsheng/minsheng/connectors/internal/timefmt"
)

// DefaultSource is the source name of imported items when none is given.
const DefaultSource = "import"

// Options configure an import.
type Options struct {
	// Channel the rows are filed under (required).
	Channel minsheng.Channel
	// Source names the export in item IDs (ItemID(channel, source, ref)).
	// Use the same source for every export of one system, so that a row
	// imported twice — from two overlapping exports — is recognised.
	// Default DefaultSource.
	Source string
	// Columns maps fields to header names, over DefaultHeaders. A header
	// of "-" unmaps a field.
	Columns map[Field]string
	// Sheet of an XLSX workbook; default the active (first) sheet.
	Sheet string
	// TimeLayout forces one Go time layout; default: the common forms.
	TimeLayout string
	// TimeZone of times without a zone; default Asia/Shanghai.
	TimeZone string
	// RejectsPath is where rejected rows are written (CSV: row number,
	// reason, then the row as it was). Default "<file name>.rejected.csv"
	// in the current directory. Written only when a row is rejected.
	RejectsPath string
	// Progress receives the progress display; nil for none.
	Progress io.Writer
	// Terminal: draw a progress bar (else plain lines every ProgressEvery).
	Terminal      bool
	ProgressEvery time.Duration
	// Retries: rows whose ack failed (a destination was unavailable) are
	// offered again this many times, with backoff. Default 3.
	Retries int
	// DrainTimeout bounds the wait for acks after an interruption.
	// Default 30s.
	DrainTimeout time.Duration
	// Logger for warnings (never row contents).
	Logger *slog.Logger
}

// Summary is what an import did.
type Summary struct {
	File     string
	Format   string
	Mapping  string
	Rows     int // data rows read (blank rows are not counted)
	Imported int // handled for the first time
	// Duplicates had been handled before (an earlier run, an overlapping
	// export, the same reference twice in the file).
	Duplicates int
	// Rejected rows could not become a valid item (see RejectsPath).
	Rejected int
	// TriagedInvalid: imported rows that triage screened out as invalid
	// (routed to the rejected destination); included in Imported.
	TriagedInvalid int
	// Failed: rows whose ack still failed after the retries; Unfinished:
	// rows not read or not acked because the import was interrupted. Both
	// are picked up by running the import again.
	Failed      int
	Unfinished  int
	Interrupted bool
	RejectsPath string
	Elapsed     time.Duration
}

// Complete reports whether every row of the file was accounted for.
func (s *Summary) Complete() bool { return !s.Interrupted && s.Failed == 0 && s.Unfinished == 0 }

// Write prints the summary. Its last line is exactly
// "imported=N duplicates=N rejected=N".
func (s *Summary) Write(w io.Writer) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Rows) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "import: %s (%s): %d rows in %s, %.0f rows/s\n", s.File, s.Format, s.Rows, s.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "import: columns %s\n", s.Mapping)
	if s.TriagedInvalid > 0 {
		fmt.Fprintf(w, "import: %d imported rows were screened out by triage as invalid (routed to the rejected destination)\n", s.TriagedInvalid)
	}
	if s.Rejected > 0 {
		fmt.Fprintf(w, "import: %d rejected rows, with reasons, in %s\n", s.Rejected, s.RejectsPath)
	}
	if s.Failed > 0 {
		fmt.Fprintf(w, "import: %d rows not durably handled (destinations unavailable); run the import again to finish\n", s.Failed)
	}
	if s.Interrupted {
		fmt.Fprintf(w, "import: interrupted; %d rows not finished; run the same command again to resume\n", s.Unfinished)
	}
	fmt.Fprintf(w, "imported=%d duplicates=%d rejected=%d\n", s.Imported, s.Duplicates, s.Rejected)
}

// Run imports the file at path into out. It returns when every row read
// has been acknowledged (or, after ctx ends, when the acks owed have
// arrived or DrainTimeout passed). The error is for the file as a whole
// (unreadable, no reference column); row problems are counted as rejected.
func Run(ctx context.Context, path string, out minsheng.Emitter, o Options) (*Summary, error) {
	if !o.Channel.Valid() {
		return nil, fmt.Errorf("channel %q is not a channel", o.Channel)
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	loc, err := timefmt.Location(o.TimeZone)
	if err != nil {
		return nil, err
	}
	r, err := openReader(path, o.Sheet)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	m, err := newMapping(r.Header(), o.Columns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if o.RejectsPath == "" {
		o.RejectsPath = filepath.Base(path) + ".rejected.csv"
	}
	im := &importer{o: o, out: out, m: m, r: r, start: time.Now(),
		spec: &rowSpec{channel: o.Channel, source: o.Source, file: filepath.Base(path), layout: o.TimeLayout, loc: loc},
		sum:  &Summary{File: path, Format: r.Describe(), Mapping: m.Describe(), RejectsPath: o.RejectsPath}}
	im.idle = make(chan struct{})
	close(im.idle)
	err = im.run(ctx)
	im.sum.Elapsed = time.Since(im.start)
	return im.sum, err
}

type importer struct {
	o     Options
	out   minsheng.Emitter
	m     *mapping
	r     rowReader
	spec  *rowSpec
	sum   *Summary
	start time.Time

	rejects  *csv.Writer
	rejectsF *os.File
	rows     atomic.Int64
	imported atomic.Int64
	dups     atomic.Int64
	invalid  atomic.Int64
	rejected atomic.Int64
	mu       sync.Mutex // guards pending, failed, idle
	pending  int
	failed   []*minsheng.Item
	idle     chan struct{}
}

func (im *importer) run(ctx context.Context) error {
	defer im.closeRejects()
	stopProgress := im.startProgress()
	defer stopProgress()

	readErr := im.readAll(ctx)
	interrupted := ctx.Err() != nil
	// Offer rows whose ack failed again, with backoff, unless stopping.
	for round := 0; round < im.o.Retries && !interrupted; round++ {
		if !im.wait(ctx, 0) {
			interrupted = true
			break
		}
		im.mu.Lock()
		retry := im.failed
		im.failed = nil
		im.mu.Unlock()
		if len(retry) == 0 {
			break
		}
		im.o.Logger.Warn("rows not durably handled; offering them again", "rows", len(retry), "round", round+1)
		select {
		case <-time.After(time.Duration(1<<round) * time.Second):
		case <-ctx.Done():
			interrupted = true
		}
		for _, it := range retry {
			if interrupted {
				break
			}
			if err := im.emit(ctx, it); err != nil {
				interrupted = true
			}
		}
	}
	drained := im.wait(ctx, im.o.DrainTimeout)
	im.mu.Lock()
	failed := len(im.failed)
	im.mu.Unlock()
	s := im.sum
	s.Rows = int(im.rows.Load())
	s.Imported, s.Duplicates = int(im.imported.Load()), int(im.dups.Load())
	s.Rejected, s.TriagedInvalid = int(im.rejected.Load()), int(im.invalid.Load())
	s.Interrupted = interrupted || ctx.Err() != nil || !drained
	if s.Interrupted {
		// Rows read but not accounted for, and rows never read.
		s.Unfinished = s.Rows - s.Imported - s.Duplicates - s.Rejected
		if done, total := im.r.Progress(); total > 0 && done < total {
			if _, ok := im.r.(*xlsxReader); ok {
				s.Unfinished += int(total - done)
			}
		}
	} else {
		s.Failed = failed
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return readErr
	}
	return nil
}

// readAll reads and emits every row until the end of the file or ctx ends.
func (im *importer) readAll(ctx context.Context) error {
	n := 1 // the header is row 1, as a spreadsheet numbers it
	for ctx.Err() == nil {
		row, err := im.r.Next()
		if err == io.EOF {
			return nil
		}
		n++
		var bad *RowError
		if errors.As(err, &bad) {
			im.rows.Add(1)
			if err := im.reject(n, bad.Reason, bad.Row); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("row %d: %w", n, err)
		}
		if blank(row) {
			continue
		}
		im.rows.Add(1)
		it, reason := im.m.item(row, n, im.spec, time.Now())
		if it == nil {
			if err := im.reject(n, reason, row); err != nil {
				return err
			}
			continue
		}
		if err := im.emit(ctx, it); err != nil {
			im.rows.Add(-1) // not taken: it will be read again next time
			return err
		}
	}
	return ctx.Err()
}

func blank(row []string) bool {
	for _, c := range row {
		for _, r := range c {
			if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
				return false
			}
		}
	}
	return true
}

func (im *importer) emit(ctx context.Context, it *minsheng.Item) error {
	im.mu.Lock()
	if im.pending == 0 {
		im.idle = make(chan struct{})
	}
	im.pending++
	im.mu.Unlock()
	err := im.out.Emit(ctx, it, func(o minsheng.Outcome, err error) {
		switch {
		case err != nil:
			im.mu.Lock()
			im.failed = append(im.failed, it)
			im.mu.Unlock()
		case o.Duplicate:
			im.dups.Add(1)
		default:
			im.imported.Add(1)
			if o.Decision != nil && o.Decision.Class == minsheng.ClassInvalid {
				im.invalid.Add(1)
			}
		}
		im.done()
	})
	if err != nil {
		im.done()
	}
	return err
}

func (im *importer) done() {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.pending--
	if im.pending == 0 {
		close(im.idle)
	}
}

// wait blocks until no ack is owed. With limit 0 it waits as long as ctx
// lives; otherwise up to limit even after ctx ended (a drain).
func (im *importer) wait(ctx context.Context, limit time.Duration) bool {
	im.mu.Lock()
	idle := im.idle
	im.mu.Unlock()
	if limit == 0 {
		select {
		case <-idle:
			return true
		case <-ctx.Done():
			return false
		}
	}
	select {
	case <-idle:
		return true
	case <-time.After(limit):
		return false
	}
}

func (im *importer) reject(n int, reason string, row []string) error {
	im.rejected.Add(1)
	if im.rejects == nil {
		f, err := os.Create(im.o.RejectsPath)
		if err != nil {
			return fmt.Errorf("rejects file: %w", err)
		}
		im.rejectsF = f
		f.WriteString("\ufeff") // spreadsheet programs then read it as UTF-8
		im.rejects = csv.NewWriter(f)
		im.rejects.Write(append([]string{"row", "reason"}, im.m.header...))
	}
	return im.rejects.Write(append([]string{strconv.Itoa(n), reason}, row...))
}

func (im *importer) closeRejects() {
	if im.rejects == nil {
		return
	}
	im.rejects.Flush()
	if err := im.rejects.Error(); err != nil {
		im.o.Logger.Error("rejects file", "err", err)
	}
	im.rejectsF.Close()
}
