//go:build !linux

// Package powercut is a FUSE file system for power-loss tests; it exists on Linux only.
package powercut

import (
	"testing"

	"presign/internal/testenv"
)

// FS is a mounted power-cut file system (Linux only).
type FS struct {
	// Dir is where it is mounted.
	Dir string
}

// Start ends t: FUSE power-cut tests run on Linux only.
func Start(t testing.TB) *FS {
	t.Helper()
	testenv.Missing(t, "the power-cut file system needs Linux's FUSE")
	return nil
}

// Cut is never reached off Linux.
func (f *FS) Cut() error { return nil }
