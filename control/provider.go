package control

import (
	"net/http"
	"time"
)

// URLSigner is an Objects whose store is not S3 and which signs its own URLs: Azure Blob
// Storage (SAS, package control/provider/azure) or Google Cloud Storage (V4 signed URLs,
// package control/provider/gcs). The Service signs S3 itself (SigV4, with or without the
// extensions); given an Objects that implements URLSigner it asks it for every URL it hands out
// instead, and the extensions are off.
//
// Signing is local (no network call). What a provider's signature cannot carry is checked at
// completion like everything else (verifyObject), and Provider says what that is.
type URLSigner interface {
	// Provider names the store ("azure", "gcs") for errors and logs.
	Provider() string
	// SignUpload signs the one request that uploads a whole object.
	SignUpload(req UploadSigning) (SignedRequest, error)
	// SignPart signs the upload of one part of a multipart upload the provider started with
	// CreateMultipart.
	SignPart(req PartSigning) (SignedRequest, error)
	// SignDownload signs a GET of the object at key whose answer carries the
	// Content-Disposition and Content-Type given.
	SignDownload(key, disposition, contentType string, now time.Time, ttl time.Duration) (string, error)
	// ObjectURL is the unsigned URL of the object at key (what Companion's clients are told
	// the object's location is).
	ObjectURL(key string) string
	// CapsUploadSize reports whether a signed upload holds the body to the signed size (GCS:
	// x-goog-content-length-range); when false (an Azure SAS cannot), an upload of undeclared
	// size cannot be a single request, and a declared size is only checked at completion.
	CapsUploadSize() bool
	// PartETags reports whether the store answers a part upload with an ETag the client can
	// list at completion. When false (Azure's Put Block answers none), completion assembles
	// the parts the store holds, whatever the client lists.
	PartETags() bool
	// PartAnswersETag reports whether a part upload's answer carries an ETag header at all,
	// listed at completion or not: Uppy's S3 plugin fails a part without one (GCS: each part
	// is an object, answered with its ETag; Azure's Put Block answers none).
	PartAnswersETag() bool
	// ChecksumCheck says where the store checks a declared checksum (ChecksumMD5,
	// ChecksumCRC32C) of an upload of the kind: SignUpload puts it in the request's headers
	// when the store checks it before keeping the bytes, and Head reports it when the store
	// keeps it for such an object. A ticket declaring one that is neither is refused.
	ChecksumCheck(kind UploadKind, checksum string) ChecksumCheck
}

// FormSigner is a URLSigner whose store takes browser form uploads, a POST policy (Google Cloud
// Storage; Azure Blob Storage has no form upload): what Uppy's S3 plugin sends for a single
// file.
type FormSigner interface {
	// SignForm signs the form upload of a whole object: the URL the form posts to and the
	// fields it posts before the file. It fixes the key and content type, holds the file to
	// the signed size (1..MaxSize for an undeclared one) and asks for a 201 answer.
	SignForm(req UploadSigning) (url string, fields map[string]string, err error)
}

// UploadSigning is what a single upload's signature covers.
type UploadSigning struct {
	Key, ContentType string
	// Size is the declared size; MaxSize, when above zero, the most an upload of undeclared
	// size may hold (Size is then 0).
	Size, MaxSize int64
	// MD5 and CRC32C are the declared checksums in base64 (the CRC32C big-endian), "" when
	// not declared: the request carries them where the store checks them (ChecksumCheck).
	MD5, CRC32C string
	Now         time.Time
	TTL         time.Duration
}

// PartSigning is what a part upload's signature covers.
type PartSigning struct {
	Key, MultipartID string
	Number           int
	// Size is the part's planned size, or, with Capped, the most it may hold.
	Size   int64
	Capped bool
	// URLOnly says the client sends the URL and the body and no header (Uppy's S3 plugin on
	// the Companion routes): the signature must require none, and what a signed header would
	// have capped is left to the check at completion.
	URLOnly bool
	Now     time.Time
	TTL     time.Duration
}

// SignedRequest is a request a client sends to the store as it is: its method, URL and the
// headers it must carry.
type SignedRequest struct {
	Method  string
	URL     string
	Headers map[string]string
}

// takesForms reports whether the store takes form uploads: S3, whose forms the Service signs,
// or a provider that is a FormSigner.
func (s *Service) takesForms() bool {
	p := s.urlSigner()
	if p == nil {
		return true
	}
	_, ok := p.(FormSigner)
	return ok
}

// urlSigner returns the provider's signer, or nil when the Service signs S3 itself.
func (s *Service) urlSigner() URLSigner {
	if p, ok := s.objects.(URLSigner); ok {
		return p
	}
	return nil
}

// notOnProvider is the refusal of what a provider cannot do at all.
func notOnProvider(p URLSigner, what string) *Error {
	return errorf(http.StatusNotImplemented, CodeNotSupported, "the object store (%s) %s", p.Provider(), what)
}
