package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"presign/storage"
)

// TestFullDiskFailsCleanly fills an 8 MiB tmpfs: the put that does not fit fails with
// ErrStorageFull and leaves nothing behind, the objects before it stay readable, and freeing
// space makes puts work again: at once for an object in a file of its own, once compaction
// has emptied their segments for objects in segments.
func TestFullDiskFailsCleanly(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	opts := Options{Dir: dir, SegmentSize: 512 << 10}
	b := withBucket(t, openTest(t, opts))
	large := bytes.Repeat([]byte("f"), DefaultSmallMax+64<<10) // a file of its own
	small := bytes.Repeat([]byte("s"), 60<<10)                 // read whole, one pwrite
	medium := bytes.Repeat([]byte("m"), 300<<10)               // streamed into its range
	content := map[string][]byte{}
	put := func(key string, data []byte, size int64) error {
		_, err := b.PutObject(t.Context(), "b", key, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: size}), storage.PutOptions{})
		if err == nil {
			content[key] = data
		}
		return err
	}
	for i := range 6 {
		if err := put(fmt.Sprint("small", i), small, int64(len(small))); err != nil {
			t.Fatal(err)
		}
		if err := put(fmt.Sprint("medium", i), medium, int64(len(medium))); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	for i := 0; ; i++ {
		key := fmt.Sprint("large", i)
		err := put(key, large, int64(len(large)))
		if err == nil {
			files = append(files, key)
			if i > 8 {
				t.Fatal("an 8 MiB filesystem took more than 16 MiB")
			}
			continue
		}
		if !errors.Is(err, storage.ErrStorageFull) {
			t.Fatalf("PutObject on a full disk: %v, want ErrStorageFull", err)
		}
		break
	}
	if len(files) == 0 {
		t.Fatal("no file fit")
	}
	for _, tc := range []struct {
		name string
		data []byte
		size int64
	}{
		{"a body of unknown size, filling the disk in the middle", large, -1},
		{"a medium body, streamed into its range", medium, int64(len(medium))},
		{"a small body", small, int64(len(small))},
	} {
		// Whatever room is left may take one more small object: fill it first.
		for i := 0; i < 8 && put(fmt.Sprint("fill-", tc.name, i), tc.data, tc.size) == nil; i++ {
		}
		if err := put("refused", tc.data, tc.size); !errors.Is(err, storage.ErrStorageFull) {
			t.Fatalf("%s on a full disk: %v, want ErrStorageFull", tc.name, err)
		}
	}
	checkNoGarbage(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("Close after failed writes: %v", err)
	}
	b = openTest(t, opts)
	t.Logf("%d objects fit, %d of them in files", len(content), len(files))
	for key, data := range content {
		if !bytes.Equal(readBytes(t, b, key), data) {
			t.Fatalf("%s damaged by the full disk", key)
		}
	}
	if _, err := b.DeleteObject(t.Context(), "b", files[0]); err != nil {
		t.Fatalf("DeleteObject on a full disk: %v", err)
	}
	putBytes(t, b, "after", large)
	for key := range content {
		if !strings.HasPrefix(key, "large") && !strings.HasPrefix(key, "fill-a body of unknown") {
			if _, err := b.DeleteObject(t.Context(), "b", key); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := b.compact(t.Context()); err != nil {
		t.Fatalf("compaction on a full disk: %v", err)
	}
	putBytes(t, b, "again", medium)
	putBytes(t, b, "again-small", small)
	checkNoGarbage(t, b)
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestObjectLargerThanTheFreeSpaceIsRefusedUnread: a declared size no filesystem here has
// room for fails with ErrStorageFull before a byte of the body is read, and leaves nothing.
func TestObjectLargerThanTheFreeSpaceIsRefusedUnread(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("free space is looked up on Linux only")
	}
	b := withBucket(t, openTest(t, Options{}))
	body := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	_, err := b.PutObject(t.Context(), "b", "huge", storage.NewBody(body, storage.BodyOptions{Size: 1 << 60}), storage.PutOptions{})
	if !errors.Is(err, storage.ErrStorageFull) {
		t.Fatalf("PutObject of an exbibyte: %v, want ErrStorageFull", err)
	}
	if body.n != 0 {
		t.Fatalf("%d bytes of the body were read before the refusal", body.n)
	}
	checkNoGarbage(t, b)
}

func TestInvalidNamesAreRefused(t *testing.T) {
	b := withBucket(t, openChecked(t, Options{}))
	for _, key := range []string{"", strings.Repeat("k", MaxKeyLen+1)} {
		_, err := b.PutObject(t.Context(), "b", key, storage.NewBody(strings.NewReader("x"), storage.BodyOptions{Size: 1}), storage.PutOptions{})
		if !errors.Is(err, ErrInvalidKey) {
			t.Errorf("PutObject with a %d-byte key: error = %v, want ErrInvalidKey", len(key), err)
		}
	}
	for _, name := range []string{"", strings.Repeat("b", 256)} {
		if err := b.CreateBucket(t.Context(), name); !errors.Is(err, ErrInvalidBucket) {
			t.Errorf("CreateBucket with a %d-byte name: error = %v, want ErrInvalidBucket", len(name), err)
		}
	}
	if list, err := b.ListBuckets(t.Context()); err != nil || len(list) != 1 {
		t.Fatalf("ListBuckets = %v, %v; want only b", list, err)
	}
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	for i := range b {
		b[i] = byte(i)
	}
	p.n -= int64(len(b))
	return len(b), nil
}

// TestLargePutAllocatesLittle: a 64 MiB put allocates about one copy buffer, not the object.
func TestLargePutAllocatesLittle(t *testing.T) {
	b := withBucket(t, openTest(t, Options{}))
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	body := storage.NewBody(&patternReader{n: size}, storage.BodyOptions{Size: size})
	if _, err := b.PutObject(t.Context(), "b", "big", body, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	t.Logf("allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Fatalf("a %d MiB put allocated %d KiB", size>>20, alloc>>10)
	}
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	b, err := Open(t.Context(), Options{Dir: t.TempDir(), NonceSweepInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	withBucket(t, b)
	putBytes(t, b, "k", bytes.Repeat([]byte("x"), 100<<10))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before Open, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
