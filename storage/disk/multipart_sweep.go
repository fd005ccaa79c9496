package disk

import (
	"bytes"
	"context"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxUploadSweepInterval bounds the pause between two sweeps of abandoned uploads.
const maxUploadSweepInterval = time.Hour

// sweepUploads aborts uploads older than the multipart expiry and forgets completion memos
// older than memoTTL, once at start and then periodically, until ctx ends.
func (b *Backend) sweepUploads(ctx context.Context) {
	every := min(b.multipartExpiry/4, maxUploadSweepInterval)
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			n, err := b.sweepUploadsOnce(time.Now())
			if err != nil {
				b.log.Error("disk: sweep abandoned multipart uploads", "err", err)
			}
			if n > 0 {
				b.log.Info("disk: aborted abandoned multipart uploads and forgot old completions", "entries", n)
			}
			if n < sweepBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expiredEntry is an upload or memo found by a sweep.
type expiredEntry struct {
	bucket, ukey []byte // nil for a memo
	id           string
}

// sweepUploadsOnce drops up to sweepBatch uploads initiated before now minus the expiry, with
// their parts, and memos of completions before now minus memoTTL. It returns how many entries
// it dropped.
func (b *Backend) sweepUploadsOnce(now time.Time) (int, error) {
	if err := b.begin(); err != nil {
		return 0, err
	}
	defer b.ops.Done()
	uploadCutoff := now.Add(-b.multipartExpiry)
	memoCutoff := now.Add(-memoTTL)
	var due []expiredEntry
	err := b.db.View(func(tx *bolt.Tx) error {
		roots := tx.Bucket(uploadsRoot)
		err := roots.ForEachBucket(func(bucket []byte) error {
			return roots.Bucket(bucket).ForEach(func(k, _ []byte) error {
				if len(due) == sweepBatch {
					return nil
				}
				if _, id, ok := splitUploadKey(k); ok && idTime(id).Before(uploadCutoff) {
					due = append(due, expiredEntry{bytes.Clone(bucket), bytes.Clone(k), id})
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		return tx.Bucket(doneRoot).ForEach(func(k, v []byte) error {
			if len(due) == sweepBatch {
				return nil
			}
			if m, err := decodeMemo(v); err != nil || m.completed.Before(memoCutoff) {
				due = append(due, expiredEntry{id: string(k)})
			}
			return nil
		})
	})
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var files []string
	err = b.commit.do(func(tx *bolt.Tx) error {
		files = nil
		for _, e := range due {
			if e.bucket == nil {
				if err := tx.Bucket(doneRoot).Delete([]byte(e.id)); err != nil {
					return err
				}
				continue
			}
			ups := tx.Bucket(uploadsRoot).Bucket(e.bucket)
			if ups == nil || ups.Get(e.ukey) == nil {
				continue // completed or aborted meanwhile
			}
			dropped, err := dropUpload(tx, e.bucket, e.ukey, e.id)
			if err != nil {
				return err
			}
			files = append(files, dropped...)
		}
		return nil
	}, len(due)*64)
	if err != nil {
		return 0, err
	}
	b.removeFiles(files)
	return len(due), nil
}

// idTime is the initiation time written at the start of an upload id.
func idTime(id string) time.Time {
	if !validUploadID(id) {
		return time.Time{}
	}
	ns, err := strconv.ParseUint(id[:16], 16, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}
