package disk

import (
	"bytes"
	"context"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// A bucket's configuration documents (CORS rules, policy) live each in a root of its own that
// maps a bucket name to the document. Each value starts with the creation stamp of the bucket
// it was written for (the 8-byte value under bucketsRoot): a record whose stamp differs belongs
// to an earlier, deleted bucket of the same name and counts as absent, so deleting a bucket
// forgets its configuration without DeleteBucket knowing of it. A root is created by its first
// write, so stores of an earlier version open unchanged.

// putBucketConfig replaces the document of bucket in root.
func (b *Backend) putBucketConfig(ctx context.Context, root []byte, bucket string, doc []byte) error {
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
		r, err := tx.CreateBucketIfNotExists(root)
		if err != nil {
			return err
		}
		v := make([]byte, 0, len(created)+len(doc))
		return r.Put(name, append(append(v, created...), doc...))
	}, len(name)+len(doc))
}

// getBucketConfig returns the document of bucket in root, or none when it has none.
func (b *Backend) getBucketConfig(root []byte, bucket string, none error) ([]byte, error) {
	if err := b.begin(); err != nil {
		return nil, err
	}
	defer b.ops.Done()
	var doc []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		name := []byte(bucket)
		created := tx.Bucket(bucketsRoot).Get(name)
		if created == nil {
			return storage.ErrNoSuchBucket
		}
		r := tx.Bucket(root)
		if r == nil {
			return none
		}
		v := r.Get(name)
		if len(v) < len(created) || !bytes.Equal(v[:len(created)], created) {
			return none
		}
		// Values of a read transaction are only valid inside it.
		doc = bytes.Clone(v[len(created):])
		return nil
	})
	return doc, err
}

// deleteBucketConfig removes the document of bucket in root; removing none is not an error.
func (b *Backend) deleteBucketConfig(ctx context.Context, root []byte, bucket string) error {
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
		r := tx.Bucket(root)
		if r == nil || r.Get(name) == nil {
			return nil
		}
		return r.Delete(name)
	}, len(name))
}
