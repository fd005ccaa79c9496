package storagetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

var bucketTests = []namedTest{
	{"LifecycleCreateHeadListDelete", testBucketLifecycle},
	{"Errors", testBucketErrors},
	{"ListBucketsOrderedByName", testListBucketsOrdered},
	{"ObjectCallsOnMissingBucketFail", testObjectCallsOnMissingBucket},
	{"RecreatedBucketIsEmpty", testRecreatedBucketIsEmpty},
	{"ConcurrentCreateOneWins", testConcurrentCreateBucket},
}

func testBucketLifecycle(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	before := time.Now()
	mustCreateBucket(t, be, "photos")
	after := time.Now()
	info, err := be.HeadBucket(ctx, "photos")
	if err != nil {
		t.Fatalf("HeadBucket: %v", err)
	}
	if info.Name != "photos" {
		t.Errorf("HeadBucket name = %q, want photos", info.Name)
	}
	nearNow(t, "Created", info.Created, before, after)
	list, err := be.ListBuckets(ctx)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(list) != 1 || list[0].Name != "photos" || !list[0].Created.Equal(info.Created) {
		t.Errorf("ListBuckets = %+v, want [photos created %v]", list, info.Created)
	}
	if err := be.DeleteBucket(ctx, "photos"); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	if _, err := be.HeadBucket(ctx, "photos"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("HeadBucket after delete: error = %v, want ErrNoSuchBucket", err)
	}
	if list, err := be.ListBuckets(ctx); err != nil || len(list) != 0 {
		t.Errorf("ListBuckets after delete = %v, %v; want none", list, err)
	}
}

func testBucketErrors(t *testing.T, be storage.Backend) {
	mustCreateBucket(t, be, "full")
	mustPut(t, be, "full", "k", []byte("v"), storage.PutOptions{})
	mustCreateBucket(t, be, "empty")
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"CreateExisting", func() error { return be.CreateBucket(t.Context(), "empty") }, storage.ErrBucketExists},
		{"HeadMissing", func() error { _, err := be.HeadBucket(t.Context(), "missing"); return err }, storage.ErrNoSuchBucket},
		{"DeleteMissing", func() error { return be.DeleteBucket(t.Context(), "missing") }, storage.ErrNoSuchBucket},
		{"DeleteNotEmpty", func() error { return be.DeleteBucket(t.Context(), "full") }, storage.ErrBucketNotEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
		})
	}
	// The refused calls changed nothing.
	wantContent(t, be, "full", "k", []byte("v"))
	if _, err := be.HeadBucket(t.Context(), "empty"); err != nil {
		t.Fatalf("HeadBucket(empty): %v", err)
	}
}

func testListBucketsOrdered(t *testing.T, be storage.Backend) {
	names := []string{"m-bucket", "a-bucket", "z-bucket", "a.bucket", "b1", "b0"}
	for _, n := range names {
		mustCreateBucket(t, be, n)
	}
	list, err := be.ListBuckets(t.Context())
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var got []string
	for _, b := range list {
		got = append(got, b.Name)
	}
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Fatalf("ListBuckets = %q, want %q", got, want)
	}
}

func testObjectCallsOnMissingBucket(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	calls := []struct {
		name string
		call func() error
	}{
		{"PutObject", func() error {
			_, err := be.PutObject(ctx, "missing", "k", newBody([]byte("v")), storage.PutOptions{})
			return err
		}},
		{"PutObjectLarge", func() error {
			_, err := be.PutObject(ctx, "missing", "k", newBody(content("large", largeSize)), storage.PutOptions{})
			return err
		}},
		{"GetObject", func() error {
			obj, err := be.GetObject(ctx, "missing", "k")
			if err == nil {
				obj.Close()
			}
			return err
		}},
		{"HeadObject", func() error { _, err := be.HeadObject(ctx, "missing", "k"); return err }},
		{"DeleteObject", func() error { _, err := be.DeleteObject(ctx, "missing", "k"); return err }},
		{"ListObjects", func() error {
			_, err := be.ListObjects(ctx, "missing", storage.ListOptions{MaxKeys: 10})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, storage.ErrNoSuchBucket) {
				t.Fatalf("error = %v, want ErrNoSuchBucket", err)
			}
		})
	}
	if _, err := be.HeadBucket(ctx, "missing"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("a failed PutObject created the bucket: HeadBucket error = %v", err)
	}
}

func testRecreatedBucketIsEmpty(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	mustCreateBucket(t, be, "b")
	mustPut(t, be, "b", "k", []byte("v"), storage.PutOptions{})
	if _, err := be.DeleteObject(ctx, "b", "k"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if err := be.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket after emptying it: %v", err)
	}
	mustCreateBucket(t, be, "b")
	if keys := listAll(t, be, "b"); len(keys) != 0 {
		t.Fatalf("recreated bucket lists %q", keys)
	}
	wantMissing(t, be, "b", "k")
}

func testConcurrentCreateBucket(t *testing.T, be storage.Backend) {
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = be.CreateBucket(t.Context(), "contested")
		})
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, storage.ErrBucketExists):
			t.Errorf("CreateBucket error = %v, want nil or ErrBucketExists", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent CreateBucket calls succeeded, want 1", wins)
	}
}
