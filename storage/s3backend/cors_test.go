package s3backend

import (
	"errors"
	"testing"

	"presign/storage"
)

// A bucket's CORS configuration lives in the service bucket: every node sharing it sees the
// same one, and it goes with the bucket.
func TestBucketCORSSharedByNodesAndGoneWithBucket(t *testing.T) {
	ctx := t.Context()
	a := openTest(t, Options{})
	b := openTest(t, Options{Prefix: a.prefix})
	if err := a.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("Get before Put: %v, want ErrNoSuchCORSConfiguration", err)
	}
	if err := a.DeleteBucketCORS(ctx, "pics"); err != nil {
		t.Fatalf("Delete of none: %v", err)
	}
	for _, cfg := range []string{"<first/>", "<second/>"} {
		if err := a.PutBucketCORS(ctx, "pics", []byte(cfg)); err != nil {
			t.Fatal(err)
		}
		if got, err := b.GetBucketCORS(ctx, "pics"); err != nil || string(got) != cfg {
			t.Fatalf("other node's Get = %q, %v; want %q", got, err, cfg)
		}
	}
	if err := b.DeleteBucketCORS(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("Get after the other node's Delete: %v", err)
	}
	if err := a.PutBucketCORS(ctx, "pics", []byte("<old/>")); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateBucket(ctx, "pics"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetBucketCORS(ctx, "pics"); !errors.Is(err, storage.ErrNoSuchCORSConfiguration) {
		t.Fatalf("a recreated bucket has a configuration: %v", err)
	}
	for name, call := range map[string]func() error{
		"Put":    func() error { return a.PutBucketCORS(ctx, "nope", []byte("<x/>")) },
		"Get":    func() error { _, err := a.GetBucketCORS(ctx, "nope"); return err },
		"Delete": func() error { return a.DeleteBucketCORS(ctx, "nope") },
	} {
		if err := call(); !errors.Is(err, storage.ErrNoSuchBucket) {
			t.Errorf("%s on a missing bucket: %v, want ErrNoSuchBucket", name, err)
		}
	}
}
