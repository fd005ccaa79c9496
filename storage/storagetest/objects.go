package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"presign/storage"
)

var objectTests = []namedTest{
	{"RoundTripKeepsBytesMetadataChecksums", testRoundTrip},
	{"RoundTripUnknownSize", testRoundTripUnknownSize},
	{"ReplaceSwapsBytesAndMetadata", testReplace},
	{"DeleteRemovesAndReportsRemoved", testDelete},
	{"MissingKeyErrors", testMissingKey},
	{"KeysAreOpaqueStrings", testKeyShapes},
	{"SequencerGrowsWithEveryChange", testSequencer},
	{"OpenObjectKeepsItsVersion", testOpenObjectKeepsVersion},
	{"TooLongKeyRefused", testTooLongKeyRefused},
}

var fullMeta = storage.Metadata{
	ContentType:        "video/mp4",
	ContentEncoding:    "identity",
	ContentDisposition: `attachment; filename="a b.mp4"`,
	ContentLanguage:    "de-CH",
	CacheControl:       "max-age=60",
	Expires:            "Wed, 21 Oct 2015 07:28:00 GMT",
	User:               map[string]string{"owner": "ünïcode", "empty": "", "x-y": "1"},
}

// wantInfo fails t unless info describes data stored with meta and checksums at bucket/key.
func wantInfo(t *testing.T, call string, info storage.ObjectInfo, key string, data []byte, meta storage.Metadata, checksums map[string]string) {
	t.Helper()
	if info.Bucket != "bucket" || info.Key != key {
		t.Errorf("%s: bucket/key = %q/%q, want bucket/%q", call, info.Bucket, info.Key, key)
	}
	if info.Size != int64(len(data)) {
		t.Errorf("%s: Size = %d, want %d", call, info.Size, len(data))
	}
	if info.ETag != md5Hex(data) {
		t.Errorf("%s: ETag = %q, want %q", call, info.ETag, md5Hex(data))
	}
	if !metaEqual(info.Meta, meta) {
		t.Errorf("%s: Meta = %+v, want %+v", call, info.Meta, meta)
	}
	if len(info.Checksums)+len(checksums) > 0 && !maps.Equal(info.Checksums, checksums) {
		t.Errorf("%s: Checksums = %v, want %v", call, info.Checksums, checksums)
	}
}

// metaEqual compares metadata, taking a nil and an empty User map as equal.
func metaEqual(a, b storage.Metadata) bool {
	if len(a.User)+len(b.User) == 0 {
		a.User, b.User = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func testRoundTrip(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := fmt.Sprintf("objects/%d.bin", size)
			data := content(key, size)
			body := storage.NewBody(bytes.NewReader(data), storage.BodyOptions{
				Size:    int64(size),
				Compute: []string{"SHA256", "CRC32C"},
			})
			before := time.Now()
			put, err := be.PutObject(t.Context(), bucket, key, body, storage.PutOptions{Meta: fullMeta})
			after := time.Now()
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			sums := body.Sums().Checksums
			if len(sums) != 2 {
				t.Fatalf("the body computed checksums %v", sums)
			}
			wantInfo(t, "PutObject", put, key, data, fullMeta, sums)
			nearNow(t, "LastModified", put.LastModified, before, after)

			head, err := be.HeadObject(t.Context(), bucket, key)
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			wantInfo(t, "HeadObject", head, key, data, fullMeta, sums)
			if !head.LastModified.Equal(put.LastModified) {
				t.Errorf("HeadObject LastModified = %v, PutObject said %v", head.LastModified, put.LastModified)
			}
			info, got := mustGet(t, be, bucket, key)
			wantInfo(t, "GetObject", info, key, data, fullMeta, sums)
			if !bytes.Equal(got, data) {
				t.Fatalf("GetObject returned %d bytes (md5 %s), want %d (md5 %s)", len(got), md5Hex(got), len(data), md5Hex(data))
			}
		})
	}
}

func testRoundTripUnknownSize(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := fmt.Sprintf("unknown/%d", size)
			data := content(key, size)
			// HalfReader hands the bytes over in uneven pieces, as a network body does.
			body := storage.NewBody(iotest.HalfReader(bytes.NewReader(data)), storage.BodyOptions{Size: -1})
			put, err := be.PutObject(t.Context(), bucket, key, body, storage.PutOptions{})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			wantInfo(t, "PutObject", put, key, data, storage.Metadata{}, nil)
			wantContent(t, be, bucket, key, data)
		})
	}
}

func testReplace(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	// Every pair of size classes, so that a backend storing small and large objects apart
	// replaces each kind by each kind.
	for _, from := range []int{smallSize, largeSize} {
		for _, to := range []int{smallSize, largeSize} {
			t.Run(fmt.Sprintf("%dto%d", from, to), func(t *testing.T) {
				key := fmt.Sprintf("replace/%d/%d", from, to)
				old := content(key+"old", from)
				body := storage.NewBody(bytes.NewReader(old), storage.BodyOptions{Size: int64(from), Compute: []string{"SHA1"}})
				if _, err := be.PutObject(t.Context(), bucket, key, body, storage.PutOptions{Meta: fullMeta}); err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				data := content(key+"new", to)
				meta := storage.Metadata{ContentType: "text/plain"}
				mustPut(t, be, bucket, key, data, storage.PutOptions{Meta: meta})
				info, got := mustGet(t, be, bucket, key)
				if !bytes.Equal(got, data) {
					t.Fatalf("GetObject after replace returned %d bytes, want the %d new ones", len(got), len(data))
				}
				wantInfo(t, "GetObject", info, key, data, meta, nil)
			})
		}
	}
	if keys := listAll(t, be, bucket); len(keys) != 4 {
		t.Fatalf("after replacing, the bucket lists %q, want 4 keys", keys)
	}
}

