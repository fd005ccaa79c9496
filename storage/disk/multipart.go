package disk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// Multipart uploads. An upload is an index entry under uploads/<bucket>, and its parts are
// entries under parts/<upload id>, each pointing at a file of its own in objects/, written
// like a large object's (streamed to tmp/, fsynced, renamed, directory fsynced, then
// committed). Completion commits one object record that lists the part files in order
// (kind multipart, see record.go) and drops the upload, in one index transaction: the bytes
// are never copied a second time, and a crash leaves either the upload or the object.
//
// Part files are in filesRoot from their part's commit on, through completion, until the
// object that lists them is replaced or deleted, so the orphan scan never takes one in use.

var _ storage.Multiparter = (*Backend)(nil)

// uploadIDLen is the length of an upload id: the initiation time (16 hex digits of unix
// nanoseconds), then 96 random bits in hex.
const uploadIDLen = 16 + 24

func newUploadID(now time.Time) string {
	var r [12]byte
	rand.Read(r[:])
	return fmt.Sprintf("%016x%s", uint64(now.UnixNano()), hex.EncodeToString(r[:]))
}

// validUploadID reports whether s has the shape of an id made by newUploadID; others name no
// upload.
func validUploadID(s string) bool {
	return len(s) == uploadIDLen && validHex(s)
}

func validHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkMultipartKey refuses keys the upload index cannot hold: the NUL that separates key and
// upload id, which S3 keys never contain.
func checkMultipartKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen || strings.IndexByte(key, 0) >= 0 {
		return ErrInvalidKey
	}
	return nil
}

// CreateMultipartUpload implements storage.Multiparter.
func (b *Backend) CreateMultipartUpload(ctx context.Context, bucket, key string, opts storage.MultipartOptions) (storage.MultipartUpload, error) {
	if err := b.begin(); err != nil {
		return storage.MultipartUpload{}, err
	}
	defer b.ops.Done()
	if err := checkMultipartKey(key); err != nil {
		return storage.MultipartUpload{}, err
	}
	if err := ctx.Err(); err != nil {
		return storage.MultipartUpload{}, err
	}
	now := time.Now().UTC()
	id := newUploadID(now)
	u := upload{initiated: now, opts: opts}
	bb, val := []byte(bucket), u.encode()
	err := b.commit.do(func(tx *bolt.Tx) error {
		if tx.Bucket(objectsRoot).Bucket(bb) == nil {
			return refuse(storage.ErrNoSuchBucket)
		}
		ups, err := tx.Bucket(uploadsRoot).CreateBucketIfNotExists(bb)
		if err != nil {
			return err
		}
		if err := ups.Put(uploadKey(key, id), val); err != nil {
			return err
		}
		_, err = tx.Bucket(partsRoot).CreateBucket([]byte(id))
		return err
	}, len(val)+len(key))
	if err != nil {
		return storage.MultipartUpload{}, err
	}
	return u.info(bucket, key, id), nil
}

// HeadMultipartUpload implements storage.Multiparter.
func (b *Backend) HeadMultipartUpload(ctx context.Context, bucket, key, uploadID string) (storage.MultipartUpload, error) {
	if err := b.begin(); err != nil {
		return storage.MultipartUpload{}, err
	}
	defer b.ops.Done()
	var u upload
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = findUpload(tx, bucket, key, uploadID)
		return err
	})
	if err != nil {
		return storage.MultipartUpload{}, err
	}
	return u.info(bucket, key, uploadID), nil
}

