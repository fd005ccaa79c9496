package s3backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// head reports the current version of bucket/key and its version id.
func (b *Backend) head(ctx context.Context, bucket, key string) (storage.ObjectInfo, string, error) {
	if err := b.checkBucket(ctx, bucket); err != nil {
		return storage.ObjectInfo{}, "", err
	}
	name, err := b.objectName(bucket, key)
	if err != nil {
		return storage.ObjectInfo{}, "", storage.ErrNoSuchKey // a key too long to store was never stored
	}
	out, err := b.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &name})
	if err != nil {
		if notFound(err) {
			return storage.ObjectInfo{}, "", storage.ErrNoSuchKey
		}
		return storage.ObjectInfo{}, "", fmt.Errorf("head %s/%s: %w", bucket, key, b.mapErr(err))
	}
	d := decodedInfo{
		contentType: out.ContentType, contentEncoding: out.ContentEncoding,
		contentDisposition: out.ContentDisposition, contentLanguage: out.ContentLanguage,
		cacheControl: out.CacheControl, meta: out.Metadata, size: out.ContentLength,
		etag: out.ETag, lastModified: out.LastModified,
	}
	info, version := d.info(bucket, key), aws.ToString(out.VersionId)
	if (strings.Contains(info.ETag, "-") || hasMeta(out.Metadata, metaSums)) && version != "" {
		// A completed multipart upload, or a stream: its checksums were known only after
		// the service object's metadata was fixed, and are kept beside it.
		if data, err := b.getSmall(ctx, b.sumsName(version)); err == nil {
			var sums map[string]string
			if json.Unmarshal(data, &sums) == nil {
				info.Checksums = sums
			}
		}
	}
	return info, version, nil
}

// HeadObject implements storage.Backend.
func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (storage.ObjectInfo, error) {
	info, _, err := b.head(ctx, bucket, key)
	return info, err
}

// GetObject implements storage.Backend. The Object reads the service version that was current,
// by its version id, so a replace or delete does not reach it for Options.VersionGrace.
func (b *Backend) GetObject(ctx context.Context, bucket, key string) (storage.Object, error) {
	info, version, err := b.head(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	name, _ := b.objectName(bucket, key)
	return &object{b: b, name: name, version: version, info: info}, nil
}

// object is an open version of a node object.
type object struct {
	b       *Backend
	name    string
	version string
	info    storage.ObjectInfo
}

func (o *object) Info() storage.ObjectInfo { return o.info }

func (o *object) Close() error { return nil }

// Range implements storage.Object.
func (o *object) Range(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	if length == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	in := &s3.GetObjectInput{
		Bucket: &o.b.bucket,
		Key:    &o.name,
		Range:  aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10)),
	}
	in.VersionId, in.IfMatch = o.pin()
	var conn net.Conn
	if o.b.ownClient {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) { conn = c.Conn }})
	}
	out, err := o.b.s3.GetObject(ctx, in)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("read %s: the version was removed: %w", o.name, storage.ErrNoSuchKey)
		}
		return nil, fmt.Errorf("read %s: %w", o.name, o.b.mapErr(err))
	}
	r := &exactReader{rc: out.Body, left: length, bufs: &o.b.copyBufs, idle: o.b.opts.StallTimeout}
	// Only a body framed by its Content-Length is the connection's bytes as they come.
	if tc, ok := conn.(*net.TCPConn); ok && aws.ToInt64(out.ContentLength) == length && canWatchSplice(tc) {
		r.conn = tc
	}
	return r, nil
}

