package testenv

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of the size (e.g. "8m") on a new temporary directory, unmounted when t
// ends, for tests that fill a disk. It ends t through Missing where mounting is not allowed
// (it needs CAP_SYS_ADMIN).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		Missing(t, "cannot mount a %s tmpfs to fill (needs CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}
