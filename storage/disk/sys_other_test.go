//go:build !linux

package disk

import (
	"errors"
	"testing"

	"presign/internal/testenv"
)

// mountTmpfs ends t: only Linux mounts a tmpfs of a given size here.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	testenv.Missing(t, "no %s tmpfs to fill: mounting one is Linux-only", size)
	return ""
}

// syncfs has no equivalent here: the benchmark cases that use it fail rather than measure
// something else.
func syncfs(string) error { return errors.ErrUnsupported }
