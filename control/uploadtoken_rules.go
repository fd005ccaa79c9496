package control

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules of upload tokens that need no store: what a token may be minted with, and how
// the uploads of unknown size it allows are bounded.

// Upload token lifetimes: short by default, since the token travels to a browser and, with
// Uppy, in URL paths.
const (
	DefaultUploadTokenTTL = 15 * time.Minute
	MaxUploadTokenTTL     = 24 * time.Hour
	minUploadTokenTTL     = time.Minute
)

// Bounds of what a token carries.
const (
	maxSubjectBytes   = 256
	maxKeyPrefixBytes = 200
	// MaxPartSize is S3's limit on one part of a multipart upload.
	MaxPartSize = 5 << 30
	// MinPartSize is S3's smallest part other than the last.
	MinPartSize = 5 << 20
	// MaxSinglePutSize is S3's limit on one PUT or POST-form object.
	MaxSinglePutSize = 5 << 30
)

// UploadLimits are what an upload token allows, each no wider than its owner's policy. Zero
// is "no limit of the token's own" (the policy still applies); an empty AllowedContentTypes
// is the policy's.
type UploadLimits struct {
	MaxFileBytes        int64    `json:"max_file_bytes,omitempty"`
	MaxTotalBytes       int64    `json:"max_total_bytes,omitempty"`
	MaxFiles            int      `json:"max_files,omitempty"`
	AllowedContentTypes []string `json:"allowed_content_types,omitempty"`
	// KeyPrefix is put after the owner's namespace (u/<user-id>/) in every key the token's
	// uploads get: whole segments of [A-Za-z0-9._-], each followed by '/'.
	KeyPrefix string `json:"key_prefix,omitempty"`
}

// narrowLimits checks the limits a caller asks a token for against the caller's policy:
// anything wider is refused (an *Error naming the rule), nothing is silently cut. Unset
// limits take the policy's, so the token states its whole reach.
func narrowLimits(req UploadLimits, pol Policy) (UploadLimits, error) {
	out := req
	out.AllowedContentTypes = slices.Clone(req.AllowedContentTypes)
	switch {
	case req.MaxFileBytes < 0 || req.MaxTotalBytes < 0 || req.MaxFiles < 0:
		return out, invalid("max_file_bytes, max_total_bytes and max_files must not be negative")
	case req.MaxFileBytes > MaxObjectSize:
		return out, invalid("max_file_bytes %d is above the largest object, %d bytes", req.MaxFileBytes, int64(MaxObjectSize))
	case pol.MaxObjectBytes > 0 && req.MaxFileBytes > pol.MaxObjectBytes:
		return out, tooWide("max_file_bytes %d is above max_object_bytes %d of your policy", req.MaxFileBytes, pol.MaxObjectBytes)
	case pol.QuotaBytes > 0 && req.MaxTotalBytes > pol.QuotaBytes:
		return out, tooWide("max_total_bytes %d is above quota_bytes %d of your policy", req.MaxTotalBytes, pol.QuotaBytes)
	}
	if out.MaxFileBytes == 0 {
		out.MaxFileBytes = pol.MaxObjectBytes
	}
	if len(req.AllowedContentTypes) > maxContentTypePatterns {
		return out, invalid("allowed_content_types has more than %d patterns", maxContentTypePatterns)
	}
	for i, p := range req.AllowedContentTypes {
		if !validTypePattern(p) {
			return out, invalid("allowed_content_types: %q is not a type pattern (like image/png, image/* or */*)", p)
		}
		out.AllowedContentTypes[i] = strings.ToLower(p)
		if !patternCovered(out.AllowedContentTypes[i], pol.AllowedContentTypes) {
			return out, tooWide("allowed_content_types: %q is wider than allowed_content_types %v of your policy", p, pol.AllowedContentTypes)
		}
	}
	if len(out.AllowedContentTypes) == 0 {
		out.AllowedContentTypes = pol.AllowedContentTypes
	}
	if err := checkKeyPrefix(req.KeyPrefix); err != nil {
		return out, err
	}
	return out, nil
}

func tooWide(format string, args ...any) *Error {
	return errorf(http.StatusForbidden, CodeLimitsTooWide, format, args...)
}

// patternCovered reports whether every media type the pattern p matches is allowed by one of
// the policy's patterns (an empty list allows every type).
func patternCovered(p string, policy []string) bool {
	if len(policy) == 0 {
		return true
	}
	typ, sub, _ := strings.Cut(p, "/")
	for _, q := range policy {
		q = strings.ToLower(q)
		qt, qs, _ := strings.Cut(q, "/")
		switch {
		case q == "*/*", q == p:
			return true
		case qs == "*" && qt == typ && typ != "*":
			return true
		case sub != "*" && typ != "*" && q == typ+"/"+sub:
			return true
		}
	}
	return false
}

// checkKeyPrefix accepts "" or segments of [A-Za-z0-9._-] each followed by '/', none of them
// "." or "..": the prefix becomes part of object keys without any escaping, inside the owner's
// namespace.
func checkKeyPrefix(p string) error {
	if p == "" {
		return nil
	}
	bad := invalid("key_prefix must be segments of A-Z a-z 0-9 . _ - each ending in '/' (like avatars/ or app/42/), at most %d bytes", maxKeyPrefixBytes)
	if len(p) > maxKeyPrefixBytes || !strings.HasSuffix(p, "/") {
		return bad
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad
		}
		for _, c := range []byte(seg) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return bad
			}
		}
	}
	return nil
}

// checkSubject accepts the application's own name for who uploads: up to 256 bytes of UTF-8
// without control characters.
func checkSubject(s string) error {
	if len(s) > maxSubjectBytes || !utf8.ValidString(s) || hasControl(s) {
		return invalid("subject must be at most %d bytes of UTF-8 without control characters", maxSubjectBytes)
	}
	return nil
}

// unknownSizeMax is the most an upload whose size is not declared may hold: the smallest of
// the object limit of the route (one PUT or form, or multipart), the policy's max_object_bytes
// and the token's max_file_bytes and max_total_bytes. Quota is reserved at this size until
// the upload ends.
func unknownSizeMax(multipart bool, pol Policy, lim *UploadLimits) int64 {
	m := int64(MaxSinglePutSize)
	if multipart {
		m = MaxObjectSize
	}
	for _, l := range []int64{pol.MaxObjectBytes, limOr(lim, func(l *UploadLimits) int64 { return l.MaxFileBytes }),
		limOr(lim, func(l *UploadLimits) int64 { return l.MaxTotalBytes })} {
		if l > 0 && l < m {
			m = l
		}
	}
	return m
}

func limOr(lim *UploadLimits, f func(*UploadLimits) int64) int64 {
	if lim == nil {
		return 0
	}
	return f(lim)
}

// partCap is the most part n of a client-chunked multipart upload of at most max bytes may
// hold: S3's 5 GiB, and what the upload's maximum leaves after parts 1..n-1, which hold at
// least MinPartSize each (S3 refuses to assemble smaller ones). Zero or less: part n cannot fit.
func partCap(max int64, n int) int64 {
	c := max - int64(n-1)*MinPartSize
	return min(c, MaxPartSize)
}

// sizeWithin reports why an object of size bytes does not fit an upload of unknown size whose
// maximum is max, or "".
func sizeWithin(size, max int64) string {
	switch {
	case size < 1:
		return "the object is empty"
	case size > max:
		return fmt.Sprintf("size: stored %d bytes, at most %d allowed", size, max)
	}
	return ""
}
