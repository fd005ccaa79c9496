package s3backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"presign/storage"
)

// unknownSize sends a body of unknown length: whole when it ends within one buffer, as a
// multipart upload otherwise.
func (w *write) unknownSize(ctx context.Context, body storage.Body) (storage.ObjectInfo, error) {
	first, err := w.b.bufs.get(ctx, w.b.opts.BufferSize)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	n, err := storage.Fill(body, *first)
	if err == nil {
		// Full: one more read tells a body of exactly one buffer from a longer one.
		var one [1]byte
		var m int
		for m == 0 && err == nil {
			m, err = body.Read(one[:])
		}
		if m > 0 {
			return w.parts(ctx, body, first, one[0])
		}
	}
	defer w.b.bufs.put(first)
	if err != io.EOF {
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	return w.sendWhole(ctx, (*first)[:n], body.Sums())
}

// upload is a multipart upload of a PUT in progress.
type upload struct {
	w        *write
	id       string
	mu       sync.Mutex
	parts    []types.CompletedPart
	err      error // first failure of a part
	inflight sync.WaitGroup
	slots    chan struct{}
}

// parts sends a body longer than one buffer as a multipart upload. first is the full first
// buffer and next the byte read after it.
func (w *write) parts(ctx context.Context, body storage.Body, first *[]byte, next byte) (info storage.ObjectInfo, err error) {
	b := w.b
	m := encodeMeta(w.opts.Meta, nil)
	created, err := b.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket, Key: &w.name, ContentType: m.contentType, ContentEncoding: m.contentEncoding,
		ContentDisposition: m.contentDisposition, ContentLanguage: m.contentLanguage,
		CacheControl: m.cacheControl, Metadata: m.meta,
	})
	if err != nil {
		b.bufs.put(first)
		return storage.ObjectInfo{}, w.fail(ctx, nil, err)
	}
	u := &upload{w: w, id: aws.ToString(created.UploadId), slots: make(chan struct{}, b.opts.PartsInFlight)}
	defer func() {
		if err != nil {
			u.inflight.Wait()
			u.abort(ctx)
		}
	}()
	var size int64
	buf := first
	number := int32(1)
	carry, hasCarry := next, true
	for {
		// send hands buf over, and it goes back to the pool when its part is sent: its length
		// is read before.
		size += int64(len(*buf))
		if err := u.send(ctx, number, buf); err != nil {
			return storage.ObjectInfo{}, err
		}
		number++
		if buf, err = b.bufs.get(ctx, b.opts.BufferSize); err != nil {
			return storage.ObjectInfo{}, w.fail(ctx, nil, err)
		}
		off := 0
		if hasCarry {
			(*buf)[0], off, hasCarry = carry, 1, false
		}
		n, rerr := storage.Fill(body, (*buf)[off:])
		*buf = (*buf)[:off+n]
		if rerr == nil {
			continue
		}
		if rerr != io.EOF {
			b.bufs.put(buf)
			return storage.ObjectInfo{}, w.fail(ctx, rerr, nil)
		}
		if len(*buf) == 0 {
			b.bufs.put(buf)
			break
		}
		size += int64(len(*buf))
		if err := u.send(ctx, number, buf); err != nil {
			return storage.ObjectInfo{}, err
		}
		break
	}
	u.inflight.Wait()
	if u.err != nil {
		return storage.ObjectInfo{}, w.fail(ctx, nil, u.err)
	}
	return u.complete(ctx, size, body.Sums().Checksums)
}

// send uploads a part in the background once a slot is free; it owns buf from then on.
func (u *upload) send(ctx context.Context, number int32, buf *[]byte) error {
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		u.w.b.bufs.put(buf)
		return u.w.fail(ctx, nil, ctx.Err())
	}
	u.mu.Lock()
	failed := u.err
	u.mu.Unlock()
	if failed != nil {
		<-u.slots
		u.w.b.bufs.put(buf)
		return u.w.fail(ctx, nil, failed)
	}
	u.inflight.Add(1)
	go func() {
		defer u.inflight.Done()
		defer func() { <-u.slots }()
		defer u.w.b.bufs.put(buf)
		b := u.w.b
		out, err := b.s3.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &b.bucket, Key: &u.w.name, UploadId: &u.id, PartNumber: aws.Int32(number),
			Body: bytes.NewReader(*buf), ContentLength: aws.Int64(int64(len(*buf))),
			ContentMD5: aws.String(md5Base64(*buf)),
		})
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = fmt.Errorf("part %d: %w", number, err)
			}
			return
		}
		u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(number)})
	}()
	return nil
}

// complete makes the uploaded parts the object, applying the write's conditions.
func (u *upload) complete(ctx context.Context, size int64, sums map[string]string) (storage.ObjectInfo, error) {
	w, b := u.w, u.w.b
	parts := u.parts
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber))
	})
	in := &s3.CompleteMultipartUploadInput{
		Bucket: &b.bucket, Key: &w.name, UploadId: &u.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if w.opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if w.opts.IfMatch != "" {
		in.IfMatch = aws.String(`"` + w.opts.IfMatch + `"`)
	}
	w.begin(ctx)
	defer w.end()
	out, err := b.s3.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return storage.ObjectInfo{}, w.fail(ctx, nil, err)
	}
	version := aws.ToString(out.VersionId)
	info, err := w.committed(ctx, version, trimETag(out.ETag), size)
	if err != nil {
		return info, err
	}
	w.keepSums(ctx, version, &info, sums)
	return info, nil
}

// abort removes the parts of a failed upload; it runs even when ctx has ended.
func (u *upload) abort(ctx context.Context) {
	b := u.w.b
	_, err := b.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
		Bucket: &b.bucket, Key: &u.w.name, UploadId: &u.id,
	})
	var nsu *types.NoSuchUpload
	if err != nil && !errors.As(err, &nsu) {
		b.log.Warn("s3backend: aborting a failed upload", "name", u.w.name, "upload", u.id, "err", err)
	}
}
