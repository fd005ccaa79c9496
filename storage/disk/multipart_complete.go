package disk

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"presign/storage"
)

// memoTTL is how long a completed upload is remembered for retried completions. S3 gives no
// figure; a day covers any client's retries.
const memoTTL = 24 * time.Hour

// CompleteMultipartUpload implements storage.Multiparter. Everything happens in one index
// transaction: the parts are checked, the object record listing their files is written, the
// replaced object's and the unlisted parts' files are released, the upload is dropped and a
// memo of the completion kept. Only the files released are touched afterwards; no byte of
// the parts is read or copied.
func (b *Backend) CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []storage.CompletePart, opts storage.CompleteOptions) (storage.CompletedUpload, error) {
	if err := b.begin(); err != nil {
		return storage.CompletedUpload{}, err
	}
	defer b.ops.Done()
	digest := partListDigest(parts)
	// A retry after success needs no commit.
	var out storage.CompletedUpload
	err := b.db.View(func(tx *bolt.Tx) error {
		_, err := findUpload(tx, bucket, key, uploadID)
		if errors.Is(err, storage.ErrNoSuchUpload) {
			out, err = replay(tx, bucket, key, uploadID, digest)
		}
		return err
	})
	if err != nil || out.Replayed {
		return out, err
	}
	if err := ctx.Err(); err != nil {
		return storage.CompletedUpload{}, err
	}
	var released []string
	err = b.commit.do(func(tx *bolt.Tx) error {
		var err error
		out, released, err = b.complete(tx, bucket, key, uploadID, parts, digest, opts)
		return err
	}, len(parts)*(rawFileIDLen+4)+len(key))
	if err != nil {
		return storage.CompletedUpload{}, err
	}
	b.removeFiles(released)
	return out, nil
}

// replay answers a completion of an upload that is no longer in progress: with the memo's
// result when the same parts completed it, else ErrNoSuchUpload.
func replay(tx *bolt.Tx, bucket, key, id string, digest [32]byte) (storage.CompletedUpload, error) {
	v := tx.Bucket(doneRoot).Get([]byte(id))
	if v == nil {
		return storage.CompletedUpload{}, storage.ErrNoSuchUpload
	}
	m, err := decodeMemo(v)
	if err != nil {
		return storage.CompletedUpload{}, fmt.Errorf("memo of upload %s: %w", id, err)
	}
	if m.bucket != bucket || m.key != key || m.digest != digest {
		return storage.CompletedUpload{}, storage.ErrNoSuchUpload
	}
	return storage.CompletedUpload{Object: m.object.info(bucket, key), Replayed: true}, nil
}

// complete is the index change of a completion. It returns the files to remove after the
// commit, or a refusal having changed nothing.
func (b *Backend) complete(tx *bolt.Tx, bucket, key, id string, listed []storage.CompletePart, digest [32]byte, opts storage.CompleteOptions) (storage.CompletedUpload, []string, error) {
	var none storage.CompletedUpload
	u, err := findUpload(tx, bucket, key, id)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		// Completed by a concurrent call since the caller looked.
		out, err := replay(tx, bucket, key, id, digest)
		if err != nil {
			return none, nil, refuse(err)
		}
		return out, nil, nil
	}
	if err != nil {
		return none, nil, refuse(err)
	}
	c, pieces, md5s, err := checkParts(tx, u, id, listed, opts)
	if err != nil {
		return none, nil, err
	}
	objects := tx.Bucket(objectsRoot)
	bk := objects.Bucket([]byte(bucket))
	kb := []byte(key)
	old := bk.Get(kb)
	if err := checkConditions(old, storage.PutOptions{IfNoneMatch: opts.IfNoneMatch, IfMatch: opts.IfMatch}); err != nil {
		return none, nil, refuse(err)
	}

	// Every check passed: from here on, change.
	released, err := releaseRecord(tx, bucket, key, old)
	if err != nil {
		return none, nil, err
	}
	seq, err := objects.NextSequence()
	if err != nil {
		return none, nil, err
	}
	rec := record{
		size:      c.Size,
		seq:       seq,
		modified:  time.Now().UTC(),
		etag:      storage.MultipartETag(md5s),
		multipart: true,
		meta:      u.opts.Meta,
		checksums: c.Checksums,
	}
	tail := appendPieces(make([]byte, 0, piecesLen(len(pieces))), pieces)
	if err := bk.Put(kb, rec.encode(make([]byte, 0, rec.encodedLen(len(tail))), tail)); err != nil {
		return none, nil, err
	}
	if released, err = retireUpload(tx, bucket, key, id, pieces, released); err != nil {
		return none, nil, err
	}
	m := memo{bucket: bucket, key: key, digest: digest, completed: rec.modified, object: rec}
	if err := tx.Bucket(doneRoot).Put([]byte(id), m.encode()); err != nil {
		return none, nil, err
	}
	return storage.CompletedUpload{Object: rec.info(bucket, key)}, released, nil
}

// checkParts applies the completion rules to the listed parts of upload id as the index
// holds them, and returns the object they make with the files and MD5s of its pieces, in
// order. A broken rule comes back as a refusal.
func checkParts(tx *bolt.Tx, u upload, id string, listed []storage.CompletePart, opts storage.CompleteOptions) (storage.Completion, []piece, [][16]byte, error) {
	partsBk := tx.Bucket(partsRoot).Bucket([]byte(id))
	if partsBk == nil {
		return storage.Completion{}, nil, nil, fmt.Errorf("upload %s: %w: no parts bucket", id, errCorrupt)
	}
	pieces := make([]piece, 0, len(listed))
	md5s := make([][16]byte, 0, len(listed))
	var broken error // an unreadable record, which is no refusal
	c, err := storage.CheckCompletion(u.opts, listed, opts, func(n int, _ string) (storage.PartInfo, bool, error) {
		v := partsBk.Get(partKey(n))
		if v == nil {
			return storage.PartInfo{}, false, nil
		}
		p, err := decodePart(v)
		if err != nil {
			broken = fmt.Errorf("upload %s part %d: %w", id, n, err)
			return storage.PartInfo{}, false, broken
		}
		pieces = append(pieces, piece{file: p.file, size: p.size})
		md5s = append(md5s, p.md5)
		return p.info(n), true, nil
	})
	switch {
	case broken != nil:
		return storage.Completion{}, nil, nil, broken
	case err != nil:
		return storage.Completion{}, nil, nil, refuse(err)
	}
	return c, pieces, md5s, nil
}

// retireUpload drops a completed upload and the files of its unlisted parts, and returns
// released with those files added. dropUpload releases every part file, so the listed ones,
// which the object now holds, are marked in use again.
func retireUpload(tx *bolt.Tx, bucket, key, id string, pieces []piece, released []string) ([]string, error) {
	dropped, err := dropUpload(tx, []byte(bucket), uploadKey(key, id), id)
	if err != nil {
		return nil, err
	}
	files := tx.Bucket(filesRoot)
	kept := make(map[string]bool, len(pieces))
	for _, s := range pieces {
		kept[s.file] = true
		if err := files.Put([]byte(s.file), fileMark); err != nil {
			return nil, err
		}
	}
	for _, f := range dropped {
		if !kept[f] {
			released = append(released, f)
		}
	}
	if err := unmarkFiles(files, released); err != nil {
		return nil, err
	}
	return released, nil
}
