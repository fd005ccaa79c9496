package disk

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"presign/internal/testenv"
)

// mountTmpfs mounts a tmpfs of the size (e.g. "8m") for a test that fills a disk.
func mountTmpfs(t *testing.T, size string) string { return testenv.Tmpfs(t, size) }

// syncfs flushes every dirty page of the filesystem holding dir (syncfs(2)).
func syncfs(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
