package s3backend

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// errLongerThanDeclared reports a body that went on past its declared size.
var errLongerThanDeclared = fmt.Errorf("s3backend: body longer than declared: %w", storage.ErrEntityTooLarge)

// PutObject implements storage.Backend. A body goes to the service in one of three ways, none
// of which lets the service show it before every check on it passed:
//
//   - up to Options.BufferSize, it is read whole first and sent in one PutObject with its
//     Content-MD5 and all its checksums;
//   - longer with a declared size, it streams through one PutObject of that length whose last
//     byte is held back until the body has ended well (see holdback): a failing body leaves
//     the request short, and the service stores nothing; its checksums, known only at the end,
//     go to sums/<version> (keepSums);
//   - longer with no declared size, it goes as a multipart upload of BufferSize parts,
//     PartsInFlight at a time, completed only after the body ended well and aborted otherwise.
//     The object's ETag is then the service's multipart ETag ("<hex>-<parts>").
//
// Conditions are passed on to the service's commit (If-None-Match, If-Match), which applies
// them atomically, and are also checked before the body is read so that a refused write costs
// no transfer.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, body storage.Body, opts storage.PutOptions) (storage.ObjectInfo, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.ObjectInfo{}, err
	}
	name, err := b.objectName(bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, err
	}
	if opts.IfNoneMatch || opts.IfMatch != "" {
		if err := b.precheck(ctx, bucket, key, opts); err != nil {
			return storage.ObjectInfo{}, err
		}
	}
	w := write{b: b, bucket: bucket, key: key, name: name, opts: opts}
	switch size := body.Size(); {
	case size >= 0 && size <= int64(b.opts.BufferSize):
		return w.buffered(ctx, body, int(size))
	case size > 0:
		return w.streamed(ctx, body, size)
	}
	return w.unknownSize(ctx, body)
}

// precheck fails a conditional write early when its condition already fails.
func (b *Backend) precheck(ctx context.Context, bucket, key string, opts storage.PutOptions) error {
	cur, _, err := b.head(ctx, bucket, key)
	switch {
	case errors.Is(err, storage.ErrNoSuchKey):
		if opts.IfMatch != "" {
			return storage.ErrPreconditionFailed
		}
		return nil
	case err != nil:
		return err
	case opts.IfNoneMatch, opts.IfMatch != "" && opts.IfMatch != cur.ETag:
		return storage.ErrPreconditionFailed
	}
	return nil
}

// write is one PutObject in progress.
type write struct {
	b              *Backend
	bucket, key    string
	name           string
	opts           storage.PutOptions
	unlock         func()
	seq            uint64
	replacedVerion string
}

// begin is the commit point of a write: it takes the key's lock, notes the version the write
// will replace and issues the Sequencer. end releases the lock.
func (w *write) begin(ctx context.Context) {
	w.unlock = w.b.locks.lock(w.name)
	w.replacedVerion = w.b.currentVersion(ctx, w.name)
	w.seq = w.b.clock.next()
}

func (w *write) end() {
	if w.unlock != nil {
		w.unlock()
		w.unlock = nil
	}
}

// fail turns the error of a commit into the error PutObject returns: the body's own failure
// first (wrapped, as the contract asks), then the context's, then the service's.
func (w *write) fail(ctx context.Context, bodyErr, err error) error {
	switch {
	case bodyErr != nil:
		return fmt.Errorf("put %s/%s: %w", w.bucket, w.key, bodyErr)
	case ctx.Err() != nil:
		return fmt.Errorf("put %s/%s: %w", w.bucket, w.key, ctx.Err())
	}
	err = w.b.mapErr(err)
	if errors.Is(err, storage.ErrPreconditionFailed) || errors.Is(err, storage.ErrEntityTooLarge) {
		return err
	}
	return fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
}

// input is the PutObject request of the write, with the conditions and metadata.
func (w *write) input(body io.Reader, size int64, checksums map[string]string) *s3.PutObjectInput {
	m := encodeMeta(w.opts.Meta, checksums)
	in := &s3.PutObjectInput{
		Bucket:             &w.b.bucket,
		Key:                &w.name,
		Body:               body,
		ContentLength:      aws.Int64(size),
		ContentType:        m.contentType,
		ContentEncoding:    m.contentEncoding,
		ContentDisposition: m.contentDisposition,
		ContentLanguage:    m.contentLanguage,
		CacheControl:       m.cacheControl,
		Metadata:           m.meta,
	}
	if w.opts.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if w.opts.IfMatch != "" {
		in.IfMatch = aws.String(`"` + w.opts.IfMatch + `"`)
	}
	return in
}

