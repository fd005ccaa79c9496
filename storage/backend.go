package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// Backend keeps buckets and objects for the storage node. The HTTP face (Server) owns
// authentication, the S3 wire format and the presign extensions; a Backend only stores bytes and
// metadata, and knows nothing of HTTP.
//
// Implementations must be safe for concurrent use. Errors are reported with the sentinels of this
// package (wrapping them with %w is fine); any other error is answered as 500 InternalError.
type Backend interface {
	// CreateBucket makes an empty bucket. ErrBucketExists if it is already there.
	CreateBucket(ctx context.Context, bucket string) error
	// HeadBucket reports a bucket. ErrNoSuchBucket if it does not exist.
	HeadBucket(ctx context.Context, bucket string) (BucketInfo, error)
	// DeleteBucket removes an empty bucket. ErrNoSuchBucket, ErrBucketNotEmpty.
	DeleteBucket(ctx context.Context, bucket string) error
	// ListBuckets returns every bucket, ordered by name.
	ListBuckets(ctx context.Context) ([]BucketInfo, error)

	// PutObject reads body to its end and stores it as bucket/key, replacing any object there.
	// The object is durable (its bytes and index entry are on stable storage) when PutObject
	// returns nil, and not visible before that. If body's Read returns an error other than
	// io.EOF, or ctx ends, or a condition in opts fails, nothing is stored and the previous
	// object, if any, is untouched. An error from body is returned wrapped (%w), so that the
	// caller can still tell a DigestError or ErrEntityTooLarge from a server fault.
	// ErrNoSuchBucket, ErrPreconditionFailed, ErrStorageFull. Keys and bucket names reach the
	// backend already validated by the HTTP face (1 to 1024 bytes of UTF-8; S3 bucket rules).
	PutObject(ctx context.Context, bucket, key string, body Body, opts PutOptions) (ObjectInfo, error)
	// GetObject opens bucket/key for reading. The caller must Close the Object. The Object reads
	// the version that was current when GetObject returned, even if it is replaced or deleted
	// meanwhile. ErrNoSuchBucket, ErrNoSuchKey.
	GetObject(ctx context.Context, bucket, key string) (Object, error)
	// HeadObject reports bucket/key. ErrNoSuchBucket, ErrNoSuchKey.
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// DeleteObject removes bucket/key durably and returns what was removed, with the Sequencer of
	// the removal. ErrNoSuchBucket, ErrNoSuchKey (nothing was there).
	DeleteObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// ListObjects returns keys of bucket in byte order, as ListObjectsV2 describes them.
	// ErrNoSuchBucket.
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListPage, error)
}

// Body is an object's bytes on their way into a Backend. Read returns io.EOF only after every
// check on the bytes has passed (declared length, payload signature, digests, size limits); any
// other error means the bytes are not acceptable and the backend must discard what it wrote.
type Body interface {
	io.Reader
	// Size is the number of bytes the body will yield, or -1 when it is not known in advance.
	Size() int64
	// Sums returns the MD5 and checksums of all bytes read. Valid only after Read returned io.EOF.
	Sums() Sums
}

// ChecksumPlanner is a Body that knows before it is read which algorithms its Sums will hold
// checksums of (declared in headers or a trailer, or asked for), for a backend that must
// decide where checksums go before the bytes arrive.
type ChecksumPlanner interface {
	ChecksumAlgorithms() []string
}

// Sums are the digests of an object's bytes, computed while they streamed in.
type Sums struct {
	// MD5 is the MD5 of the bytes; the ETag of a single-part object is its hex form.
	MD5 [16]byte
	// Checksums maps an algorithm name ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256") to the
	// base64 checksum of the bytes, for the algorithms the client asked for.
	Checksums map[string]string
}

// Metadata is what S3 stores beside an object's bytes and returns with it.
type Metadata struct {
	ContentType        string `json:"ct,omitempty"`
	ContentEncoding    string `json:"ce,omitempty"`
	ContentDisposition string `json:"cd,omitempty"`
	ContentLanguage    string `json:"cl,omitempty"`
	CacheControl       string `json:"cc,omitempty"`
	Expires            string `json:"ex,omitempty"`
	// User holds the x-amz-meta-* headers: lower-case names without the prefix, and their values.
	User map[string]string `json:"um,omitempty"`
}

