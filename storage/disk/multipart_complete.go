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
	if err := checkPartList(parts); err != nil {
		return storage.CompletedUpload{}, err
	}
	if opts.MinPartSize <= 0 {
		opts.MinPartSize = storage.MinPartSize
	}
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

// checkPartList applies the rules a part list must meet whatever is stored.
func checkPartList(parts []storage.CompletePart) error {
	if len(parts) == 0 || len(parts) > storage.MaxParts {
		return fmt.Errorf("%w: %d parts listed, want 1 to %d", storage.ErrInvalidPart, len(parts), storage.MaxParts)
	}
	prev := 0
	for _, p := range parts {
		if p.Number < 1 || p.Number > storage.MaxParts {
			return fmt.Errorf("%w: part number %d", storage.ErrInvalidPart, p.Number)
		}
		if p.Number <= prev {
			return storage.ErrInvalidPartOrder
		}
		prev = p.Number
	}
	return nil
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
	partsBk := tx.Bucket(partsRoot).Bucket([]byte(id))
	if partsBk == nil {
		return none, nil, fmt.Errorf("upload %s: %w: no parts bucket", id, errCorrupt)
	}
	infos := make([]storage.PartInfo, len(listed))
	pieces := make([]piece, len(listed))
	md5s := make([][16]byte, len(listed))
	var size int64
	for i, lp := range listed {
		v := partsBk.Get(partKey(lp.Number))
		if v == nil {
			return none, nil, refuse(fmt.Errorf("%w: part %d was not uploaded", storage.ErrInvalidPart, lp.Number))
		}
		p, err := decodePart(v)
		if err != nil {
			return none, nil, fmt.Errorf("upload %s part %d: %w", id, lp.Number, err)
		}
		infos[i] = p.info(lp.Number)
		if infos[i].ETag != lp.ETag {
			return none, nil, refuse(fmt.Errorf("%w: part %d has ETag %s, not %s", storage.ErrInvalidPart, lp.Number, infos[i].ETag, lp.ETag))
		}
		for alg, want := range lp.Checksums {
			if got := p.checksums[alg]; got != want {
				return none, nil, refuse(fmt.Errorf("%w: part %d has %s %q, not %q", storage.ErrInvalidPart, lp.Number, alg, got, want))
			}
		}
		if i < len(listed)-1 && p.size < opts.MinPartSize {
			return none, nil, refuse(fmt.Errorf("%w: part %d has %d bytes, less than %d", storage.ErrPartTooSmall, lp.Number, p.size, opts.MinPartSize))
		}
		pieces[i] = piece{file: p.file, size: p.size}
		md5s[i] = p.md5
		size += p.size
	}
	if u.opts.MaxSize > 0 && size > u.opts.MaxSize {
		return none, nil, refuse(fmt.Errorf("%w: %d bytes in parts, at most %d allowed", storage.ErrEntityTooLarge, size, u.opts.MaxSize))
	}
	var checksums map[string]string
	if alg := u.opts.ChecksumAlgorithm; alg != "" {
		v, err := storage.MultipartChecksum(alg, u.opts.ChecksumType, infos)
		if err != nil {
			return none, nil, refuse(fmt.Errorf("%w: %w", storage.ErrInvalidPart, err))
		}
		checksums = map[string]string{alg: v}
	}
	for alg, want := range opts.Checksums {
		if got := checksums[alg]; !storage.SameChecksum(want, got) {
			return none, nil, refuse(&storage.DigestError{Algorithm: alg, Expected: want, Computed: got})
		}
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
		size:      size,
		seq:       seq,
		modified:  time.Now().UTC(),
		etag:      storage.MultipartETag(md5s),
		multipart: true,
		meta:      u.opts.Meta,
		checksums: checksums,
	}
	tail := appendPieces(make([]byte, 0, piecesLen(len(pieces))), pieces)
	if err := bk.Put(kb, rec.encode(make([]byte, 0, rec.encodedLen(len(tail))), tail)); err != nil {
		return none, nil, err
	}
	// Parts not listed go with the upload; dropUpload releases every part file, so the listed
	// ones, which the object now holds, are marked in use again.
	dropped, err := dropUpload(tx, []byte(bucket), uploadKey(key, id), id)
	if err != nil {
		return none, nil, err
	}
	files := tx.Bucket(filesRoot)
	kept := make(map[string]bool, len(pieces))
	for _, s := range pieces {
		kept[s.file] = true
		if err := files.Put([]byte(s.file), fileMark); err != nil {
			return none, nil, err
		}
	}
	for _, f := range dropped {
		if !kept[f] {
			released = append(released, f)
		}
	}
	if err := unmarkFiles(files, released); err != nil {
		return none, nil, err
	}
	m := memo{bucket: bucket, key: key, digest: digest, completed: rec.modified, object: rec}
	if err := tx.Bucket(doneRoot).Put([]byte(id), m.encode()); err != nil {
		return none, nil, err
	}
	return storage.CompletedUpload{Object: rec.info(bucket, key)}, released, nil
}
