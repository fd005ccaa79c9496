package storagetest

import (
	"bytes"
	"errors"
	"testing"

	"presign/storage"
)

// policyTests pin storage.BucketPolicyStore: a policy is kept as written, replaced, removed,
// and forgotten with its bucket. They are skipped for a backend without the capability.
var policyTests = []namedTest{
	{"NoBucket", testPolicyNoBucket},
	{"RoundTrip", testPolicyRoundTrip},
	{"PerBucket", testPolicyPerBucket},
	{"ForgottenWithBucket", testPolicyForgottenWithBucket},
}

// A policy document as "mc anonymous set download" writes it; the store keeps it opaque.
var testPolicy = []byte(`{"Version":"2012-10-17","Statement":[{"Action":["s3:GetObject"],"Effect":"Allow","Principal":{"AWS":["*"]},"Resource":["arn:aws:s3:::bucket/pub/*"],"Sid":""}]}`)

func policyStore(t *testing.T, be storage.Backend) storage.BucketPolicyStore {
	t.Helper()
	ps, ok := be.(storage.BucketPolicyStore)
	if !ok {
		t.Skip("the backend keeps no bucket policies")
	}
	return ps
}

func testPolicyNoBucket(t *testing.T, be storage.Backend) {
	ps := policyStore(t, be)
	ctx := t.Context()
	if err := ps.PutBucketPolicy(ctx, "missing", testPolicy); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	if _, err := ps.GetBucketPolicy(ctx, "missing"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("GetBucketPolicy: %v", err)
	}
	if err := ps.DeleteBucketPolicy(ctx, "missing"); !errors.Is(err, storage.ErrNoSuchBucket) {
		t.Fatalf("DeleteBucketPolicy: %v", err)
	}
}

func testPolicyRoundTrip(t *testing.T, be storage.Backend) {
	ps := policyStore(t, be)
	ctx := t.Context()
	b := newBucket(t, be)
	if _, err := ps.GetBucketPolicy(ctx, b); !errors.Is(err, storage.ErrNoSuchBucketPolicy) {
		t.Fatalf("GetBucketPolicy of a new bucket: %v", err)
	}
	if err := ps.PutBucketPolicy(ctx, b, testPolicy); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.GetBucketPolicy(ctx, b); err != nil || !bytes.Equal(got, testPolicy) {
		t.Fatalf("GetBucketPolicy: %q, %v", got, err)
	}
	other := bytes.Replace(testPolicy, []byte("pub/"), []byte("thumbs/"), 1)
	if err := ps.PutBucketPolicy(ctx, b, other); err != nil {
		t.Fatal(err)
	}
	if got, err := ps.GetBucketPolicy(ctx, b); err != nil || !bytes.Equal(got, other) {
		t.Fatalf("GetBucketPolicy after a replacement: %q, %v", got, err)
	}
	if err := ps.DeleteBucketPolicy(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.GetBucketPolicy(ctx, b); !errors.Is(err, storage.ErrNoSuchBucketPolicy) {
		t.Fatalf("GetBucketPolicy after DeleteBucketPolicy: %v", err)
	}
	if err := ps.DeleteBucketPolicy(ctx, b); err != nil {
		t.Fatalf("DeleteBucketPolicy of none: %v", err)
	}
}

func testPolicyPerBucket(t *testing.T, be storage.Backend) {
	ps := policyStore(t, be)
	ctx := t.Context()
	mustCreateBucket(t, be, "bucket-a")
	mustCreateBucket(t, be, "bucket-b")
	if err := ps.PutBucketPolicy(ctx, "bucket-a", testPolicy); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.GetBucketPolicy(ctx, "bucket-b"); !errors.Is(err, storage.ErrNoSuchBucketPolicy) {
		t.Fatalf("the policy of bucket-a shows in bucket-b: %v", err)
	}
	// A policy is not an object: listings do not show it, and the bucket stays empty.
	page, err := be.ListObjects(ctx, "bucket-a", storage.ListOptions{MaxKeys: 10})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("listing of a bucket with only a policy: %+v, %v", page, err)
	}
	if err := be.DeleteBucket(ctx, "bucket-a"); err != nil {
		t.Fatalf("DeleteBucket of a bucket with only a policy: %v", err)
	}
}

func testPolicyForgottenWithBucket(t *testing.T, be storage.Backend) {
	ps := policyStore(t, be)
	ctx := t.Context()
	b := newBucket(t, be)
	if err := ps.PutBucketPolicy(ctx, b, testPolicy); err != nil {
		t.Fatal(err)
	}
	if err := be.DeleteBucket(ctx, b); err != nil {
		t.Fatal(err)
	}
	mustCreateBucket(t, be, b)
	if _, err := ps.GetBucketPolicy(ctx, b); !errors.Is(err, storage.ErrNoSuchBucketPolicy) {
		t.Fatalf("a bucket made again with the name has the old policy: %v", err)
	}
}