func testDelete(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range []int{0, smallSize, largeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := fmt.Sprintf("delete/%d", size)
			data := content(key, size)
			put := mustPut(t, be, bucket, key, data, storage.PutOptions{Meta: fullMeta})
			del, err := be.DeleteObject(t.Context(), bucket, key)
			if err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			wantInfo(t, "DeleteObject", del, key, data, fullMeta, nil)
			if del.Sequencer <= put.Sequencer {
				t.Errorf("DeleteObject Sequencer %d not greater than PutObject's %d", del.Sequencer, put.Sequencer)
			}
			wantMissing(t, be, bucket, key)
			if _, err := be.DeleteObject(t.Context(), bucket, key); !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("second DeleteObject error = %v, want ErrNoSuchKey", err)
			}
		})
	}
	if keys := listAll(t, be, bucket); len(keys) != 0 {
		t.Fatalf("after deleting every object the bucket lists %q", keys)
	}
}

func testMissingKey(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	mustPut(t, be, bucket, "a/b", []byte("x"), storage.PutOptions{})
	for _, key := range []string{"a", "a/", "a/b/", "A/B", "a/b ", "missing"} {
		wantMissing(t, be, bucket, key)
		if _, err := be.DeleteObject(t.Context(), bucket, key); !errors.Is(err, storage.ErrNoSuchKey) {
			t.Errorf("DeleteObject(%q) error = %v, want ErrNoSuchKey", key, err)
		}
	}
	wantContent(t, be, bucket, "a/b", []byte("x"))
}

// oddKeys are keys that would break a backend mapping keys to file names.
var oddKeys = []string{
	"../x", "../../etc/passwd", "./y", ".", "..", "a", "a/b", "a/b/c", "a+b", "a b", "a//b", "/lead",
	"trail/", "back\\slash", "tab\tkey", "new\nline", "%2F", "ü/ñ", "日本語/ファイル.txt", "😀",
	"nul-free but long " + strings.Repeat("x", 1024-18),
	strings.Repeat("é", 512),
}

func testKeyShapes(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	keys := fitKeys(be, bucket, oddKeys)
	for i, key := range keys {
		if len(key) > 1024 {
			t.Fatalf("test key %d is %d bytes", i, len(key))
		}
		size := smallSize
		if i%4 == 0 {
			size = 300 << 10 // some of them in the large-object path
		}
		mustPut(t, be, bucket, key, content(key, size), storage.PutOptions{})
	}
	for i, key := range keys {
		size := smallSize
		if i%4 == 0 {
			size = 300 << 10
		}
		wantContent(t, be, bucket, key, content(key, size))
	}
	if got, want := listAll(t, be, bucket), slices.Sorted(slices.Values(keys)); !slices.Equal(got, want) {
		t.Fatalf("ListObjects = %q, want %q", got, want)
	}
	for _, key := range keys {
		if _, err := be.DeleteObject(t.Context(), bucket, key); err != nil {
			t.Fatalf("DeleteObject(%q): %v", key, err)
		}
	}
	if keys := listAll(t, be, bucket); len(keys) != 0 {
		t.Fatalf("after deleting every key the bucket lists %q", keys)
	}
}

func testSequencer(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	ctx := t.Context()
	var seqs []uint64
	record := func(info storage.ObjectInfo, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("change %d: %v", len(seqs)+1, err)
		}
		seqs = append(seqs, info.Sequencer)
	}
	record(be.PutObject(ctx, bucket, "k", newBody([]byte("1")), storage.PutOptions{}))
	mustPut(t, be, bucket, "other", []byte("x"), storage.PutOptions{})
	record(be.PutObject(ctx, bucket, "k", newBody(content("2", largeSize)), storage.PutOptions{}))
	record(be.PutObject(ctx, bucket, "k", newBody([]byte("3")), storage.PutOptions{IfMatch: md5Hex(content("2", largeSize))}))
	record(be.DeleteObject(ctx, bucket, "k"))
	record(be.PutObject(ctx, bucket, "k", newBody([]byte("4")), storage.PutOptions{IfNoneMatch: true}))
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("Sequencers of successive changes of one key = %v, want strictly increasing", seqs)
		}
	}
}

func testOpenObjectKeepsVersion(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range []int{smallSize, largeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := t.Context()
			key := fmt.Sprintf("open/%d", size)
			v1 := content(key+"v1", size)
			mustPut(t, be, bucket, key, v1, storage.PutOptions{})
			obj, err := be.GetObject(ctx, bucket, key)
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			closed := false
			defer func() {
				if !closed {
					obj.Close()
				}
			}()
			v2 := content(key+"v2", size+7)
			mustPut(t, be, bucket, key, v2, storage.PutOptions{})
			if got, err := readAll(ctx, obj); err != nil || !bytes.Equal(got, v1) {
				t.Fatalf("after a replace the open Object read %d bytes, %v; want its own %d", len(got), err, len(v1))
			}
			wantContent(t, be, bucket, key, v2)
			if _, err := be.DeleteObject(ctx, bucket, key); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			if got, err := readAll(ctx, obj); err != nil || !bytes.Equal(got, v1) {
				t.Fatalf("after a delete the open Object read %d bytes, %v; want its own %d", len(got), err, len(v1))
			}
			if info := obj.Info(); info.Size != int64(len(v1)) || info.ETag != md5Hex(v1) {
				t.Fatalf("open Object Info = size %d etag %s, want the first version's", info.Size, info.ETag)
			}
			closed = true
			if err := obj.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}
