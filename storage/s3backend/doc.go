// Package s3backend is a storage.Backend over a bucket of any S3-compatible service (AWS S3,
// SeaweedFS, Ceph RGW, MinIO). With it a storage node is a stateless gateway: it checks
// presigned URLs and their presign extensions, streams the bytes on to the service without
// buffering them, and emits the events; several nodes can share one bucket.
//
// # Layout in the service bucket
//
// All node buckets share the one service bucket (Options.Bucket), under Options.Prefix:
//
//	<prefix><bucket>/<escaped key>      the object bucket/key
//	<prefix>_presign/buckets/<bucket>   the marker that says the bucket exists
//	<prefix>_presign/cors/<bucket>      the bucket's CORS configuration
//	<prefix>_presign/policy/<bucket>    the bucket's policy
//
// Keys are escaped (see encodeKey) into names without '/' or '\': services that keep objects in
// a file tree (SeaweedFS) refuse "../x", fold "a//b" and cannot hold "a/" beside "a", and the
// escape keeps byte order and prefixes so that listings still map onto the service's own. The
// price is length: the stored name must fit the service's 1024 bytes, so a node key can be
// stored only if len(prefix)+len(bucket)+1+len(key)+(number of '.', '/', '[' and '\' in it)
// is at most 1024; longer keys are refused with KeyTooLongError (KeyFits tells in advance).
// SeaweedFS also limits one path component to 255 bytes unless its filer is started with
// WEED_FILER_OPTIONS_MAX_FILE_NAME_LENGTH=1024 (or max_file_name_length in filer.toml).
//
// Standard headers are kept as the service object's own (Content-Type, Cache-Control, ...),
// user metadata as its x-amz-meta-*, so any S3 tool sees them; see meta.go for the few values
// kept under x-amz-meta-presign-*.
//
// # Versions
//
// The service bucket keeps versions (Open turns versioning on): GetObject pins the version it
// found, so an open Object reads its own bytes even when the key is replaced or deleted
// meanwhile, as the storage contract asks. Superseded versions are removed after
// Options.VersionGrace by the node that superseded them, and by a periodic sweep of the whole
// bucket for those no node queued. Listings use ListObjectVersions, which also sidesteps a
// SeaweedFS bug that drops names at page boundaries of ListObjectsV2 in versioned buckets.
//
// # Writes
//
// A body is never visible on the service before every check on it passed (declared length,
// payload signature, digests, size limits). Small bodies are read whole and sent with their
// Content-MD5; longer ones of declared size stream through one request whose last byte is held
// back until the body ended well, framed with a CRC-32C trailer that the service checks (see
// trailer.go); longer ones of unknown size go as a multipart upload that is
// completed only then and aborted otherwise. Memory per upload is bounded by Options.BufferSize
// times (PartsInFlight+1), and that of all the uploads of a node together by 8 buffers.
//
// # Sequencers
//
// Sequencers come from a hybrid logical clock per node (see clock): unique and strictly
// increasing on a node, and unique across nodes with distinct NodeIDs. Changes of one key made
// through one node get Sequencers in the order the service applied them (the node serializes
// its own commits of a key); changes of one key made through different nodes are ordered by
// their nodes' wall clocks, so only to within the clocks' skew. The Sequencer is not stored
// with the object.
package s3backend
