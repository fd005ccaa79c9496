package control

import (
	"context"
	"errors"
)

// Objects is what the control plane asks of the object store, over the network: the S3 API in
// practice (package control/bucket), never the storage node's code. Every key is in the one
// bucket the control plane was configured with. Implementations must be safe for concurrent
// use; failures other than the sentinels below should be *StorageError.
type Objects interface {
	// Head describes the object at key, with its SHA-256 checksum when the store kept one.
	// ErrNoObject when there is none.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes the object at key; removing nothing is not an error.
	Delete(ctx context.Context, key string) error
	// CreateMultipart starts a multipart upload of an object of the content type at key and
	// returns its upload id.
	CreateMultipart(ctx context.Context, key, contentType string) (string, error)
	// CompleteMultipart assembles the parts, in part-number order, into the object at key and
	// returns its ETag. ErrNoMultipart when the store no longer knows the upload (completed or
	// aborted before); ErrBadParts when the parts do not assemble (unknown part, wrong ETag,
	// a part too small); the upload is then still open.
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) (string, error)
	// AbortMultipart discards the upload and its parts; an unknown upload is not an error.
	AbortMultipart(ctx context.Context, key, uploadID string) error
	// ListParts returns the parts the store holds for the upload, in part-number order.
	// ErrNoMultipart.
	ListParts(ctx context.Context, key, uploadID string) ([]Part, error)
	// Ready reports whether the store answers and the bucket exists.
	Ready(ctx context.Context) error
}

// ObjectInfo is what Head reports of an object.
type ObjectInfo struct {
	Size        int64
	ContentType string
	ETag        string // without quotes
	// SHA256 is the base64 x-amz-checksum-sha256 of a whole object that was uploaded with it;
	// empty when the store kept none (multipart objects, stores without checksums).
	SHA256 string
	// MD5 and CRC32C are the object's checksums as the store reports them, hex (the CRC32C
	// big-endian); empty when it reports none (see ChecksumCheck).
	MD5, CRC32C string
	// Replayed are the headers the store keeps with the object and replays on downloads;
	// completion fails an object that keeps any (replayedMismatch).
	Replayed ReplayedHeaders
}

// Part is one part of a multipart upload.
type Part struct {
	Number int    `json:"part_number"`
	ETag   string `json:"etag"`
	Size   int64  `json:"size,omitempty"`
}

// Sentinel errors of Objects.
var (
	ErrNoObject    = errors.New("control: no such object")
	ErrNoMultipart = errors.New("control: no such multipart upload")
	ErrBadParts    = errors.New("control: the parts do not make the object")
	// ErrObjectStoreFull marks a *StorageError whose store answered that it has no space left
	// for the change (S3's 507 InsufficientStorage); the store changed nothing.
	ErrObjectStoreFull = errors.New("control: object store full")
)
