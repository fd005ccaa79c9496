package disk

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"presign/internal/testenv"
)

// mountTmpfs mounts a tmpfs of the size (e.g. "8m") on a new temporary directory, unmounted when
// t ends, for tests that fill a disk.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.Missing(t, "cannot mount a %s tmpfs to fill (needs CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

// syncfs flushes every dirty page of the filesystem holding dir (syncfs(2)).
func syncfs(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