// PutOptions are the metadata and conditions of a write.
type PutOptions struct {
	Meta Metadata
	// IfNoneMatch refuses the write with ErrPreconditionFailed when an object already exists at
	// the key (If-None-Match: *). It is checked atomically with the commit.
	IfNoneMatch bool
	// IfMatch, when not empty, refuses the write with ErrPreconditionFailed unless the current
	// object's ETag equals it. It is checked atomically with the commit.
	IfMatch string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Bucket       string
	Key          string
	Size         int64
	ETag         string // without quotes: hex MD5, or "<hex>-<parts>" for multipart objects
	LastModified time.Time
	Meta         Metadata
	// Checksums as in Sums.Checksums: stored at write time and returned on request.
	Checksums map[string]string
	// Sequencer orders the changes made to one key: a later change has a greater value.
	// Set by the mutating calls (PutObject, DeleteObject, ...).
	Sequencer uint64
}

// Object is an open object version. Implementations need not be safe for concurrent use.
type Object interface {
	Info() ObjectInfo
	// Range returns a reader of length bytes starting at offset; the caller checked that
	// 0 <= offset and offset+length <= Info().Size. The reader must be closed.
	Range(ctx context.Context, offset, length int64) (io.ReadCloser, error)
	Close() error
}

// PartedObject is an Object made by a multipart upload that knows where its parts lie, so
// that GetObject and HeadObject can read one part (?partNumber=n) as S3 does.
type PartedObject interface {
	Object
	// PartRange returns the offset and length of part n, counted from 1 in the order of the
	// completion: ErrNoSuchPart when there is none, ErrPartsUnknown when the backend cannot
	// tell for this object.
	PartRange(ctx context.Context, n int) (offset, length int64, err error)
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ListOptions select a page of a bucket listing.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// After returns only keys (and common prefixes) that sort strictly after it.
	After string
	// MaxKeys bounds Objects plus CommonPrefixes; at least 1.
	MaxKeys int
}

// ListPage is one page of a listing, in key order.
type ListPage struct {
	Objects []ObjectInfo
	// CommonPrefixes are the distinct prefixes up to and including the first Delimiter after
	// Prefix, each reported once, in place of the keys they cover.
	CommonPrefixes []string
	// Truncated is true when more entries follow; NextAfter then is the last key or common
	// prefix of this page, to pass as ListOptions.After for the next page.
	Truncated bool
	NextAfter string
}

// Sentinel errors a Backend returns. The HTTP face maps each to its S3 error code.
var (
	ErrNoSuchBucket       = errors.New("storage: no such bucket")
	ErrBucketExists       = errors.New("storage: bucket already exists")
	ErrBucketNotEmpty     = errors.New("storage: bucket not empty")
	ErrNoSuchKey          = errors.New("storage: no such key")
	ErrPreconditionFailed = errors.New("storage: precondition failed")
	ErrStorageFull        = errors.New("storage: no space left")
	// ErrNoSuchPart: a read of part n of an object with fewer parts.
	ErrNoSuchPart = errors.New("storage: no such part")
	// ErrUnavailable: a service the node depends on (the object service of a gateway, the
	// shared nonce and revocation store) did not answer, or answered that it cannot serve now.
	// The request had no effect and may be retried; the node answers 503.
	ErrUnavailable = errors.New("storage: a service the node depends on is unavailable")
	// ErrPartsUnknown: the backend cannot tell where the parts of this object lie.
	ErrPartsUnknown = errors.New("storage: part boundaries unknown")
)

// NonceStore remembers the consumed nonces of single-use URLs (X-Presign-Once) durably until the
// URLs expire, so that a URL works once even across restarts. Implementations must be safe for
// concurrent use; Consume of one nonce from many goroutines returns first=true exactly once.
type NonceStore interface {
	// Consume records nonce as used until the given time. first is false when it was already
	// recorded and its time has not passed (a nonce past its time counts as forgotten). The
	// record is durable when Consume returns.
	Consume(ctx context.Context, nonce string, until time.Time) (first bool, err error)
	// Release forgets a nonce whose request failed before it took effect (nothing was stored),
	// so that the URL can be retried.
	Release(ctx context.Context, nonce string) error
}

// SelectiveMD5 is a Backend that needs the MD5 of some bodies only, e.g. one whose service
// computes ETags itself. The server asks before reading the body of a PutObject or UploadPart;
// for a body it does not need, Sums.MD5 is left zero (BodyOptions.SkipMD5), unless the client
// declared a Content-MD5. size is the declared length, -1 when unknown.
type SelectiveMD5 interface {
	NeedsMD5(size int64) bool
}
