package disk

import (
	"encoding/binary"
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
	checkSegments(t, b)
}

// checkSegments checks the segments against the index: every segment file is the active one
// or has an index entry, every entry has its file, no longer than its end for a sealed one;
// each entry's live bytes are the entries that records point at, all of them below its end.
func checkSegments(t *testing.T, b *Backend) {
	t.Helper()
	b.compactMu.Lock() // no compaction pass between reading the index and the directory
	defer b.compactMu.Unlock()
	infos := make(map[uint64]segInfo)
	live := make(map[uint64]int64)
	err := b.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(segmentsRoot).ForEach(func(k, v []byte) error {
			info, err := decodeSegInfo(v)
			infos[binary.BigEndian.Uint64(k)] = info
			return err
		}); err != nil {
			return err
		}
		objs := tx.Bucket(objectsRoot)
		return objs.ForEachBucket(func(bucket []byte) error {
			return objs.Bucket(bucket).ForEach(func(k, v []byte) error {
				rec, _, err := decodeRecord(v)
				if err != nil || rec.seg == 0 {
					return err
				}
				live[rec.seg] += entryLen(string(bucket), string(k), rec.size)
				if info := infos[rec.seg]; rec.off+rec.size > info.end {
					t.Errorf("%s/%s ends at %d in segment %x, past its end %d", bucket, k, rec.off+rec.size, rec.seg, info.end)
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, info := range infos {
		if info.live != live[id] {
			t.Errorf("segment %x: index says %d live bytes, records point at %d", id, info.live, live[id])
		}
	}
	for id := range live {
		if _, ok := infos[id]; !ok {
			t.Errorf("records point into segment %x, which the index does not know", id)
		}
	}
	files, err := os.ReadDir(filepath.Join(b.dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	b.segs.wmu.Lock()
	var active uint64
	if b.segs.active != nil {
		active = b.segs.active.id
	}
	b.segs.wmu.Unlock()
	onDisk := make(map[uint64]bool)
	for _, e := range files {
		id, ok := parseSegmentName(e.Name())
		if !ok {
			t.Errorf("unexpected file segments/%s", e.Name())
			continue
		}
		onDisk[id] = true
		info, known := infos[id]
		if !known && id != active {
			t.Errorf("segment file %s is neither active nor in the index", e.Name())
		}
		if fi, err := e.Info(); err == nil && known && fi.Size() < info.end {
			t.Errorf("segment %s holds %d bytes, its index entry ends at %d", e.Name(), fi.Size(), info.end)
		}
	}
	for id := range infos {
		if !onDisk[id] {
			t.Errorf("segment %x is in the index but not on disk", id)
		}
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
func TestBackendContractWithoutSegments(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return openChecked(t, Options{SmallMax: -1}) })
}

// With every object up to 64 MiB in segments of 256 KiB, the streamed path meets every case of
// the contract, its largest objects included, and segments roll all the time.
func TestBackendContractInSmallSegments(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return openChecked(t, Options{SmallMax: MaxSmallMax, SegmentSize: 256 << 10})
	})
}

func TestNonceStoreContract(t *testing.T) {
	storagetest.RunNonceStore(t, func(t *testing.T) storage.NonceStore { return openTest(t, Options{}) })
}
