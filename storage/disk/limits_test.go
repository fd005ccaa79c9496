package disk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"presign/storage"
)

// TestFullDiskFailsCleanly fills a 4 MiB tmpfs: the put that does not fit fails with
// ErrStorageFull and leaves nothing behind, the objects before it stay readable, and freeing
// space makes puts work again.
func TestFullDiskFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a 4 MiB tmpfs to fill: %v", err)
		}
		t.Skipf("cannot mount a small tmpfs to fill (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	b := withBucket(t, openTest(t, Options{Dir: dir}))
	data := bytes.Repeat([]byte("f"), 512<<10)
	var stored []string
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%d", i)
		_, err := b.PutObject(t.Context(), "b", key, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), storage.PutOptions{})
		if err == nil {
			stored = append(stored, key)
			if i > 16 {
				t.Fatal("a 4 MiB filesystem took more than 8 MiB")
			}
			continue
		}
		if !errors.Is(err, storage.ErrStorageFull) {
			t.Fatalf("PutObject on a full disk: %v, want ErrStorageFull", err)
		}
		break
	}
	// Without a declared size the disk fills in the middle of the body.
	_, err := b.PutObject(t.Context(), "b", "unknown", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: -1}), storage.PutOptions{})
	if !errors.Is(err, storage.ErrStorageFull) {
		t.Fatalf("PutObject of unknown size on a full disk: %v, want ErrStorageFull", err)
	}
	// Inline objects fill the index itself: its commit fails, and the index must survive that.
	small := bytes.Repeat([]byte("s"), 60<<10)
	for i := 0; ; i++ {
		_, err := b.PutObject(t.Context(), "b", fmt.Sprintf("small%d", i), storage.NewBody(bytes.NewReader(small), storage.BodyOptions{Size: int64(len(small))}), storage.PutOptions{})
		if errors.Is(err, storage.ErrStorageFull) {
			break
		}
		if err != nil || i > 64 {
			t.Fatalf("inline PutObject %d on a full disk: %v, want ErrStorageFull by now", i, err)
		}
		stored = append(stored, fmt.Sprintf("small%d", i))
	}
	checkNoGarbage(t, b)
	if err := b.Close(); err != nil {
		t.Fatalf("Close after a failed commit: %v", err)
	}
	b = openTest(t, Options{Dir: dir})
	if len(stored) == 0 {
		t.Fatal("nothing fit")
	}
	t.Logf("%d objects fit", len(stored))
	for _, key := range stored {
		if got := readBytes(t, b, key); !bytes.Equal(got, data) && !bytes.Equal(got, small) {
			t.Fatalf("%s damaged by the full disk", key)
		}
	}
	if _, err := b.DeleteObject(t.Context(), "b", stored[0]); err != nil {
		t.Fatalf("DeleteObject on a full disk: %v", err)
	}
	putBytes(t, b, "after", data)
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
