package storage

import (
	"context"
	"errors"
	"time"
)

// Multiparter is the optional capability of a Backend to keep S3 multipart uploads: an object
// sent as numbered parts, each stored as it arrives, and assembled by one atomic completion.
// The HTTP face discovers it with a type assertion on Config.Backend and answers NotImplemented
// to multipart requests when the backend lacks it.
//
// Implementations must be safe for concurrent use. Keys, bucket names and part numbers reach
// them already validated by the HTTP face; an upload ID a backend did not issue is simply
// unknown (ErrNoSuchUpload). Besides the sentinels of Backend, the methods report
// ErrNoSuchUpload, ErrInvalidPart, ErrInvalidPartOrder, ErrPartTooSmall and ErrEntityTooLarge.
type Multiparter interface {
	// CreateMultipartUpload starts an upload of bucket/key with the metadata and checksum
	// settings the object will have. ErrNoSuchBucket.
	CreateMultipartUpload(ctx context.Context, bucket, key string, opts MultipartOptions) (MultipartUpload, error)
	// HeadMultipartUpload reports an upload in progress. ErrNoSuchUpload when uploadID does not
	// name an upload of bucket/key in progress.
	HeadMultipartUpload(ctx context.Context, bucket, key, uploadID string) (MultipartUpload, error)
	// UploadPart reads body to its end and stores it as part number (1..MaxParts) of the
	// upload, replacing a part of that number. As with Backend.PutObject, the part is durable
	// when UploadPart returns nil, and a failing body or context stores nothing and leaves a
	// previous part of that number in place; errors of body are returned wrapped.
	// ErrNoSuchUpload, also when the upload is completed or aborted while the body streams.
	UploadPart(ctx context.Context, bucket, key, uploadID string, number int, body Body) (PartInfo, error)
	// CompleteMultipartUpload makes the listed parts, in order, the object bucket/key, in one
	// atomic step: afterwards the upload and its unlisted parts are gone. parts must be in
	// strictly ascending order (ErrInvalidPartOrder), 1 to MaxParts of them, each naming a
	// stored part with its ETag and, when given, its checksums (ErrInvalidPart); every part but
	// the last must hold at least opts.MinPartSize bytes (ErrPartTooSmall). The conditions of
	// opts are checked atomically with the commit (ErrPreconditionFailed), as is the upload's
	// MaxSize (ErrEntityTooLarge). CheckCompletion applies every one of these rules but the
	// conditions; implementations call it rather than repeat them.
	//
	// A retried completion with the same parts, while the backend still remembers the first
	// (at least a day), succeeds again with the first's result and Replayed set; with other
	// parts it fails with ErrNoSuchUpload.
	CompleteMultipartUpload(ctx context.Context, bucket, key, uploadID string, parts []CompletePart, opts CompleteOptions) (CompletedUpload, error)
	// AbortMultipartUpload ends an upload and removes its parts. ErrNoSuchUpload.
	AbortMultipartUpload(ctx context.Context, bucket, key, uploadID string) error
	// ListParts returns the stored parts of an upload in part-number order. ErrNoSuchUpload.
	ListParts(ctx context.Context, bucket, key, uploadID string, opts ListPartsOptions) (PartsPage, error)
	// ListMultipartUploads returns the uploads in progress of bucket, ordered by key and, for
	// one key, by initiation. ErrNoSuchBucket.
	ListMultipartUploads(ctx context.Context, bucket string, opts ListUploadsOptions) (UploadsPage, error)
}

// S3's limits of a multipart upload.
const (
	// MaxParts is the largest part number and the most parts one object may have.
	MaxParts = 10000
	// MinPartSize is the least size of every part of an object but the last.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part.
	MaxPartSize = 5 << 30
)

// Checksum types of a multipart upload (x-amz-checksum-type).
const (
	// ChecksumComposite: the object's checksum is the checksum of its parts' concatenated raw
	// checksums, written "<base64>-<parts>".
	ChecksumComposite = "COMPOSITE"
	// ChecksumFullObject: the object's checksum is the CRC of its whole content, combined from
	// the parts' CRCs.
	ChecksumFullObject = "FULL_OBJECT"
)

