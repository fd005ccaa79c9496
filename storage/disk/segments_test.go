package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// segmentIDs lists the segment files under dir, sorted.
func segmentIDs(t *testing.T, dir string) []uint64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, e := range entries {
		if id, ok := parseSegmentName(e.Name()); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func segInfoOf(t *testing.T, b *Backend, id uint64) (segInfo, bool) {
	t.Helper()
	var info segInfo
	var ok bool
	if err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(segmentsRoot).Get(segKey(id))
		if v == nil {
			return nil
		}
		ok = true
		var err error
		info, err = decodeSegInfo(v)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return info, ok
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestSmallObjectsLiveInSegmentsNotInTheIndex: the index of a store of 500 objects of 4 KiB
// stays a small fraction of their bytes, which are in segment files, and every object reads
// back, also after reopening.
func TestSmallObjectsLiveInSegmentsNotInTheIndex(t *testing.T) {
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir}))
	const n, size = 500, 4 << 10
	for i := range n {
		putBytes(t, b, fmt.Sprint("k", i), bytes.Repeat([]byte{byte(i)}, size))
	}
	if ids := segmentIDs(t, dir); len(ids) != 1 {
		t.Fatalf("%d segments, want 1", len(ids))
	}
	var index int64 // pages in use: the file itself grows by bbolt's AllocSize
	b.db.View(func(tx *bolt.Tx) error { index = tx.Size(); return nil })
	if index > n*size/8 {
		t.Fatalf("the index takes %d bytes for %d bytes of objects", index, n*size)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openChecked(t, Options{Dir: dir})
	for i := range n {
		if got := readBytes(t, b, fmt.Sprint("k", i)); !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, size)) {
			t.Fatalf("k%d reads back %d bytes, not its own", i, len(got))
		}
	}
	t.Logf("index %d KiB for %d MiB of objects", index>>10, n*size>>20)
}

func TestEmptyObjectTakesNoSegmentSpace(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	putBytes(t, b, "empty", nil)
	if got := readBytes(t, b, "empty"); len(got) != 0 {
		t.Fatalf("empty object reads %d bytes", len(got))
	}
	if ids := segmentIDs(t, b.dir); len(ids) != 0 {
		t.Fatalf("an empty object created %d segments", len(ids))
	}
}

// TestSegmentsRollAtTheirSize: with 16 KiB segments, 3 KiB objects fill several, each takes
// entries up to its size (one more when empty), and all objects read back.
func TestSegmentsRollAtTheirSize(t *testing.T) {
	const segSize = 16 << 10
	b := withBucket(t, openChecked(t, Options{SegmentSize: segSize}))
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprint("k", i))
		putBytes(t, b, keys[i], bytes.Repeat([]byte{byte(i)}, 3<<10))
	}
	putBytes(t, b, "larger-than-a-segment", bytes.Repeat([]byte("L"), 20<<10))
	ids := segmentIDs(t, b.dir)
	if len(ids) < 8 {
		t.Fatalf("%d segments of %d bytes for 120 KiB", len(ids), segSize)
	}
	for _, id := range ids {
		if size := fileSize(t, b.segs.path(id)); size > segSize && size > 20<<10+64 {
			t.Errorf("segment %x holds %d bytes", id, size)
		}
	}
	for i, k := range keys {
		if got := readBytes(t, b, k); !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 3<<10)) {
			t.Fatalf("%s does not read back", k)
		}
	}
}

