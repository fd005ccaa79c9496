//go:build !linux

package testenv

import "testing"

// Tmpfs ends t through Missing: filling a small filesystem is tested on Linux only.
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	Missing(t, "a tmpfs of %s needs Linux", size)
	return ""
}

// TmpfsFor ends t through Missing, as Tmpfs does.
func TmpfsFor(t testing.TB, size string, uid, gid int) string {
	t.Helper()
	Missing(t, "a tmpfs of %s needs Linux", size)
	return ""
}