// findUpload reads the entry of an upload in progress: ErrNoSuchBucket, ErrNoSuchUpload.
func findUpload(tx *bolt.Tx, bucket, key, id string) (upload, error) {
	if tx.Bucket(objectsRoot).Bucket([]byte(bucket)) == nil {
		return upload{}, storage.ErrNoSuchBucket
	}
	if !validUploadID(id) || checkMultipartKey(key) != nil {
		return upload{}, storage.ErrNoSuchUpload
	}
	ups := tx.Bucket(uploadsRoot).Bucket([]byte(bucket))
	if ups == nil {
		return upload{}, storage.ErrNoSuchUpload
	}
	v := ups.Get(uploadKey(key, id))
	if v == nil {
		return upload{}, storage.ErrNoSuchUpload
	}
	u, err := decodeUpload(v)
	if err != nil {
		return upload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}

// UploadPart implements storage.Multiparter. The part streams to a file of its own, which
// becomes durable before the part's entry is committed; a part it replaces is removed after.
func (b *Backend) UploadPart(ctx context.Context, bucket, key, uploadID string, number int, body storage.Body) (storage.PartInfo, error) {
	if err := b.begin(); err != nil {
		return storage.PartInfo{}, err
	}
	defer b.ops.Done()
	if number < 1 || number > storage.MaxParts {
		return storage.PartInfo{}, fmt.Errorf("disk: part number %d outside 1..%d", number, storage.MaxParts)
	}
	// Refuse early what the commit would refuse, rather than store gigabytes for nothing.
	if err := b.db.View(func(tx *bolt.Tx) error {
		_, err := findUpload(tx, bucket, key, uploadID)
		return err
	}); err != nil {
		return storage.PartInfo{}, err
	}
	id, n, err := b.writeFile(ctx, body, nil, false)
	if err != nil {
		return storage.PartInfo{}, err
	}
	sums := body.Sums()
	p := part{size: n, md5: sums.MD5, modified: time.Now().UTC(), file: id, checksums: sums.Checksums}
	val, pk := p.encode(), partKey(number)
	var replaced []string
	err = b.commit.do(func(tx *bolt.Tx) error {
		replaced = nil
		if _, err := findUpload(tx, bucket, key, uploadID); err != nil {
			return refuse(err)
		}
		parts := tx.Bucket(partsRoot).Bucket([]byte(uploadID))
		if parts == nil {
			return fmt.Errorf("upload %s: %w: no parts bucket", uploadID, errCorrupt)
		}
		if old := parts.Get(pk); old != nil {
			prev, err := decodePart(old)
			if err != nil {
				return fmt.Errorf("upload %s part %d: %w", uploadID, number, err)
			}
			replaced = []string{prev.file}
		}
		if err := parts.Put(pk, val); err != nil {
			return err
		}
		files := tx.Bucket(filesRoot)
		if err := files.Put([]byte(id), fileMark); err != nil {
			return err
		}
		return unmarkFiles(files, replaced)
	}, len(val))
	if err != nil {
		b.discardFile(id)
		return storage.PartInfo{}, err
	}
	b.removeFiles(replaced)
	return p.info(number), nil
}

// AbortMultipartUpload implements storage.Multiparter.
func (b *Backend) AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.ops.Done()
	if err := ctx.Err(); err != nil {
		return err
	}
	var files []string
	err := b.commit.do(func(tx *bolt.Tx) error {
		files = nil
		if _, err := findUpload(tx, bucket, key, uploadID); err != nil {
			return refuse(err)
		}
		var err error
		files, err = dropUpload(tx, []byte(bucket), uploadKey(key, uploadID), uploadID)
		return err
	}, len(key))
	if err != nil {
		return err
	}
	b.removeFiles(files)
	return nil
}

// dropUpload removes an upload's parts and, unless ukey is nil, its entry in tx, and returns
// the part files, for the caller to remove after the commit.
func dropUpload(tx *bolt.Tx, bucket, ukey []byte, id string) ([]string, error) {
	var files []string
	if parts := tx.Bucket(partsRoot).Bucket([]byte(id)); parts != nil {
		if err := parts.ForEach(func(k, v []byte) error {
			p, err := decodePart(v)
			if err != nil {
				return fmt.Errorf("upload %s part %x: %w", id, k, err)
			}
			files = append(files, p.file)
			return nil
		}); err != nil {
			return nil, err
		}
		if err := tx.Bucket(partsRoot).DeleteBucket([]byte(id)); err != nil {
			return nil, err
		}
	}
	if ups := tx.Bucket(uploadsRoot).Bucket(bucket); ups != nil && ukey != nil {
		if err := ups.Delete(ukey); err != nil {
			return nil, err
		}
	}
	return files, unmarkFiles(tx.Bucket(filesRoot), files)
}

// dropBucketUploads aborts, in tx, every upload in progress of a bucket being deleted: nothing
// could reach them any more. It returns their part files, for removal after the commit.
func dropBucketUploads(tx *bolt.Tx, bucket []byte) ([]string, error) {
	ups := tx.Bucket(uploadsRoot).Bucket(bucket)
	if ups == nil {
		return nil, nil
	}
	var all []string
	var ids []string
	if err := ups.ForEach(func(k, _ []byte) error {
		if _, id, ok := splitUploadKey(k); ok {
			ids = append(ids, id)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, id := range ids {
		files, err := dropUpload(tx, bucket, nil, id)
		if err != nil {
			return nil, err
		}
		all = append(all, files...)
	}
	return all, tx.Bucket(uploadsRoot).DeleteBucket(bucket)
}
