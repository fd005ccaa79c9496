package sigv4

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Kind classifies why a request failed authentication. Each kind maps to exactly one S3 error
// code and HTTP status (Code, Status); several kinds can share a code, as S3's AccessDenied
// covers expiry, "not yet valid" and unsigned headers.
type Kind int

// The kinds of authentication failure.
const (
	// KindMissingAuth: the request carries no signature at all (anonymous).
	KindMissingAuth Kind = iota + 1
	// KindQueryParams: presigned-URL parameters missing or malformed, wrong algorithm, bad
	// credential scope, X-Amz-Expires out of range.
	KindQueryParams
	// KindHeaderMalformed: the Authorization header is malformed or its scope is wrong.
	KindHeaderMalformed
	// KindInvalidAccessKeyID: the access key is unknown.
	KindInvalidAccessKeyID
	// KindSignatureMismatch: the signature of the request, a chunk or a trailer is wrong.
	KindSignatureMismatch
	// KindExpired: a presigned URL (or POST policy) used after its expiry.
	KindExpired
	// KindNotYetValid: a presigned URL whose X-Amz-Date is further ahead than the allowed skew.
	KindNotYetValid
	// KindHeadersNotSigned: x-amz-* headers present but not covered by the signature.
	KindHeadersNotSigned
	// KindTimeTooSkewed: a header-signed request whose date is too far from the server's clock.
	KindTimeTooSkewed
	// KindMissingContentSHA256: header auth without the x-amz-content-sha256 header.
	KindMissingContentSHA256
	// KindInvalidContentSHA256: x-amz-content-sha256 is neither a known mode nor a hex SHA-256.
	KindInvalidContentSHA256
	// KindContentSHA256Mismatch: the body does not hash to the signed x-amz-content-sha256.
	KindContentSHA256Mismatch
	// KindIncompleteBody: an aws-chunked body ended before its declared end.
	KindIncompleteBody
	// KindMalformedChunk: an aws-chunked body is not well formed.
	KindMalformedChunk
	// KindBadDigest: a trailing checksum does not match the bytes.
	KindBadDigest
	// KindInvalidPolicy: a POST policy document that cannot be parsed.
	KindInvalidPolicy
	// KindPolicyViolation: a POST form that breaks a condition of its policy, or is expired.
	KindPolicyViolation
	// KindEntityTooLarge: a POST file larger than the policy's content-length-range.
	KindEntityTooLarge
	// KindEntityTooSmall: a POST file smaller than the policy's content-length-range.
	KindEntityTooSmall
)

