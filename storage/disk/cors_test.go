package disk

import (
	"errors"
	"testing"

	"presign/storage"
)

func TestBucketCORSPutGetDelete(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	if err := b.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("Get before Put: %v, want ErrNoSuchCORSConfiguration", err)
	}
	if err := b.DeleteBucketCORS(ctx, "pics"); err != nil {
		t.Fatalf("Delete of none: %v", err)
	}
	for _, cfg := range []string{"<first/>", "<second/>"} {
		if err := b.PutBucketCORS(ctx, "pics", []byte(cfg)); err != nil {
			t.Fatal(err)
		}
		got, err := b.GetBucketCORS(ctx, "pics")
		if err != nil || string(got) != cfg {
			t.Fatalf("Get = %q, %v; want %q", got, err, cfg)
		}
	}
	if err := b.DeleteBucketCORS(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func TestBucketCORSOfMissingBucketIsNoSuchBucket(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	if err := b.PutBucketCORS(ctx, "nope", []byte("<x/>")); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("Put: %v", err)
	}
	if _, err := b.GetBucketCORS(ctx, "nope"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("Get: %v", err)
	}
	if err := b.DeleteBucketCORS(ctx, "nope"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Errorf("Delete: %v", err)
	}
}

func TestBucketCORSSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	b, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if err := b.PutBucketCORS(ctx, "pics", []byte("<kept/>")); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, Options{Dir: dir})
	if got, err := b.GetBucketCORS(ctx, "pics"); err != nil || string(got) != "<kept/>" {
		t.Fatalf("after reopen: %q, %v", got, err)
	}
}

// A configuration belongs to the bucket it was put on: a new bucket of the same name starts
// without one.
func TestRecreatedBucketHasNoCORS(t *testing.T) {
	ctx := t.Context()
	b := openTest(t, Options{})
	if err := b.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if err := b.PutBucketCORS(ctx, "pics", []byte("<old/>")); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("recreated bucket: %q, %v; want ErrNoSuchCORSConfiguration", got, err)
	}
}
