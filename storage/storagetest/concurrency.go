package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"presign/storage"
)

var concurrencyTests = []namedTest{
	{"DistinctKeysFromManyGoroutines", testConcurrentDistinctKeys},
	{"SameKeyReadersSeeWholeVersions", testConcurrentSameKey},
}

func testConcurrentDistinctKeys(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	const workers, perWorker = 16, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				key := fmt.Sprintf("w%02d/%02d", w, i)
				size := smallSize + i
				if (w+i)%7 == 0 {
					size = 300 << 10
				}
				data := content(key, size)
				if _, err := be.PutObject(t.Context(), bucket, key, newBody(data), storage.PutOptions{}); err != nil {
					t.Errorf("PutObject(%q): %v", key, err)
					return
				}
				_, got, err := get(t.Context(), be, bucket, key)
				if err != nil || string(got) != string(data) {
					t.Errorf("GetObject(%q) right after its put: %d bytes, %v", key, len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if keys := listAll(t, be, bucket); len(keys) != workers*perWorker {
		t.Fatalf("listed %d keys, want %d", len(keys), workers*perWorker)
	}
}

// testConcurrentSameKey has writers replace and delete one key while readers read it: every
// read must see one whole version, never a mix, and the info must describe those bytes.
func testConcurrentSameKey(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	const writers, readers, rounds = 6, 6, 8
	bodyLen := func(w int) int {
		if w%2 == 0 {
			return 200 << 10
		}
		return smallSize
	}
	var (
		wg        sync.WaitGroup
		writersWG sync.WaitGroup
		reads     atomic.Int64
	)
	for w := range writers {
		writersWG.Go(func() {
			for i := range rounds {
				if w == 0 && i%3 == 2 {
					if _, err := be.DeleteObject(t.Context(), bucket, "hot"); err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
						t.Errorf("DeleteObject: %v", err)
					}
					continue
				}
				if _, err := be.PutObject(t.Context(), bucket, "hot", newBody(versionContent(w, i, bodyLen(w))), storage.PutOptions{}); err != nil {
					t.Errorf("PutObject: %v", err)
				}
			}
		})
	}
	done := make(chan struct{})
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				info, data, err := get(t.Context(), be, bucket, "hot")
				if errors.Is(err, storage.ErrNoSuchKey) {
					continue
				}
				if err != nil {
					t.Errorf("GetObject: %v", err)
					return
				}
				reads.Add(1)
				if len(data) < 16 {
					t.Errorf("read %d bytes, shorter than any version", len(data))
					return
				}
				w := int(data[7])
				if !wholeVersion(data, bodyLen(w)) || info.ETag != md5Hex(data) || info.Size != int64(len(data)) {
					t.Errorf("read a torn or mislabelled version: %d bytes, ETag %s, size %d", len(data), info.ETag, info.Size)
					return
				}
			}
		})
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	t.Logf("%d reads found a version", reads.Load())
	info, data, err := get(t.Context(), be, bucket, "hot")
	if err != nil {
		t.Fatalf("final GetObject: %v", err)
	}
	if len(data) < 16 || !wholeVersion(data, bodyLen(int(data[7]))) || info.ETag != md5Hex(data) {
		t.Fatalf("final version is torn: %d bytes", len(data))
	}
}
