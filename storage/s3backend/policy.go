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

var _ storage.BucketPolicyStore = (*Backend)(nil)

// PutBucketPolicy implements storage.BucketPolicyStore: the policy is an object of its own
// beside the bucket's marker, as the CORS configuration is (DeleteBucket removes both).
func (b *Backend) PutBucketPolicy(ctx context.Context, bucket string, policy []byte) error {
	return b.putBucketConfig(ctx, bucket, b.policyName(bucket), policy)
}

// GetBucketPolicy implements storage.BucketPolicyStore.
func (b *Backend) GetBucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	return b.getBucketConfig(ctx, bucket, b.policyName(bucket), storage.ErrNoSuchBucketPolicy)
}

// DeleteBucketPolicy implements storage.BucketPolicyStore.
func (b *Backend) DeleteBucketPolicy(ctx context.Context, bucket string) error {
	return b.deleteBucketConfig(ctx, bucket, b.policyName(bucket))
}

func (b *Backend) policyName(bucket string) string { return b.prefix + "_presign/policy/" + bucket }

// putBucketConfig stores a configuration document of bucket as the object name.
func (b *Backend) putBucketConfig(ctx context.Context, bucket, name string, doc []byte) error {
	if _, err := b.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: aws.String(name), Body: bytes.NewReader(doc),
		ContentLength: aws.Int64(int64(len(doc))), ContentMD5: aws.String(md5Base64(doc)),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", name, b.mapErr(err))
	}
	return nil
}

// getBucketConfig reads a configuration document of bucket, none when there is none.
func (b *Backend) getBucketConfig(ctx context.Context, bucket, name string, none error) ([]byte, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return nil, err
	}
	out, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(name)})
	if err != nil {
		if notFound(err) {
			return nil, none
		}
		return nil, fmt.Errorf("get %s: %w", name, b.mapErr(err))
	}
	defer out.Body.Close()
	doc, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return doc, nil
}

// deleteBucketConfig removes a configuration document of bucket; removing none is not an
// error.
func (b *Backend) deleteBucketConfig(ctx context.Context, bucket, name string) error {
	if _, err := b.HeadBucket(ctx, bucket); err != nil {
		return err
	}
	_, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(name)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete %s: %w", name, b.mapErr(err))
	}
	return nil
}
