package disk

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// corsRoot maps a bucket name to its CORS configuration. Each value starts with the creation
// stamp of the bucket it was written for (the 8-byte value under bucketsRoot): a record whose
// stamp differs belongs to an earlier, deleted bucket of the same name and counts as absent,
// so deleting a bucket forgets its configuration without DeleteBucket knowing of CORS. The
// root is created by the first PutBucketCORS, so stores of an earlier version open unchanged.
var corsRoot = []byte("cors")

var _ storage.BucketCORSStore = (*Backend)(nil)

// PutBucketCORS implements storage.BucketCORSStore.
func (b *Backend) PutBucketCORS(ctx context.Context, bucket string, cfg []byte) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	name := []byte(bucket)
	return b.commit.do(func(tx *bolt.Tx) error {
		created := tx.Bucket(bucketsRoot).Get(name)
		if created == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		root, err := tx.CreateBucketIfNotExists(corsRoot)
		if err != nil {
			return err
		}
		v := make([]byte, 0, len(created)+len(cfg))
		return root.Put(name, append(append(v, created...), cfg...))
	}, len(name)+len(cfg))
}

// GetBucketCORS implements storage.BucketCORSStore.
func (b *Backend) GetBucketCORS(ctx context.Context, bucket string) ([]byte, error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.ops.Done()
	var cfg []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		name := []byte(bucket)
		created := tx.Bucket(bucketsRoot).Get(name)
		if created == nil {
			return storage.ErrNoSuchBucket
		}
		root := tx.Bucket(corsRoot)
		if root == nil {
			return storage.ErrNoSuchCORSConfiguration
		}
		v := root.Get(name)
		if len(v) < len(created) || !bytes.Equal(v[:len(created)], created) {
			return storage.ErrNoSuchCORSConfiguration
		}
		// Values of a read transaction are only valid inside it.
		cfg = bytes.Clone(v[len(created):])
		return nil
	})
	return cfg, err
}

// DeleteBucketCORS implements storage.BucketCORSStore.
func (b *Backend) DeleteBucketCORS(ctx context.Context, bucket string) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	name := []byte(bucket)
	return b.commit.do(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketsRoot).Get(name) == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		root := tx.Bucket(corsRoot)
		if root == nil || root.Get(name) == nil {
			return nil
		}
		return root.Delete(name)
	}, len(name))
}
