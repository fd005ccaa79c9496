package disk

import (
	"context"

	"presign/storage"
)

// corsRoot maps a bucket name to its CORS configuration (see bucketconfig.go).
var corsRoot = []byte("cors")

var _ storage.BucketCORSStore = (*Backend)(nil)

// PutBucketCORS implements storage.BucketCORSStore.
func (b *Backend) PutBucketCORS(ctx context.Context, bucket string, cfg []byte) error {
	return b.putBucketConfig(ctx, corsRoot, bucket, cfg)
}

// GetBucketCORS implements storage.BucketCORSStore.
func (b *Backend) GetBucketCORS(ctx context.Context, bucket string) ([]byte, error) {
	return b.getBucketConfig(corsRoot, bucket, storage.ErrNoSuchCORSConfiguration)
}

// DeleteBucketCORS implements storage.BucketCORSStore.
func (b *Backend) DeleteBucketCORS(ctx context.Context, bucket string) error {
	return b.deleteBucketConfig(ctx, corsRoot, bucket)
}