// PartRange implements storage.PartedObject. A node's multipart object is the service's
// multipart object, completed with the same parts in the same order, so the service says where
// part n lies: HEAD with partNumber answers with its Content-Range.
func (o *object) PartRange(ctx context.Context, n int) (offset, length int64, err error) {
	in := &s3.HeadObjectInput{Bucket: &o.b.bucket, Key: &o.name, PartNumber: aws.Int32(int32(n))}
	in.VersionId, in.IfMatch = o.pin()
	out, err := o.b.s3.HeadObject(ctx, in)
	if err != nil {
		switch {
		case httpStatus(err) == http.StatusRequestedRangeNotSatisfiable:
			return 0, 0, storage.ErrNoSuchPart
		case notFound(err):
			return 0, 0, fmt.Errorf("part %d of %s: the version was removed: %w", n, o.name, storage.ErrNoSuchKey)
		}
		return 0, 0, fmt.Errorf("part %d of %s: %w", n, o.name, o.b.mapErr(err))
	}
	var first, last, total int64
	if _, err := fmt.Sscanf(aws.ToString(out.ContentRange), "bytes %d-%d/%d", &first, &last, &total); err != nil ||
		total != o.info.Size || last < first || aws.ToInt64(out.ContentLength) != last-first+1 {
		// A service that answers a part HEAD without saying where the part lies.
		return 0, 0, fmt.Errorf("part %d of %s: Content-Range %q: %w", n, o.name, aws.ToString(out.ContentRange), storage.ErrPartsUnknown)
	}
	return first, last - first + 1, nil
}

// pin is what makes a read of the service get this version's bytes: its version id, or for an
// object written before the bucket kept versions, an If-Match on its ETag, so that at least
// two versions' bytes never mix.
func (o *object) pin() (versionID, ifMatch *string) {
	if o.version != "" && o.version != "null" {
		return &o.version, nil
	}
	return nil, aws.String(`"` + o.info.ETag + `"`)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// exactReader fails a response body that ends before the bytes asked for, so that a cut
// connection to the service is never passed on as a short but complete object.
type exactReader struct {
	rc   io.ReadCloser
	left int64
	bufs *sync.Pool // of *[]byte, copyBufSize each, for WriteTo
	// conn, when set, is the plain TCP connection the body arrives on, from the backend's own
	// transport, with nothing but the body's bytes left on it.
	conn *net.TCPConn
	// idle bounds how long a splice from conn may wait for the service (Options.StallTimeout).
	idle time.Duration
}

func (r *exactReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	if err == io.EOF {
		if r.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		return n, io.EOF
	}
	return n, err
}

func (r *exactReader) Close() error { return r.rc.Close() }

// copyBufSize is the buffer of exactReader.WriteTo: large reads straight from the connection,
// and large writes to the client, cost fewer copies and system calls than io.Copy's 32 KiB.
const copyBufSize = 256 << 10

// WriteTo implements io.WriterTo, which io.Copy prefers, so that a download streams through
// the node in large pieces, or, where it can, without passing through the node at all.
func (r *exactReader) WriteTo(w io.Writer) (int64, error) {
	bp, ok := r.bufs.Get().(*[]byte)
	if !ok {
		b := make([]byte, copyBufSize)
		bp = &b
	}
	defer r.bufs.Put(bp)
	var rf io.ReaderFrom
	if r.conn != nil {
		rf, _ = w.(io.ReaderFrom)
	}
	var total int64
	for {
		n, err := r.Read(*bp)
		if n > 0 {
			m, werr := w.Write((*bp)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if rf != nil && r.left > copyBufSize {
			m, err := r.splice(rf)
			return total + m, err
		}
	}
}

// splice hands the rest of the body from the service's connection to rf. An http.ResponseWriter
// over plain TCP moves it socket to socket with splice(2), so the node copies none of the
// bytes: on a 2-vCPU VM with no congestion control pacing, a 2 GiB download cost the node 0.13
// CPU-seconds per GB instead of 0.25 (docs/gateway.md). It is called after a read of
// copyBufSize, which took whatever the transport's 4 KiB read buffer held, so the connection's
// next bytes are the body's. The transport never sees the body end and closes the connection
// rather than reuse it.
//
// The splice bypasses the transport, and with it stallGuard: watchSplice bounds it instead.
func (r *exactReader) splice(rf io.ReaderFrom) (int64, error) {
	stop := watchSplice(r.conn, r.left, r.idle)
	n, err := rf.ReadFrom(&io.LimitedReader{R: r.conn, N: r.left})
	r.left -= n
	if stop() {
		return n, stalledError{r.idle}
	}
	if err != nil {
		return n, err
	}
	if r.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}
