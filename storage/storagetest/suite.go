// Package storagetest is the contract suite of storage.Backend and storage.NonceStore. Every
// implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Backend { return openBackend(t) })
//	}
//
// newBackend is called once per subtest and must return an empty backend whose cleanup is
// registered with t.Cleanup.
package storagetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"presign/storage"
)

// Run runs the Backend contract against backends made by newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	groups := []struct {
		name  string
		tests []namedTest
	}{
		{"Buckets", bucketTests},
		{"Objects", objectTests},
		{"Range", rangeTests},
		{"FailedPut", failedPutTests},
		{"Conditions", conditionTests},
		{"List", listTests},
		{"Concurrency", concurrencyTests},
		{"Multipart", multipartTests}, // skipped unless the backend is a storage.Multiparter
		{"BucketPolicy", policyTests}, // skipped unless the backend is a storage.BucketPolicyStore
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newBackend(t)) })
			}
		})
	}
}

type namedTest struct {
	name string
	run  func(t *testing.T, be storage.Backend)
}

// Sizes around the thresholds a backend is likely to have: tiny, one page, an inline limit of
// 64 KiB, a copy buffer of 256 KiB, and beyond 1 MiB.
var (
	smallSize = 3000
	largeSize = 1<<20 + 17
	sizes     = []int{0, 1, 4096, 64<<10 - 1, 64 << 10, 64<<10 + 1, 256<<10 + 1, largeSize}
)

// content returns n pseudo-random bytes determined by seed.
func content(seed string, n int) []byte {
	h := sha256.Sum256([]byte(seed))
	r := rand.NewChaCha8(h)
	b := make([]byte, n)
	r.Read(b)
	return b
}

// newBody is a checked body of data with its size declared.
func newBody(data []byte) storage.Body {
	return storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))})
}

func md5Hex(data []byte) string {
	s := md5.Sum(data)
	return hex.EncodeToString(s[:])
}

func mustCreateBucket(t *testing.T, be storage.Backend, name string) {
	t.Helper()
	if err := be.CreateBucket(t.Context(), name); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

// newBucket creates the bucket "bucket" and returns its name.
func newBucket(t *testing.T, be storage.Backend) string {
	t.Helper()
	mustCreateBucket(t, be, "bucket")
	return "bucket"
}

func mustPut(t *testing.T, be storage.Backend, bucket, key string, data []byte, opts storage.PutOptions) storage.ObjectInfo {
	t.Helper()
	info, err := be.PutObject(t.Context(), bucket, key, newBody(data), opts)
	if err != nil {
		t.Fatalf("PutObject(%q, %d bytes): %v", key, len(data), err)
	}
	return info
}

// readAll reads every byte of obj through Range.
func readAll(ctx context.Context, obj storage.Object) ([]byte, error) {
	rc, err := obj.Range(ctx, 0, obj.Info().Size)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return data, err
}

// get opens bucket/key and returns its info and bytes.
func get(ctx context.Context, be storage.Backend, bucket, key string) (storage.ObjectInfo, []byte, error) {
	obj, err := be.GetObject(ctx, bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	data, err := readAll(ctx, obj)
	if cerr := obj.Close(); err == nil {
		err = cerr
	}
	return obj.Info(), data, err
}

func mustGet(t *testing.T, be storage.Backend, bucket, key string) (storage.ObjectInfo, []byte) {
	t.Helper()
	info, data, err := get(t.Context(), be, bucket, key)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	return info, data
}

// wantContent fails t unless bucket/key holds exactly data.
func wantContent(t *testing.T, be storage.Backend, bucket, key string, data []byte) {
	t.Helper()
	info, got := mustGet(t, be, bucket, key)
	if !bytes.Equal(got, data) {
		t.Fatalf("%q holds %d bytes (md5 %s), want %d bytes (md5 %s)", key, len(got), md5Hex(got), len(data), md5Hex(data))
	}
	if info.Size != int64(len(data)) || info.ETag != md5Hex(data) {
		t.Fatalf("%q: info says size %d etag %s, want %d %s", key, info.Size, info.ETag, len(data), md5Hex(data))
	}
}

// wantMissing fails t unless bucket/key is absent for both HeadObject and GetObject.
func wantMissing(t *testing.T, be storage.Backend, bucket, key string) {
	t.Helper()
	if _, err := be.HeadObject(t.Context(), bucket, key); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("HeadObject(%q) error = %v, want ErrNoSuchKey", key, err)
	}
	if obj, err := be.GetObject(t.Context(), bucket, key); !errors.Is(err, storage.ErrNoSuchKey) {
		if err == nil {
			obj.Close()
		}
		t.Fatalf("GetObject(%q) error = %v, want ErrNoSuchKey", key, err)
	}
}

// listAll returns every key of bucket, paging with MaxKeys 1000.
func listAll(t *testing.T, be storage.Backend, bucket string) []string {
	t.Helper()
	var keys []string
	opts := storage.ListOptions{MaxKeys: 1000}
	for {
		page, err := be.ListObjects(t.Context(), bucket, opts)
		if err != nil {
			t.Fatalf("ListObjects: %v", err)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		if !page.Truncated {
			return keys
		}
		opts.After = page.NextAfter
	}
}

// nearNow fails t unless ts lies between before and after, give or take the second that
// backends keeping whole seconds may drop.
func nearNow(t *testing.T, what string, ts, before, after time.Time) {
	t.Helper()
	if ts.Before(before.Add(-time.Second)) || ts.After(after.Add(time.Second)) {
		t.Errorf("%s = %v, want between %v and %v", what, ts, before, after)
	}
}

// versionContent is a 16-byte header naming writer w's i-th version, followed by bytes derived from
// it, so that a reader can tell a whole version from a torn one.
func versionContent(w, i, n int) []byte {
	hdr := make([]byte, 16)
	binary.BigEndian.PutUint64(hdr, uint64(w))
	binary.BigEndian.PutUint64(hdr[8:], uint64(i))
	return append(hdr, content(string(hdr), n)...)
}

// wholeVersion reports whether data is a complete versionContent of the given body length.
func wholeVersion(data []byte, n int) bool {
	if len(data) != 16+n {
		return false
	}
	return bytes.Equal(data[16:], content(string(data[:16]), n))
}
