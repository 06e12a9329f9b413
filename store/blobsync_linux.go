package store

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFiles makes the named files' contents durable: one syncfs(2) of the
// filesystem holding dir covers them all, however many they are.
func syncFiles(dir string, _ []string) error { return syncFS(dir) }

// syncDirs makes directory entries (renames) under dir durable, likewise
// with one syncfs(2).
func syncDirs(dir string, _ []string) error { return syncFS(dir) }

func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs: %w", err)
	}
	return nil
}
