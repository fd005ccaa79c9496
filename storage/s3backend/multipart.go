package s3backend

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// A node multipart upload is a multipart upload of the service, on the object's stored name:
// part n of the node is part n of the service (so parts but the last need S3's 5 MiB, which
// the service enforces), and completion is the service's, atomic and conditional. What the
// service does not keep is kept beside it, under <prefix>_presign/:
//
//	uploads/<id>                          the upload: bucket, key, initiation, options (JSON)
//	inprogress/<bucket>/<key>/<ns>.<id>   empty; names the uploads of a bucket for listing
//	parts/<id>/<part> <etag> <checksums>  empty; a part's checksums, in its name
//	done/<id>                             the result of the completion, for retries (JSON)
//	sums/<version id>                     a completed object's checksums (JSON)
//
// (every segment escaped as keys are). The upload id is the service's.

var _ storage.Multiparter = (*Backend)(nil)

func (b *Backend) stateName(id string) string { return b.prefix + "_presign/uploads/" + encodeKey(id) }

func (b *Backend) listingDir(bucket string) string {
	return b.prefix + "_presign/inprogress/" + encodeKey(bucket) + "/"
}

func (b *Backend) listingName(bucket, key, id string, initiated time.Time) string {
	return b.listingDir(bucket) + encodeKey(key) + "/" + fmt.Sprintf("%020d", initiated.UnixNano()) + "." + encodeKey(id)
}

func (b *Backend) partsDir(id string) string {
	return b.prefix + "_presign/parts/" + encodeKey(id) + "/"
}

func (b *Backend) doneName(id string) string { return b.prefix + "_presign/done/" + encodeKey(id) }

func (b *Backend) sumsName(version string) string {
	return b.prefix + "_presign/sums/" + encodeKey(version)
}

// uploadState is what uploads/<id> holds.
type uploadState struct {
	Bucket    string                   `json:"bucket"`
	Key       string                   `json:"key"`
	Initiated time.Time                `json:"initiated"`
	Options   storage.MultipartOptions `json:"options"`
}

func (st uploadState) upload(id string) storage.MultipartUpload {
	return storage.MultipartUpload{Bucket: st.Bucket, Key: st.Key, UploadID: id, Initiated: st.Initiated, MultipartOptions: st.Options}
}

// CreateMultipartUpload implements storage.Multiparter.
func (b *Backend) CreateMultipartUpload(ctx context.Context, bucket, key string, opts storage.MultipartOptions) (storage.MultipartUpload, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.MultipartUpload{}, err
	}
	name, err := b.objectName(bucket, key)
	if err != nil {
		return storage.MultipartUpload{}, err
	}
	m := encodeMeta(opts.Meta, nil)
	out, err := b.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &b.bucket, Key: &name, ContentType: m.contentType, ContentEncoding: m.contentEncoding,
		ContentDisposition: m.contentDisposition, ContentLanguage: m.contentLanguage,
		CacheControl: m.cacheControl, Metadata: m.meta,
	})
	if err != nil {
		return storage.MultipartUpload{}, fmt.Errorf("create upload of %s/%s: %w", bucket, key, b.mapErr(err))
	}
	id := aws.ToString(out.UploadId)
	st := uploadState{Bucket: bucket, Key: key, Initiated: b.now().UTC(), Options: opts}
	state, err := json.Marshal(st)
	if err == nil {
		err = b.putSmall(ctx, b.stateName(id), state)
	}
	if err == nil {
		err = b.putSmall(ctx, b.listingName(bucket, key, id, st.Initiated), nil)
	}
	if err != nil {
		b.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &name, UploadId: &id})
		b.deleteNames(context.WithoutCancel(ctx), b.stateName(id))
		return storage.MultipartUpload{}, fmt.Errorf("create upload of %s/%s: %w", bucket, key, err)
	}
	return st.upload(id), nil
}

// putSmall writes a small object of the backend's own.
func (b *Backend) putSmall(ctx context.Context, name string, data []byte) error {
	_, err := b.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: &name, Body: bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))), ContentMD5: aws.String(md5Base64(data)),
	})
	return b.mapErr(err)
}

// getSmall reads a small object of the backend's own; errNotThere when it is absent.
func (b *Backend) getSmall(ctx context.Context, name string) ([]byte, error) {
	out, err := b.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		if notFound(err) {
			return nil, errNotThere
		}
		return nil, b.mapErr(err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, 1<<20))
}

