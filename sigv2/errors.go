package sigv2

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"presign/sigv4"
)

// Kind classifies why a request failed Signature Version 2 authentication. Each kind maps to
// exactly one S3 error code and HTTP status (Code, Status); several kinds can share a code.
type Kind int

// The kinds of authentication failure.
const (
	// KindMissingAuth: the request carries no Signature Version 2 signature.
	KindMissingAuth Kind = iota + 1
	// KindQueryParams: a presigned URL lacks one of AWSAccessKeyId, Expires and Signature, or
	// its Expires is not a number of seconds.
	KindQueryParams
	// KindHeaderMalformed: the Authorization header is not "AWS <access key>:<signature>".
	KindHeaderMalformed
	// KindMultipleAuth: the request is signed in more than one place.
	KindMultipleAuth
	// KindMissingDate: a header-signed request without a valid Date or x-amz-date.
	KindMissingDate
	// KindInvalidAccessKeyID: the access key is unknown.
	KindInvalidAccessKeyID
	// KindSignatureMismatch: the signature is wrong.
	KindSignatureMismatch
	// KindExpired: a presigned URL used at or after its Expires.
	KindExpired
	// KindTimeTooSkewed: a header-signed request whose date is too far from the server's clock.
	KindTimeTooSkewed
	// KindPostFields: a POST form without its AWSAccessKeyId, policy or signature field.
	KindPostFields
	// KindUnsupported: the server does not accept Signature Version 2 at all; S3's answer in
	// the regions that never had it.
	KindUnsupported
)

// kindInfo is the one table from kinds to S3 codes, statuses and default messages.
var kindInfo = map[Kind]struct {
	code    string
	status  int
	message string
}{
	KindMissingAuth:        {"AccessDenied", http.StatusForbidden, "Access Denied"},
	KindQueryParams:        {"AccessDenied", http.StatusForbidden, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
	KindHeaderMalformed:    {"InvalidArgument", http.StatusBadRequest, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
	KindMultipleAuth:       {"InvalidArgument", http.StatusBadRequest, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"},
	KindMissingDate:        {"AccessDenied", http.StatusForbidden, "AWS authentication requires a valid Date or x-amz-date header"},
	KindInvalidAccessKeyID: {"InvalidAccessKeyId", http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	KindSignatureMismatch:  {"SignatureDoesNotMatch", http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	KindExpired:            {"AccessDenied", http.StatusForbidden, "Request has expired"},
	KindTimeTooSkewed:      {"RequestTimeTooSkewed", http.StatusForbidden, "The difference between the request time and the current time is too large."},
	KindPostFields:         {"AccessDenied", http.StatusForbidden, "Invalid according to Policy"},
	KindUnsupported:        {"InvalidRequest", http.StatusBadRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."},
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

// Error is an authentication failure, with the details S3 puts in its XML error body.
type Error struct {
	Kind    Kind
	Message string // defaults to the kind's S3 message

	// Details, each set only where the kind has it.
	AccessKeyID   string
	Header        string    // the Authorization header as sent (KindHeaderMalformed)
	Expires       time.Time // when the URL expired (KindExpired)
	RequestTime   time.Time // the request's date (KindTimeTooSkewed)
	ServerTime    time.Time // the verifier's clock (KindExpired, KindTimeTooSkewed)
	MaxSkew       time.Duration
	StringToSign  string // as the server computed it (KindSignatureMismatch)
	SignatureSent string // the signature provided (KindSignatureMismatch)
}

func (e *Error) Error() string { return "sigv2: " + e.Kind.Code() + ": " + e.message() }

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

// Field is one extra element of an S3 XML error body, the same as Signature Version 4's.
type Field = sigv4.Field

// Fields returns the extra elements S3 adds to the error body for this failure, in S3's order
// and with S3's element names (StringToSignBytes is the string to sign as spaced hex bytes, so
// a client can compare a string with control characters).
func (e *Error) Fields() []Field {
	var f []Field
	add := func(name, value string) {
		if value != "" {
			f = append(f, Field{Name: name, Value: value})
		}
	}
	iso := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	switch e.Kind {
	case KindExpired:
		add("Expires", iso(e.Expires))
		add("ServerTime", iso(e.ServerTime))
	case KindTimeTooSkewed:
		add("RequestTime", e.RequestTime.UTC().Format(http.TimeFormat))
		add("ServerTime", iso(e.ServerTime))
		add("MaxAllowedSkewMilliseconds", strconv.FormatInt(e.MaxSkew.Milliseconds(), 10))
	case KindSignatureMismatch:
		add("AWSAccessKeyId", e.AccessKeyID)
		add("StringToSign", e.StringToSign)
		add("SignatureProvided", e.SignatureSent)
		add("StringToSignBytes", spacedHex(e.StringToSign))
	case KindInvalidAccessKeyID:
		add("AWSAccessKeyId", e.AccessKeyID)
	case KindHeaderMalformed:
		add("ArgumentName", "Authorization")
		add("ArgumentValue", e.Header)
	}
	return f
}

// spacedHex writes s as S3 does in StringToSignBytes: "47 45 54 0a ...".
func spacedHex(s string) string {
	if s == "" {
		return ""
	}
	b := make([]byte, 0, 3*len(s))
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = hex.AppendEncode(b, []byte{s[i]})
	}
	return string(b)
}

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}
