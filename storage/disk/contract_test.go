package disk

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
	"presign/storage/storagetest"
)

// openTest opens a Backend on a fresh directory (or opts.Dir) and closes it when t ends.
func openTest(t testing.TB, opts Options) *Backend {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	b, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// openChecked is openTest, and when t ends (before the Backend closes) it checks that no
// garbage is left: tmp/ is empty, and objects/ holds exactly the files the index points to.
func openChecked(t *testing.T, opts Options) *Backend {
	b := openTest(t, opts)
	t.Cleanup(func() { checkNoGarbage(t, b) })
	return b
}

func checkNoGarbage(t *testing.T, b *Backend) {
	t.Helper()
	if tmp, err := os.ReadDir(filepath.Join(b.dir, "tmp")); err != nil || len(tmp) != 0 {
		t.Errorf("tmp/ holds %d entries (%v), want none", len(tmp), err)
	}
	onDisk := objectFiles(t, b.dir)
	var indexed []string
	if err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(filesRoot).ForEach(func(k, _ []byte) error {
			indexed = append(indexed, string(k))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(onDisk, indexed) {
		t.Errorf("objects/ holds %d files, the index names %d:\non disk %q\nindexed %q", len(onDisk), len(indexed), onDisk, indexed)
	}
}

// objectFiles lists the names of the files under dir/objects, sorted.
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(filepath.Join(dir, "objects"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, d.Name())
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func TestBackendContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return openChecked(t, Options{}) })
}

// With every object in a file of its own, the large-object path meets every case of the
// contract, small objects included.
func TestBackendContractWithoutInlining(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return openChecked(t, Options{InlineMax: -1}) })
}

func TestNonceStoreContract(t *testing.T) {
	storagetest.RunNonceStore(t, func(t *testing.T) storage.NonceStore { return openTest(t, Options{}) })
}
