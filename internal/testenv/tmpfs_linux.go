package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a tmpfs of the size (e.g. "8m") on a new temporary directory, unmounted when t
// ends, for tests that fill a disk. It ends t through Missing where mounting is not allowed
// (it needs CAP_SYS_ADMIN).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	mountTmpfs(t, dir, "size="+size)
	return dir
}

// TmpfsFor is Tmpfs owned by uid:gid, on a directory others may pass through, for a server
// that runs as another user (PostgreSQL's tablespaces) to fill.
func TmpfsFor(t testing.TB, size string, uid, gid int) string {
	t.Helper()
	parent := t.TempDir()
	// t.TempDir's directories are private to the test's user.
	for _, d := range []string{filepath.Dir(parent), parent} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(parent, "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, dir, fmt.Sprintf("size=%s,mode=0700,uid=%d,gid=%d", size, uid, gid))
	return dir
}

func mountTmpfs(t testing.TB, dir, options string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		Missing(t, "cannot mount a tmpfs (%s) to fill (needs CAP_SYS_ADMIN): %v", options, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
}
