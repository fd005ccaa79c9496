package control

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	"presign/sigv4"
)

// BuiltinPolicy returns the default policy in force until an administrator stores one
// (PUT /v1/policy): 10 GiB objects of any type, a 100 GiB quota, 100 pending uploads, 15-minute
// URLs.
//
// In a policy a zero max_object_bytes, quota_bytes or max_pending_uploads means "no limit", an
// empty allowed_content_types allows every type, and a zero url_ttl_seconds means 15 minutes.
func BuiltinPolicy() Policy {
	return Policy{
		MaxObjectBytes:      10 << 30,
		AllowedContentTypes: []string{"*/*"},
		QuotaBytes:          100 << 30,
		MaxPendingUploads:   100,
		URLTTLSeconds:       int(DefaultURLTTL / time.Second),
	}
}

// DefaultURLTTL is the lifetime of a URL when the policy sets none.
const DefaultURLTTL = 15 * time.Minute

// maxContentTypePatterns bounds allowed_content_types.
const maxContentTypePatterns = 100

// defaultPolicy returns the stored defaults, or BuiltinPolicy while none are stored.
func (s *Service) defaultPolicy(ctx context.Context) (Policy, error) {
	p, err := s.store.DefaultPolicy(ctx)
	if errors.Is(err, ErrNotFound) {
		return BuiltinPolicy(), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("default policy: %w", err)
	}
	return p, nil
}

// effectivePolicy is the defaults with the user's overrides applied.
func (s *Service) effectivePolicy(ctx context.Context, u *User) (Policy, error) {
	p, err := s.defaultPolicy(ctx)
	if err != nil {
		return p, err
	}
	return applyOverride(p, u.Policy), nil
}

func applyOverride(p Policy, o PolicyOverride) Policy {
	if o.MaxObjectBytes != nil {
		p.MaxObjectBytes = *o.MaxObjectBytes
	}
	if o.AllowedContentTypes != nil {
		p.AllowedContentTypes = o.AllowedContentTypes
	}
	if o.QuotaBytes != nil {
		p.QuotaBytes = *o.QuotaBytes
	}
	if o.MaxPendingUploads != nil {
		p.MaxPendingUploads = *o.MaxPendingUploads
	}
	if o.URLTTLSeconds != nil {
		p.URLTTLSeconds = *o.URLTTLSeconds
	}
	return p
}

// urlTTL is how long the URLs the policy allows live.
func (p Policy) urlTTL() time.Duration {
	if p.URLTTLSeconds <= 0 {
		return DefaultURLTTL
	}
	return time.Duration(p.URLTTLSeconds) * time.Second
}

// checkPolicy reports whether every field of p is within its range. It returns an *Error that
// names the field.
func checkPolicy(p Policy) error {
	return checkPolicyFields(&p.MaxObjectBytes, &p.QuotaBytes, &p.MaxPendingUploads, &p.URLTTLSeconds, p.AllowedContentTypes)
}

// checkOverride is checkPolicy for the fields an override sets.
func checkOverride(o PolicyOverride) error {
	return checkPolicyFields(o.MaxObjectBytes, o.QuotaBytes, o.MaxPendingUploads, o.URLTTLSeconds, o.AllowedContentTypes)
}

func checkPolicyFields(maxObj, quota *int64, pending, ttl *int, types []string) error {
	switch {
	case maxObj != nil && (*maxObj < 0 || *maxObj > MaxObjectSize):
		return invalid("policy: max_object_bytes must be 0 (no limit) to %d", int64(MaxObjectSize))
	case quota != nil && *quota < 0:
		return invalid("policy: quota_bytes must be 0 (no limit) or more")
	case pending != nil && *pending < 0:
		return invalid("policy: max_pending_uploads must be 0 (no limit) or more")
	case ttl != nil && (*ttl < 0 || time.Duration(*ttl)*time.Second > sigv4.MaxExpires):
		return invalid("policy: url_ttl_seconds must be 0 (15 minutes) to %d (7 days)", int(sigv4.MaxExpires/time.Second))
	case len(types) > maxContentTypePatterns:
		return invalid("policy: allowed_content_types has more than %d patterns", maxContentTypePatterns)
	}
	for _, t := range types {
		if !validTypePattern(t) {
			return invalid("policy: allowed_content_types: %q is not a type pattern (like video/mp4, video/* or */*)", t)
		}
	}
	return nil
}

// validTypePattern accepts "type/subtype", "type/*" and "*/*".
func validTypePattern(p string) bool {
	typ, sub, ok := strings.Cut(p, "/")
	if !ok || typ == "" || sub == "" || (typ == "*" && sub != "*") {
		return false
	}
	return isToken(typ) && isToken(sub)
}

func isToken(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// typeAllowed reports whether the media type (lower case, no parameters) matches a pattern.
func typeAllowed(mediaType string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(mediaType, "/")
	for _, p := range patterns {
		p = strings.ToLower(p)
		if p == "*/*" || p == mediaType || (strings.HasSuffix(p, "/*") && p[:len(p)-2] == typ) {
			return true
		}
	}
	return false
}

// parseContentType checks a declared Content-Type and returns its media type in lower case.
// The declared value itself is what gets signed and stored, so the client sends it verbatim.
func parseContentType(ct string) (string, error) {
	if len(ct) > 256 {
		return "", invalid("content_type is longer than 256 bytes")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return "", invalid("content_type %q is not a media type (like video/mp4)", ct)
	}
	for _, c := range []byte(ct) {
		if c < ' ' || c >= 0x7f {
			return "", invalid("content_type must be printable ASCII")
		}
	}
	return mt, nil
}

// limits are the store-checked parts of a policy.
func (p Policy) limits() Limits {
	return Limits{QuotaBytes: p.QuotaBytes, MaxPending: p.MaxPendingUploads}
}