var errNotThere = errors.New("s3backend: not there")

// deleteNames removes objects of the backend's own, ignoring those already gone.
func (b *Backend) deleteNames(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		if _, err := b.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(name)}); err != nil && !notFound(err) {
			errs = append(errs, b.mapErr(err))
		}
	}
	return errors.Join(errs...)
}

// findUpload returns the upload id of bucket/key in progress, or storage.ErrNoSuchUpload.
func (b *Backend) findUpload(ctx context.Context, bucket, key, id string) (uploadState, error) {
	if id == "" || len(id) > 512 {
		return uploadState{}, storage.ErrNoSuchUpload
	}
	data, err := b.getSmall(ctx, b.stateName(id))
	if errors.Is(err, errNotThere) {
		return uploadState{}, storage.ErrNoSuchUpload
	}
	if err != nil {
		return uploadState{}, fmt.Errorf("upload %s: %w", id, err)
	}
	var st uploadState
	if err := json.Unmarshal(data, &st); err != nil {
		return uploadState{}, fmt.Errorf("upload %s: state: %w", id, err)
	}
	if st.Bucket != bucket || st.Key != key {
		return uploadState{}, storage.ErrNoSuchUpload
	}
	return st, nil
}

// HeadMultipartUpload implements storage.Multiparter.
func (b *Backend) HeadMultipartUpload(ctx context.Context, bucket, key, id string) (storage.MultipartUpload, error) {
	st, err := b.findUpload(ctx, bucket, key, id)
	if err != nil {
		return storage.MultipartUpload{}, err
	}
	return st.upload(id), nil
}

// errPartLength answers a part of unknown length longer than one buffer: the service needs a
// part's length before its bytes.
var errPartLength = &storage.APIError{Code: "MissingContentLength", Status: http.StatusLengthRequired,
	Message: "A part longer than 16 MiB needs its length declared (Content-Length or x-amz-decoded-content-length)."}

// UploadPart implements storage.Multiparter. The part goes to the service as the body of a
// PutObject does: read whole up to BufferSize, streamed with its last byte held back beyond.
func (b *Backend) UploadPart(ctx context.Context, bucket, key, id string, number int, body storage.Body) (storage.PartInfo, error) {
	st, err := b.findUpload(ctx, bucket, key, id)
	if err != nil {
		return storage.PartInfo{}, err
	}
	name, err := b.objectName(st.Bucket, st.Key)
	if err != nil {
		return storage.PartInfo{}, err
	}
	in := &s3.UploadPartInput{Bucket: &b.bucket, Key: &name, UploadId: &id, PartNumber: aws.Int32(int32(number))}
	var (
		out  *s3.UploadPartOutput
		etag string
	)
	size := body.Size()
	if size < 0 || size <= int64(b.opts.BufferSize) {
		n := int(size)
		if size < 0 {
			n = b.opts.BufferSize
		}
		buf, err := b.bufs.get(ctx, n)
		if err != nil {
			return storage.PartInfo{}, err
		}
		defer b.bufs.put(buf)
		got, rerr := storage.Fill(body, *buf)
		if rerr == nil { // the buffer is full: the body must end here
			rerr = atEOF(body)
			if size < 0 && errors.Is(rerr, errLongerThanDeclared) {
				rerr = errPartLength
			}
		}
		switch {
		case rerr == io.EOF && size >= 0 && got < n:
			rerr = fmt.Errorf("%w: %w", storage.ErrIncompleteBody, io.ErrUnexpectedEOF)
		case rerr == io.EOF:
			rerr = nil
		}
		if rerr != nil {
			return storage.PartInfo{}, fmt.Errorf("part %d of %s: %w", number, id, rerr)
		}
		sums := body.Sums()
		in.Body, in.ContentLength = bytes.NewReader((*buf)[:got]), aws.Int64(int64(got))
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sums.MD5[:]))
		size = int64(got)
		out, err = b.s3.UploadPart(ctx, in)
		if err != nil {
			return storage.PartInfo{}, b.partErr(ctx, number, id, nil, err)
		}
		if etag, err = matchMD5(sums.MD5, trimETag(out.ETag)); err != nil {
			return storage.PartInfo{}, fmt.Errorf("part %d of %s: %w", number, id, err)
		}
	} else {
		hb := newHoldback(body, func() error { return nil })
		var length int64
		var send func(*s3.Options)
		in.Body, length, send = b.stream(hb, size)
		in.ContentLength = aws.Int64(length)
		out, err = b.s3.UploadPart(ctx, in, send)
		if err != nil || hb.Err() != nil {
			return storage.PartInfo{}, b.partErr(ctx, number, id, hb.Err(), err)
		}
		if etag, err = b.streamedETag(body.Sums().MD5, trimETag(out.ETag)); err != nil {
			return storage.PartInfo{}, fmt.Errorf("part %d of %s: %w", number, id, err)
		}
	}
	part := storage.PartInfo{Number: number, Size: size, ETag: etag, LastModified: b.now().UTC(), Checksums: body.Sums().Checksums}
	if err := b.putSmall(ctx, b.partsDir(id)+encodeKey(partRecord(part, b.clock.next())), nil); err != nil {
		return storage.PartInfo{}, fmt.Errorf("part %d of %s: recording it: %w", number, id, err)
	}
	return part, nil
}

