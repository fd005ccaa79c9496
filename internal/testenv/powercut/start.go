//go:build linux

package powercut

import (
	"os"
	"path/filepath"
	"testing"

	"presign/internal/testenv"
)

// Start mounts a power-cut file system in a temporary directory for t and unmounts it when t
// ends. It ends t through testenv.Missing where FUSE is not available.
func Start(t testing.TB) *FS {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testenv.Missing(t, "no FUSE here: %v", err)
	}
	root := t.TempDir()
	dirs := make([]string, 3)
	for i, name := range []string{"mnt", "data", "trash"} {
		dirs[i] = filepath.Join(root, name)
		if err := os.Mkdir(dirs[i], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Mount(dirs[0], dirs[1], dirs[2])
	if err != nil {
		testenv.Missing(t, "cannot mount a FUSE file system (root, or fusermount3 from Debian's fuse3, is needed): %v", err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Error(err)
		}
	})
	return f
}