// committed reports the new object, read back by its version for the service's
// Last-Modified, and hands the replaced version to the reaper.
func (w *write) committed(ctx context.Context, version string, etag string, size int64) (storage.ObjectInfo, error) {
	w.b.reaper.superseded(w.name, w.replacedVerion, version)
	info := storage.ObjectInfo{Bucket: w.bucket, Key: w.key, Size: size, ETag: etag, Sequencer: w.seq}
	out, err := w.b.s3.HeadObject(context.WithoutCancel(ctx), &s3.HeadObjectInput{Bucket: &w.b.bucket, Key: &w.name, VersionId: optional(version)})
	if err != nil {
		// The write took effect; only its description is incomplete.
		w.b.log.Warn("s3backend: reading back a new object", "name", w.name, "err", err)
		info.Meta = w.opts.Meta
		info.LastModified = w.b.now()
		return info, nil
	}
	d := decodedInfo{
		contentType: out.ContentType, contentEncoding: out.ContentEncoding,
		contentDisposition: out.ContentDisposition, contentLanguage: out.ContentLanguage,
		cacheControl: out.CacheControl, meta: out.Metadata, size: out.ContentLength,
		etag: out.ETag, lastModified: out.LastModified,
	}
	read := d.info(w.bucket, w.key)
	read.Sequencer = w.seq
	return read, nil
}

// buffered reads a body of known size up to BufferSize whole, then sends it.
func (w *write) buffered(ctx context.Context, body storage.Body, size int) (storage.ObjectInfo, error) {
	buf, err := w.b.bufs.get(ctx, size)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	defer w.b.bufs.put(buf)
	n, err := storage.Fill(body, *buf)
	if err == nil {
		err = atEOF(body)
	}
	switch {
	case err == io.EOF && n < size:
		err = fmt.Errorf("%w: %w", storage.ErrIncompleteBody, io.ErrUnexpectedEOF)
	case err == io.EOF:
		err = nil
	}
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	return w.sendWhole(ctx, (*buf)[:n], body.Sums())
}

// sendWhole sends a body read whole, with its MD5 for the service to check.
func (w *write) sendWhole(ctx context.Context, data []byte, sums storage.Sums) (storage.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	in := w.input(bytes.NewReader(data), int64(len(data)), sums.Checksums)
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sums.MD5[:]))
	w.begin(ctx)
	defer w.end()
	out, err := w.b.s3.PutObject(ctx, in)
	if err != nil {
		return storage.ObjectInfo{}, w.fail(ctx, nil, err)
	}
	return w.committed(ctx, aws.ToString(out.VersionId), hex.EncodeToString(sums.MD5[:]), int64(len(data)))
}

// streamed sends a body of known size larger than BufferSize through one request (see
// Backend.stream).
func (w *write) streamed(ctx context.Context, body storage.Body, size int64) (storage.ObjectInfo, error) {
	hb := newHoldback(body, func() error {
		w.begin(ctx)
		return nil
	})
	defer w.end()
	in := w.input(hb, size, nil)
	if p, ok := body.(storage.ChecksumPlanner); ok && len(p.ChecksumAlgorithms()) > 0 {
		in.Metadata[metaSums] = "1"
	}
	var length int64
	var send func(*s3.Options)
	in.Body, length, send = w.b.stream(hb, size)
	in.ContentLength = aws.Int64(length)
	out, err := w.b.s3.PutObject(ctx, in, send)
	if err != nil || hb.Err() != nil {
		return storage.ObjectInfo{}, w.fail(ctx, hb.Err(), err)
	}
	sums := body.Sums()
	version := aws.ToString(out.VersionId)
	etag, err := w.b.streamedETag(sums.MD5, trimETag(out.ETag))
	if err != nil {
		// The service stored other bytes than the node read: remove them at once.
		w.b.reaper.remove(w.name, version)
		return storage.ObjectInfo{}, fmt.Errorf("put %s/%s: %w", w.bucket, w.key, err)
	}
	info, err := w.committed(ctx, version, etag, size)
	if err != nil {
		return info, err
	}
	w.keepSums(ctx, version, &info, sums.Checksums)
	return info, nil
}

// keepSums records the checksums of a new version that its service object could not carry
// (they were known only once the bytes had streamed through) in sums/<version>, where reads
// of a version marked for it (metaSums, or a multipart ETag) find them. The object exists
// already: a failure only costs the checksums, and is logged.
func (w *write) keepSums(ctx context.Context, version string, info *storage.ObjectInfo, sums map[string]string) {
	if len(sums) == 0 || version == "" {
		return
	}
	data, _ := json.Marshal(sums)
	if err := w.b.putSmall(context.WithoutCancel(ctx), w.b.sumsName(version), data); err != nil {
		w.b.log.Warn("s3backend: recording the checksums of a streamed PUT", "name", w.name, "err", err)
		return
	}
	info.Checksums = sums
}

func trimETag(s *string) string {
	v := aws.ToString(s)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// md5Base64 is the Content-MD5 of data.
func md5Base64(data []byte) string {
	s := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(s[:])
}

// NeedsMD5 implements storage.SelectiveMD5: a body read whole is sent with its Content-MD5,
// and its MD5 is its ETag; a longer one streams with a CRC-32C trailer that the service checks,
// and takes the service's ETag, when the service checks trailers.
func (b *Backend) NeedsMD5(size int64) bool {
	return size < 0 || size <= int64(b.opts.BufferSize) || !b.trailers
}
