//go:build !linux

package store

// syncFS is not available here: callers fsync file by file.
func syncFS(string) (bool, error) { return false, nil }
