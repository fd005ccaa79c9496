//go:build !linux

package testenv

import "testing"

// Tmpfs ends t through Missing: filling a small filesystem is tested on Linux only.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	Missing(t, "a tmpfs of %s needs Linux", size)
	return ""
}