// MultipartOptions are the settings of a new multipart upload.
type MultipartOptions struct {
	// Meta is the metadata the completed object gets.
	Meta Metadata
	// ChecksumAlgorithm, when set (one of sigv4.ChecksumAlgorithms), gives every part and the
	// completed object a checksum of this algorithm, of type ChecksumType.
	ChecksumAlgorithm string
	// ChecksumType is ChecksumComposite or ChecksumFullObject; empty without an algorithm.
	ChecksumType string
	// MaxSize, when positive, bounds the size of the completed object.
	MaxSize int64
}

// MultipartUpload describes an upload in progress.
type MultipartUpload struct {
	Bucket    string
	Key       string
	UploadID  string
	Initiated time.Time
	MultipartOptions
}

// PartInfo describes a stored part.
type PartInfo struct {
	Number       int
	Size         int64
	ETag         string // hex MD5 of the part, without quotes
	LastModified time.Time
	// Checksums as in Sums.Checksums: those the client sent or asked for, and the upload's.
	Checksums map[string]string
}

// CompletePart names a part in a completion request.
type CompletePart struct {
	Number int
	ETag   string // without quotes
	// Checksums the client listed for the part; each must equal the stored one.
	Checksums map[string]string
}

// CompleteOptions are the conditions and rules of a completion.
type CompleteOptions struct {
	// IfNoneMatch and IfMatch are the write conditions of PutOptions, applied to the object
	// the completion would replace.
	IfNoneMatch bool
	IfMatch     string
	// MinPartSize is the least size of every part but the last; 0 means MinPartSize.
	MinPartSize int64
	// Checksums are whole-object values the client declared (x-amz-checksum-* of the
	// completion request); each must equal the computed one, with or without its "-N" suffix,
	// or the completion fails with a *DigestError. One that was not computed (empty, or of an
	// algorithm the upload does not have) cannot be verified and fails the same way.
	Checksums map[string]string
}

// CompletedUpload is the outcome of a completion.
type CompletedUpload struct {
	// Object is the completed object, with the Sequencer of its creation.
	Object ObjectInfo
	// Replayed is true when this call repeated an earlier completion and changed nothing.
	Replayed bool
}

// ListPartsOptions select a page of parts.
type ListPartsOptions struct {
	// After returns only parts numbered above it.
	After int
	// MaxParts bounds the page; below 1 means 1000.
	MaxParts int
}

// PartsPage is one page of an upload's parts.
type PartsPage struct {
	Upload MultipartUpload
	Parts  []PartInfo
	// Truncated is true when more parts follow; NextAfter is then the last number of this page.
	Truncated bool
	NextAfter int
}

// ListUploadsOptions select a page of uploads in progress.
type ListUploadsOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker and UploadIDMarker: the page starts after the upload UploadIDMarker of key
	// KeyMarker, or, without UploadIDMarker, after every upload of KeyMarker.
	KeyMarker      string
	UploadIDMarker string
	// MaxUploads bounds Uploads plus CommonPrefixes; below 1 means 1000.
	MaxUploads int
}

// UploadsPage is one page of uploads in progress.
type UploadsPage struct {
	Uploads []MultipartUpload
	// CommonPrefixes group keys as in ListPage.
	CommonPrefixes []string
	// Truncated is true when more follow; pass NextKeyMarker and NextUploadIDMarker as the
	// markers of the next page.
	Truncated          bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// Sentinel errors of a Multiparter. The HTTP face maps each to its S3 error code.
var (
	ErrNoSuchUpload     = errors.New("storage: no such multipart upload")
	ErrInvalidPart      = errors.New("storage: a listed part is missing or differs")
	ErrInvalidPartOrder = errors.New("storage: parts not listed in ascending order")
	ErrPartTooSmall     = errors.New("storage: a part other than the last is too small")
)
