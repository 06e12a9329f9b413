package importfile

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// IsTerminal reports whether f is a character device (a terminal), where a
// progress bar can redraw itself.
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// startProgress draws progress until the returned func is called: a bar
// redrawn in place five times a second on a terminal, a plain line every
// ProgressEvery otherwise.
func (im *importer) startProgress() (stop func()) {
	w := im.o.Progress
	if w == nil {
		return func() {}
	}
	every := im.o.ProgressEvery
	if im.o.Terminal {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if im.o.Terminal {
					im.draw(w)
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
				im.draw(w)
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (im *importer) draw(w io.Writer) {
	rows := im.rows.Load()
	handled := im.imported.Load() + im.dups.Load() + im.rejected.Load()
	el := time.Since(im.start)
	rate := float64(handled) / max(el.Seconds(), 1e-9)
	done, total := im.r.Progress()
	frac := -1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	eta := "?"
	if frac > 0 && frac < 1 {
		eta = (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	} else if frac >= 1 {
		eta = "0s"
	}
	if im.o.Terminal {
		const width = 30
		bar := strings.Repeat("?", width)
		pct := "  ?%"
		if frac >= 0 {
			n := int(frac * width)
			bar = strings.Repeat("█", n) + strings.Repeat("░", width-n)
			pct = fmt.Sprintf("%3.0f%%", frac*100)
		}
		fmt.Fprintf(w, "\r%s %s %d rows, %d done, %.0f rows/s, eta %s   ", bar, pct, rows, handled, rate, eta)
		return
	}
	pct := ""
	if frac >= 0 {
		pct = fmt.Sprintf(" (%.0f%% of the file)", frac*100)
	}
	fmt.Fprintf(w, "import: %d rows read%s, %d done, %.0f rows/s, eta %s\n", rows, pct, handled, rate, eta)
}
