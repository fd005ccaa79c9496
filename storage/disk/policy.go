package disk

import (
	"context"

	"presign/storage"
)

// policyRoot maps a bucket name to its policy document (see bucketconfig.go).
var policyRoot = []byte("policy")

var _ storage.BucketPolicyStore = (*Backend)(nil)

// PutBucketPolicy implements storage.BucketPolicyStore.
func (b *Backend) PutBucketPolicy(ctx context.Context, bucket string, policy []byte) error {
	return b.putBucketConfig(ctx, policyRoot, bucket, policy)
}

// GetBucketPolicy implements storage.BucketPolicyStore.
func (b *Backend) GetBucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	return b.getBucketConfig(policyRoot, bucket, storage.ErrNoSuchBucketPolicy)
}

// DeleteBucketPolicy implements storage.BucketPolicyStore.
func (b *Backend) DeleteBucketPolicy(ctx context.Context, bucket string) error {
	return b.deleteBucketConfig(ctx, policyRoot, bucket)
}