// kindInfo is the one table from kinds to S3 codes, statuses and default messages.
var kindInfo = map[Kind]struct {
	code    string
	status  int
	message string
}{
	KindMissingAuth:           {"AccessDenied", http.StatusForbidden, "Access Denied"},
	KindQueryParams:           {"AuthorizationQueryParametersError", http.StatusBadRequest, "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."},
	KindHeaderMalformed:       {"AuthorizationHeaderMalformed", http.StatusBadRequest, "The authorization header is malformed."},
	KindInvalidAccessKeyID:    {"InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	KindSignatureMismatch:     {"SignatureDoesNotMatch", http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	KindExpired:               {"AccessDenied", http.StatusForbidden, "Request has expired"},
	KindNotYetValid:           {"AccessDenied", http.StatusForbidden, "Request is not yet valid"},
	KindHeadersNotSigned:      {"AccessDenied", http.StatusForbidden, "There were headers present in the request which were not signed"},
	KindTimeTooSkewed:         {"RequestTimeTooSkewed", http.StatusForbidden, "The difference between the request time and the current time is too large."},
	KindMissingContentSHA256:  {"InvalidRequest", http.StatusBadRequest, "Missing required header for this request: x-amz-content-sha256"},
	KindInvalidContentSHA256:  {"InvalidArgument", http.StatusBadRequest, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value."},
	KindContentSHA256Mismatch: {"XAmzContentSHA256Mismatch", http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	KindIncompleteBody:        {"IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	KindMalformedChunk:        {"InvalidRequest", http.StatusBadRequest, "The aws-chunked body is malformed."},
	KindBadDigest:             {"BadDigest", http.StatusBadRequest, "The checksum you specified did not match the calculated checksum."},
	KindInvalidPolicy:         {"InvalidPolicyDocument", http.StatusBadRequest, "The policy document is malformed."},
	KindPolicyViolation:       {"AccessDenied", http.StatusForbidden, "Invalid according to Policy"},
	KindEntityTooLarge:        {"EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size"},
	KindEntityTooSmall:        {"EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed size"},
}

// Code is the S3 error code of the kind, e.g. "SignatureDoesNotMatch".
func (k Kind) Code() string {
	if i, ok := kindInfo[k]; ok {
		return i.code
	}
	return "AccessDenied"
}

// Status is the HTTP status S3 answers with for the kind.
func (k Kind) Status() int {
	if i, ok := kindInfo[k]; ok {
		return i.status
	}
	return http.StatusForbidden
}

// String returns the S3 code.
func (k Kind) String() string { return k.Code() }

// Error is an authentication failure. Besides the Kind it carries the details S3 puts in its
// XML error body, such as the expiry and server time of an expired URL.
type Error struct {
	Kind    Kind
	Message string // defaults to the kind's S3 message

	// Details, each set only where the kind has it.
	AccessKeyID      string
	Expires          time.Time // when the URL expired (KindExpired, KindNotYetValid)
	XAmzExpires      int64     // X-Amz-Expires in seconds (KindExpired, KindNotYetValid)
	RequestTime      time.Time // X-Amz-Date (KindTimeTooSkewed, KindNotYetValid)
	ServerTime       time.Time // the verifier's clock (KindExpired, KindNotYetValid, KindTimeTooSkewed)
	MaxSkew          time.Duration
	HeadersNotSigned []string // lower-case names (KindHeadersNotSigned)
	Region           string   // the region the server expects (scope mismatch)
	CanonicalRequest string   // as the server computed it (KindSignatureMismatch)
	StringToSign     string   // as the server computed it (KindSignatureMismatch)
	Signature        string   // the signature provided (KindSignatureMismatch)
}

func (e *Error) Error() string {
	return "sigv4: " + e.Kind.Code() + ": " + e.message()
}

func (e *Error) message() string {
	if e.Message != "" {
		return e.Message
	}
	return kindInfo[e.Kind].message
}

// S3Message is the text for the <Message> element of the S3 error body.
func (e *Error) S3Message() string { return e.message() }

// Code is the S3 error code.
func (e *Error) Code() string { return e.Kind.Code() }

// Status is the HTTP status.
func (e *Error) Status() int { return e.Kind.Status() }

// Field is one extra element of an S3 XML error body.
type Field struct{ Name, Value string }

// Fields returns the extra elements S3 adds to the error body for this failure, in S3's order
// and with S3's element names (for example X-Amz-Expires, Expires and ServerTime for an
// expired URL).
func (e *Error) Fields() []Field {
	var f []Field
	add := func(name, value string) {
		if value != "" {
			f = append(f, Field{name, value})
		}
	}
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	switch e.Kind {
	case KindExpired, KindNotYetValid:
		if e.Kind == KindNotYetValid {
			add("X-Amz-Date", iso(e.RequestTime))
		}
		if e.XAmzExpires > 0 {
			add("X-Amz-Expires", strconv.FormatInt(e.XAmzExpires, 10))
		}
		add("Expires", iso(e.Expires))
		add("ServerTime", iso(e.ServerTime))
	case KindTimeTooSkewed:
		add("RequestTime", iso(e.RequestTime))
		add("ServerTime", iso(e.ServerTime))
		add("MaxAllowedSkewMilliseconds", strconv.FormatInt(e.MaxSkew.Milliseconds(), 10))
	case KindHeadersNotSigned:
		add("HeadersNotSigned", strings.Join(e.HeadersNotSigned, ", "))
	case KindSignatureMismatch:
		add("AWSAccessKeyId", e.AccessKeyID)
		add("StringToSign", e.StringToSign)
		add("SignatureProvided", e.Signature)
		add("CanonicalRequest", e.CanonicalRequest)
	case KindInvalidAccessKeyID:
		add("AWSAccessKeyId", e.AccessKeyID)
	case KindQueryParams, KindHeaderMalformed:
		add("Region", e.Region)
	}
	return f
}

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}
