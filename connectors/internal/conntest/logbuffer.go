package conntest

import (
	"strings"
	"sync"
)

// LogBuffer collects what a connector's goroutines write (a slog handler's
// output, a progress line), safe for concurrent use. The zero value is
// ready.
type LogBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