// partErr is the error of a failed part: the body's own first, then the context's, then the
// service's (an upload completed or aborted meanwhile is ErrNoSuchUpload).
func (b *Backend) partErr(ctx context.Context, number int, id string, bodyErr, err error) error {
	switch {
	case bodyErr != nil:
		return fmt.Errorf("part %d of %s: %w", number, id, bodyErr)
	case ctx.Err() != nil:
		return fmt.Errorf("part %d of %s: %w", number, id, ctx.Err())
	}
	err = b.mapErr(err)
	if errors.Is(err, storage.ErrNoSuchUpload) {
		return storage.ErrNoSuchUpload
	}
	return fmt.Errorf("part %d of %s: %w", number, id, err)
}

// partRecord is the name of a part's record: "<number> <seq> <etag> <alg>=<value>,...", with
// the algorithms sorted. The sequence orders the uploads of one part number: SeaweedFS keeps
// every upload of a part number until completion, and lists them in no useful order; the
// newest record says which of them is the part now.
func partRecord(p storage.PartInfo, seq uint64) string {
	algs := make([]string, 0, len(p.Checksums))
	for alg := range p.Checksums {
		algs = append(algs, alg)
	}
	slices.Sort(algs)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%05d %020d %s ", p.Number, seq, p.ETag)
	for i, alg := range algs {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(alg + "=" + p.Checksums[alg])
	}
	return sb.String()
}

// partRecordFields are the fields of a part record.
type partRecordFields struct {
	number int
	seq    uint64
	etag   string
	sums   map[string]string
}

// parsePartRecord inverts partRecord.
func parsePartRecord(s string) (partRecordFields, bool) {
	f := strings.Split(s, " ")
	if len(f) != 4 {
		return partRecordFields{}, false
	}
	n, err1 := strconv.Atoi(f[0])
	seq, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return partRecordFields{}, false
	}
	r := partRecordFields{number: n, seq: seq, etag: f[2]}
	for _, kv := range strings.Split(f[3], ",") {
		if alg, v, found := strings.Cut(kv, "="); found {
			if r.sums == nil {
				r.sums = make(map[string]string)
			}
			r.sums[alg] = v
		}
	}
	return r, true
}

// AbortMultipartUpload implements storage.Multiparter.
func (b *Backend) AbortMultipartUpload(ctx context.Context, bucket, key, id string) error {
	st, err := b.findUpload(ctx, bucket, key, id)
	if err != nil {
		return err
	}
	name, _ := b.objectName(st.Bucket, st.Key)
	_, err = b.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &name, UploadId: &id})
	if err != nil && !errors.Is(b.mapErr(err), storage.ErrNoSuchUpload) {
		return fmt.Errorf("abort %s: %w", id, b.mapErr(err))
	}
	return b.forgetUpload(ctx, st, id)
}

// forgetUpload removes what the backend kept about an upload that ended.
func (b *Backend) forgetUpload(ctx context.Context, st uploadState, id string) error {
	ctx = context.WithoutCancel(ctx)
	names := []string{b.listingName(st.Bucket, st.Key, id, st.Initiated), b.stateName(id)}
	err := b.scan(ctx, b.partsDir(id), "", func(e entry) (bool, string) {
		names = append(names, e.name)
		return true, ""
	})
	return errors.Join(err, b.deleteNames(ctx, names...))
}

// EnforcesMinPartSize reports that completions apply S3's 5 MiB minimum to every part but the
// last, as the service does (storagetest.PartSizeEnforcer).
func (b *Backend) EnforcesMinPartSize() bool { return true }
