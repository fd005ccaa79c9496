//go:build linux

package powercut_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"presign/internal/testenv/powercut"
)

// syncDir fsyncs the directory at path.
func syncDir(t *testing.T, path string) {
	t.Helper()
	d, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

// write creates or replaces path with data, fsyncing the file if sync.
func write(t *testing.T, path string, data []byte, sync bool) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// want is the content a path must have after the cut; nil means the path must not exist.
type want map[string][]byte

func TestCutKeepsOnlyWhatWasMadeDurable(t *testing.T) {
	old := []byte("durable before the test")
	cases := []struct {
		name string
		do   func(t *testing.T, dir string)
		want want
	}{
		{
			name: "a new file without fsync vanishes",
			do:   func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), []byte("x"), false) },
			want: want{"f": nil},
		},
		{
			name: "a new file fsynced, directory not: the name is lost",
			do:   func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), []byte("x"), true) },
			want: want{"f": nil},
		},
		{
			name: "directory fsynced, file not: the name stays, the bytes do not",
			do: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "f"), []byte("x"), false)
				syncDir(t, dir)
			},
			want: want{"f": {}},
		},
		{
			name: "file and directory fsynced: kept",
			do: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "f"), []byte("kept"), true)
				syncDir(t, dir)
			},
			want: want{"f": []byte("kept")},
		},
		{
			name: "bytes written after the fsync are lost, those before kept",
			do: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "old")
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				f.WriteAt([]byte("DURABLE"), 0)
				f.Sync()
				f.WriteAt([]byte("XX"), 0)
				f.WriteAt([]byte(" and more"), int64(len(old)))
			},
			want: want{"old": append([]byte("DURABLE"), old[7:]...)},
		},
		{
			name: "an unsynced truncation is undone",
			do: func(t *testing.T, dir string) {
				if err := os.Truncate(filepath.Join(dir, "old"), 3); err != nil {
					t.Fatal(err)
				}
			},
			want: want{"old": old},
		},
		{
			name: "an unsynced O_TRUNC rewrite is undone",
			do:   func(t *testing.T, dir string) { write(t, filepath.Join(dir, "old"), []byte("new"), false) },
			want: want{"old": old},
		},
		{
			name: "an unlink without directory fsync is undone",
			do: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "old")); err != nil {
					t.Fatal(err)
				}
			},
			want: want{"old": old},
		},
		{
			name: "an unlink with directory fsync stays",
			do: func(t *testing.T, dir string) {
				os.Remove(filepath.Join(dir, "old"))
				syncDir(t, dir)
			},
			want: want{"old": nil},
		},
		{
			name: "a rename without directory fsync is reverted",
			do: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "tmp"), []byte("new"), true)
				syncDir(t, dir)
				if err := os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "old")); err != nil {
					t.Fatal(err)
				}
			},
			want: want{"old": old, "tmp": []byte("new")},
		},
		{
			name: "a rename with directory fsync stays",
			do: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "tmp"), []byte("new"), true)
				os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "old"))
				syncDir(t, dir)
			},
			want: want{"old": []byte("new"), "tmp": nil},
		},
		{
			name: "a rename into a synced directory from an unsynced one leaves both names",
			do: func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, "tmp"), []byte("new"), true)
				syncDir(t, dir)
				os.Rename(filepath.Join(dir, "tmp"), filepath.Join(dir, "sub", "f"))
				syncDir(t, filepath.Join(dir, "sub"))
			},
			want: want{"tmp": []byte("new"), "sub/f": []byte("new")},
		},
		{
			name: "an unsynced mkdir vanishes with what is in it",
			do: func(t *testing.T, dir string) {
				os.Mkdir(filepath.Join(dir, "new"), 0o755)
				write(t, filepath.Join(dir, "new", "f"), []byte("x"), true)
				syncDir(t, filepath.Join(dir, "new"))
			},
			want: want{"new": nil},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pc := powercut.Start(t)
			write(t, filepath.Join(pc.Dir, "old"), old, true)
			if err := os.Mkdir(filepath.Join(pc.Dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			syncDir(t, pc.Dir)
			c.do(t, pc.Dir)
			if err := pc.Cut(); err != nil {
				t.Fatal(err)
			}
			for name, data := range c.want {
				got, err := os.ReadFile(filepath.Join(pc.Dir, name))
				switch {
				case data == nil && !errors.Is(err, fs.ErrNotExist):
					t.Errorf("%s: exists after the cut (%q, %v), want gone", name, got, err)
				case data != nil && err != nil:
					t.Errorf("%s: %v, want %q", name, err, data)
				case data != nil && !bytes.Equal(got, data):
					t.Errorf("%s holds %q after the cut, want %q", name, got, data)
				}
			}
		})
	}
}

// TestCutLeavesNothingPending checks that the file system starts each life clean, and that
// what was durable stays so across several cuts.
func TestCutLeavesNothingPending(t *testing.T) {
	pc := powercut.Start(t)
	p := filepath.Join(pc.Dir, "f")
	write(t, p, []byte("one"), true)
	syncDir(t, pc.Dir)
	for range 3 {
		write(t, filepath.Join(pc.Dir, "g"), []byte("lost"), false)
		if err := pc.Cut(); err != nil {
			t.Fatal(err)
		}
		if c, f := pc.Pending(); c != 0 || f != 0 {
			t.Fatalf("%d changes and %d files pending after a cut", c, f)
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != "one" {
			t.Fatalf("f holds %q, %v after the cut", got, err)
		}
	}
}
