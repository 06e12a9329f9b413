// Package testlog is a log for tests that look for a line in what the
// code under test logged from its goroutines.
package testlog

import (
	"log/slog"
	"strings"
)

// Lines receives a log's lines, one a message (slog's handlers write each
// line at once). Make it with room for more lines than the test writes: a
// full one blocks the writer.
type Lines chan string

// Logger returns a text logger that writes to l.
func (l Lines) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l Lines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// Line returns the first line written so far that holds msg ("" for
// none); the lines before it are passed over.
func (l Lines) Line(msg string) string {
	for {
		select {
		case s := <-l:
			if strings.Contains(s, msg) {
				return s
			}
		default:
			return ""
		}
	}
}
