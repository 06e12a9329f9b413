package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole filesystem holding path with syncfs(2).
func syncFS(path string) (done bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, nil // fall back to fsyncs, which report the error
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return true, fmt.Errorf("syncfs: %w", err)
	}
	return true, nil
}