// TestOpenCutsUncommittedTailsAndRemovesUnreferencedSegments plants what a crash leaves
// under segments/: entries written but never committed at the end of a segment, a segment
// that no record ever pointed at, a segment emptied by deletes but not removed. Open removes
// or cuts each, keeps every object, and appends after the last committed entry.
func TestOpenCutsUncommittedTailsAndRemovesUnreferencedSegments(t *testing.T) {
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir, SegmentSize: 64 << 10}))
	data := bytes.Repeat([]byte("d"), 40<<10)
	putBytes(t, b, "first", data)
	putBytes(t, b, "doomed", data) // in a second segment, then deleted
	putBytes(t, b, "third", data)
	if _, err := b.DeleteObject(t.Context(), "b", "doomed"); err != nil {
		t.Fatal(err)
	}
	ids := segmentIDs(t, dir)
	if len(ids) != 3 {
		t.Fatalf("%d segments, want 3", len(ids))
	}
	last := ids[2]
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	end := fileSize(t, filepath.Join(dir, "segments", segmentName(last)))
	f, err := os.OpenFile(filepath.Join(dir, "segments", segmentName(last)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(makeEntry("b", "never-committed", []byte("tail")))
	f.Close()
	stray := filepath.Join(dir, "segments", segmentName(last+1000))
	os.WriteFile(stray, makeEntry("b", "x", []byte("never referenced")), 0o600)

	b = withBucket(t, openChecked(t, Options{Dir: dir, SegmentSize: 64 << 10}))
	if got := segmentIDs(t, dir); !slices.Equal(got, []uint64{ids[0], last}) {
		t.Fatalf("segments after Open %x, want %x (the emptied one and the stray one removed)", got, []uint64{ids[0], last})
	}
	if _, ok := segInfoOf(t, b, ids[1]); ok {
		t.Error("the emptied segment is still in the index")
	}
	if size := fileSize(t, b.segs.path(last)); size != end {
		t.Fatalf("last segment holds %d bytes after Open, want %d: the uncommitted tail was not cut", size, end)
	}
	for _, k := range []string{"first", "third"} {
		if !bytes.Equal(readBytes(t, b, k), data) {
			t.Fatalf("%s damaged", k)
		}
	}
	// The last segment had room: it takes the next entry right after its end.
	putBytes(t, b, "fourth", []byte("small"))
	if got := segmentIDs(t, dir); !slices.Equal(got, []uint64{ids[0], last}) {
		t.Fatalf("after another put the segments are %x", got)
	}
	if info, _ := segInfoOf(t, b, last); info.end != end+entryLen("b", "fourth", 5) {
		t.Fatalf("the next entry ends at %d, want %d", info.end, end+entryLen("b", "fourth", 5))
	}
	if !bytes.Equal(readBytes(t, b, "fourth"), []byte("small")) {
		t.Fatal("fourth does not read back")
	}
}

// TestRecordsOfEarlierStoresStayReadable builds a store as the version before segments wrote
// it (index format 1, bytes inline in version 1 and 2 records), opens it, reads its objects,
// and replaces and deletes them.
func TestRecordsOfEarlierStoresStayReadable(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2 := record{size: 5, seq: 1, modified: time.Unix(1, 0).UTC(), etag: "5d41402abc4b2a76b9719d911017c592"}
	v1 := v2.encode(nil, []byte("hello"))
	v1[0] = recordVersionV1
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketsRoot, filesRoot, noncesRoot, nonceExpRoot, uploadsRoot, partsRoot, doneRoot} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta, _ := tx.CreateBucket(metaRoot)
		meta.Put(formatKey, binary.BigEndian.AppendUint64(nil, indexFormatV1))
		tx.Bucket(bucketsRoot).Put([]byte("b"), binary.BigEndian.AppendUint64(nil, 1))
		objs, _ := tx.CreateBucket(objectsRoot)
		bk, _ := objs.CreateBucket([]byte("b"))
		bk.Put([]byte("v1"), v1)
		return bk.Put([]byte("v2"), v2.encode(nil, []byte("hello")))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b := openChecked(t, Options{Dir: dir})
	for _, k := range []string{"v1", "v2"} {
		if got := readBytes(t, b, k); string(got) != "hello" {
			t.Fatalf("%s of an earlier store reads %q", k, got)
		}
	}
	putBytes(t, b, "v1", []byte("replaced"))
	if _, err := b.DeleteObject(t.Context(), "b", "v2"); err != nil {
		t.Fatal(err)
	}
	if got := readBytes(t, b, "v1"); string(got) != "replaced" {
		t.Fatalf("v1 reads %q after its replace", got)
	}
	if err := b.db.View(func(tx *bolt.Tx) error {
		if f := tx.Bucket(metaRoot).Get(formatKey); binary.BigEndian.Uint64(f) != indexFormat {
			return fmt.Errorf("index format %x after Open", f)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestBrokenSegmentFailsItsWritesAndIsReplaced: once a segment's write or sync has failed,
// commits of entries written to it fail, the next write goes to a new segment, and objects
// committed before stay readable.
func TestBrokenSegmentFailsItsWritesAndIsReplaced(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	putBytes(t, b, "before", []byte("committed before the failure"))
	w, err := b.segs.write(makeEntry("b", "doomed", []byte("written, not yet committed")))
	if err != nil {
		t.Fatal(err)
	}
	errDisk := errors.New("simulated EIO")
	w.f.fail(errDisk)
	err = b.commit.do(func(tx *bolt.Tx) error { return errors.New("must not be applied") }, 1, w.f)
	if !errors.Is(err, errDisk) {
		t.Fatalf("commit naming a broken segment: %v, want its failure", err)
	}
	w.done()
	putBytes(t, b, "after", []byte("written after the failure"))
	if ids := segmentIDs(t, b.dir); len(ids) != 2 {
		t.Fatalf("%d segments, want the broken one and its successor", len(ids))
	}
	if got := readBytes(t, b, "before"); string(got) != "committed before the failure" {
		t.Fatalf("before reads %q", got)
	}
	if got := readBytes(t, b, "after"); string(got) != "written after the failure" {
		t.Fatalf("after reads %q", got)
	}
}

// TestPutToAMissingOrOverlongBucketStoresNothing: a small write to a bucket that does not
// exist fails before it spends segment space on a name the entry could not hold.
func TestPutToAMissingOrOverlongBucketStoresNothing(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	for _, bucket := range []string{"nope", string(bytes.Repeat([]byte("b"), 300))} {
		_, err := b.PutObject(t.Context(), bucket, "k", storage.NewBody(bytes.NewReader([]byte("x")), storage.BodyOptions{Size: 1}), storage.PutOptions{})
		if !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Fatalf("PutObject to a %d-byte missing bucket: %v", len(bucket), err)
		}
	}
}

// TestRangesOfSegmentObjectsRead reads ranges of a small object (pread through the shared
// handle) and of a streamed one (sendfile from a descriptor of its own when copied) both with
// Read and with io.Copy, which uses WriteTo.
func TestRangesOfSegmentObjectsRead(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	for _, size := range []int{4 << 10, 700 << 10} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7 / 3)
		}
		key := fmt.Sprint("k", size)
		putBytes(t, b, key, data)
		obj, err := b.GetObject(t.Context(), "b", key)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range [][2]int{{0, size}, {1, size - 1}, {size / 3, size / 2}, {size - 1, 1}, {5, 0}} {
			for _, copied := range []bool{false, true} {
				rc, err := obj.Range(t.Context(), int64(r[0]), int64(r[1]))
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				if copied {
					_, err = io.Copy(&got, rc)
				} else {
					_, err = got.ReadFrom(struct{ io.Reader }{rc})
				}
				rc.Close()
				if err != nil || !bytes.Equal(got.Bytes(), data[r[0]:r[0]+r[1]]) {
					t.Fatalf("%d-byte object, range %d+%d (copied %v): %d bytes, %v", size, r[0], r[1], copied, got.Len(), err)
				}
			}
		}
		obj.Close()
	}
}
