package s3backend

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

var _ storage.BucketCORSStore = (*Backend)(nil)

// PutBucketCORS implements storage.BucketCORSStore: the configuration is an object of its own
// beside the bucket's marker.
func (b *Backend) PutBucketCORS(ctx context.Context, bucket string, cfg []byte) error {
	if _, err := b.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: aws.String(b.corsName(bucket)), Body: bytes.NewReader(cfg),
		ContentLength: aws.Int64(int64(len(cfg))), ContentMD5: aws.String(md5Base64(cfg)),
	})
	if err != nil {
		return fmt.Errorf("put CORS of %q: %w", bucket, b.mapErr(err))
	}
	return nil
}

// GetBucketCORS implements storage.BucketCORSStore.
func (b *Backend) GetBucketCORS(ctx context.Context, bucket string) ([]byte, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return nil, err
	}
	out, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(b.corsName(bucket))})
	if err != nil {
		if notFound(err) {
			return nil, storage.ErrNoSuchCORSConfiguration
		}
		return nil, fmt.Errorf("get CORS of %q: %w", bucket, b.mapErr(err))
	}
	defer out.Body.Close()
	cfg, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get CORS of %q: %w", bucket, err)
	}
	return cfg, nil
}

// DeleteBucketCORS implements storage.BucketCORSStore.
func (b *Backend) DeleteBucketCORS(ctx context.Context, bucket string) error {
	if _, err := b.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	_, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(b.corsName(bucket))})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete CORS of %q: %w", bucket, b.mapErr(err))
	}
	return nil
}
