package sigv4

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Wire names and formats.
const (
	// Algorithm is the only signing algorithm this package speaks.
	Algorithm = "AWS4-HMAC-SHA256"
	// TimeFormat is the ISO 8601 basic format of X-Amz-Date.
	TimeFormat = "20060102T150405Z"
	// DateFormat is the date of a credential scope.
	DateFormat = "20060102"
	// MaxExpires is the longest life a presigned URL may ask for (X-Amz-Expires=604800).
	MaxExpires = 7 * 24 * time.Hour
	// DefaultMaxSkew is how far ahead of the server's clock a request's date may be, and, for
	// header auth, how far behind.
	DefaultMaxSkew = 15 * time.Minute

	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramToken         = "X-Amz-Security-Token"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

// Payload-hash values of x-amz-content-sha256 besides a hex SHA-256.
const (
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	// EmptySHA256 is the hex SHA-256 of no bytes.
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Mode says where a request carries its signature.
type Mode int

// Signature locations.
const (
	// HeaderAuth: the Authorization header.
	HeaderAuth Mode = iota + 1
	// QueryAuth: the X-Amz-* parameters of a presigned URL.
	QueryAuth
)

// Auth is the parsed signature of a request. Parse fills it without checking anything that
// needs a secret or a clock; Verifier.Verify checks it.
type Auth struct {
	Mode          Mode
	AccessKeyID   string
	Scope         Scope
	SignedHeaders []string // lower-case, sorted, as listed by the client
	Signature     [32]byte
	AmzDate       string    // X-Amz-Date as sent (yyyyMMddTHHmmssZ)
	Date          time.Time // AmzDate parsed
	Expires       int64     // X-Amz-Expires in seconds (query auth)
	// PayloadHash is the payload hash of the canonical request: x-amz-content-sha256 for
	// header auth, UNSIGNED-PAYLOAD (or an X-Amz-Content-Sha256 parameter) for query auth.
	PayloadHash string

	params []queryParam
	key    SigningKey // set by Verify
}

// Expiry is when a presigned URL stops working (zero for header auth).
func (a *Auth) Expiry() time.Time {
	if a.Mode != QueryAuth {
		return time.Time{}
	}
	return a.Date.Add(time.Duration(a.Expires) * time.Second)
}

// Query returns the first value of a query parameter of the parsed request, decoded. It lets
// callers read presign extensions (which are signed, as every query parameter is) without
// parsing the query again.
func (a *Auth) Query(name string) (string, bool) {
	for _, p := range a.params {
		if p.key == name {
			return p.value, true
		}
	}
	return "", false
}

// Parse extracts the signature of a request from its Authorization header or its query. A
// request with neither fails with KindMissingAuth; a request with both, or with a malformed
// one, fails with KindHeaderMalformed or KindQueryParams.
func Parse(r *http.Request) (*Auth, error) {
	params, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(KindQueryParams, "The query string is not valid percent-encoding.")
	}
	authz := r.Header.Get("Authorization")
	// A header that is not an S3 signature (e.g. "Bearer ...") authenticates nothing here. HTTP
	// clients forward the Authorization of the request they followed a redirect from, such as
	// a control plane's download redirect to a presigned URL on the same host, so such a
	// header is ignored when the query carries the signature.
	foreign := authz != "" && !strings.HasPrefix(authz, "AWS")
	inQuery := false
	for _, p := range params {
		if p.key == paramAlgorithm || p.key == paramSignature || p.key == paramCredential {
			inQuery = true
			break
		}
	}
	switch {
	case foreign && inQuery:
		return parseQueryAuth(params)
	case foreign:
		return nil, errorf(KindHeaderMalformed, "Unsupported Authorization Type; use AWS4-HMAC-SHA256.")
	case authz != "" && inQuery:
		return nil, errorf(KindQueryParams, "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case authz != "":
		a, err := parseAuthorization(authz, r)
		if err != nil {
			return nil, err
		}
		a.params = params
		return a, nil
	case inQuery:
		return parseQueryAuth(params)
	}
	return nil, &Error{Kind: KindMissingAuth}
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string, r *http.Request) (*Auth, error) {
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != Algorithm {
		if strings.HasPrefix(h, "AWS ") {
			return nil, errorf(KindHeaderMalformed, "Signature Version 2 is not supported; use AWS4-HMAC-SHA256.")
		}
		return nil, errorf(KindHeaderMalformed, "The authorization header is malformed; the authorization mechanism must be %q.", Algorithm)
	}
	a := &Auth{Mode: HeaderAuth}
	var cred, signed, sig string
	var seen int
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, errorf(KindHeaderMalformed, "The authorization header is malformed; the component %q is not of the form key=value.", strings.TrimSpace(part))
		}
		switch k {
		case "Credential":
			cred, seen = v, seen|1
		case "SignedHeaders":
			signed, seen = v, seen|2
		case "Signature":
			sig, seen = v, seen|4
		default:
			return nil, errorf(KindHeaderMalformed, "The authorization header is malformed; unexpected component %q.", k)
		}
	}
	if seen != 7 {
		return nil, errorf(KindHeaderMalformed, "The authorization header is malformed; it needs Credential, SignedHeaders and Signature.")
	}
	if err := a.setCredential(cred, KindHeaderMalformed); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signed, KindHeaderMalformed); err != nil {
		return nil, err
	}
	if err := a.setSignature(sig, KindHeaderMalformed); err != nil {
		return nil, err
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate != "" {
		t, err := time.Parse(TimeFormat, amzDate)
		if err != nil {
			return nil, errorf(KindHeaderMalformed, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
		}
		a.AmzDate, a.Date = amzDate, t
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, errorf(KindHeaderMalformed, "The Date header is not a valid HTTP date.")
		}
		a.Date = t.UTC()
		a.AmzDate = a.Date.Format(TimeFormat)
	} else {
		return nil, errorf(KindHeaderMalformed, "AWS authentication requires a valid Date or x-amz-date header")
	}
	a.PayloadHash = r.Header.Get("X-Amz-Content-Sha256")
	return a, nil
}

func parseQueryAuth(params []queryParam) (*Auth, error) {
	a := &Auth{Mode: QueryAuth, params: params, PayloadHash: UnsignedPayload}
	var alg, cred, amzDate, expires, signed, sig string
	var seen int
	for _, p := range params {
		switch p.key {
		case paramAlgorithm:
			alg, seen = p.value, seen|1
		case paramCredential:
			cred, seen = p.value, seen|2
		case paramDate:
			amzDate, seen = p.value, seen|4
		case paramExpires:
			expires, seen = p.value, seen|8
		case paramSignedHeaders:
			signed, seen = p.value, seen|16
		case paramSignature:
			sig, seen = p.value, seen|32
		case paramContentSHA256:
			a.PayloadHash = p.value
		}
	}
	if seen != 63 {
		return nil, &Error{Kind: KindQueryParams}
	}
	if alg != Algorithm {
		return nil, errorf(KindQueryParams, "X-Amz-Algorithm only supports %q.", Algorithm)
	}
	if err := a.setCredential(cred, KindQueryParams); err != nil {
		return nil, err
	}
	t, err := time.Parse(TimeFormat, amzDate)
	if err != nil {
		return nil, errorf(KindQueryParams, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	a.AmzDate, a.Date = amzDate, t
	n, err := strconv.ParseInt(expires, 10, 64)
	switch {
	case err != nil:
		return nil, errorf(KindQueryParams, "X-Amz-Expires should be a number")
	case n < 0:
		return nil, errorf(KindQueryParams, "X-Amz-Expires must be non-negative")
	case n == 0:
		return nil, errorf(KindQueryParams, "X-Amz-Expires must be at least 1 second")
	case n > int64(MaxExpires/time.Second):
		return nil, errorf(KindQueryParams, "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds")
	}
	a.Expires = n
	if err := a.setSignedHeaders(signed, KindQueryParams); err != nil {
		return nil, err
	}
	if err := a.setSignature(sig, KindQueryParams); err != nil {
		return nil, err
	}
	return a, nil
}

// setCredential parses "<access key>/<yyyymmdd>/<region>/<service>/aws4_request". The access
// key may itself contain '/', so the scope is taken from the right.
func (a *Auth) setCredential(v string, k Kind) error {
	parts := strings.Split(v, "/")
	if len(parts) < 5 {
		return errorf(k, "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
	}
	n := len(parts)
	akid := strings.Join(parts[:n-4], "/")
	date, region, service, term := parts[n-4], parts[n-3], parts[n-2], parts[n-1]
	if akid == "" {
		return errorf(k, "Error parsing the X-Amz-Credential parameter; the access key is empty.")
	}
	if _, err := time.Parse(DateFormat, date); err != nil || len(date) != 8 {
		return errorf(k, "Error parsing the X-Amz-Credential parameter; invalid date format.")
	}
	if region == "" {
		return errorf(k, "Error parsing the X-Amz-Credential parameter; the region is empty.")
	}
	if term != terminator {
		return errorf(k, "Error parsing the X-Amz-Credential parameter; incorrect terminal %q. This endpoint uses %q.", term, terminator)
	}
	a.AccessKeyID = akid
	a.Scope = Scope{Date: date, Region: region, Service: service}
	return nil
}

func (a *Auth) setSignedHeaders(v string, k Kind) error {
	if v == "" {
		return errorf(k, "SignedHeaders must not be empty; it must contain host.")
	}
	names := strings.Split(v, ";")
	hasHost := false
	for i, n := range names {
		if n == "" || n != strings.ToLower(n) || strings.ContainsAny(n, " \t:") {
			return errorf(k, "SignedHeaders has an invalid header name %q.", n)
		}
		if i > 0 && names[i-1] >= n {
			return errorf(k, "SignedHeaders must be sorted and without duplicates.")
		}
		hasHost = hasHost || n == "host"
	}
	if !hasHost {
		return errorf(k, "SignedHeaders must contain host.")
	}
	a.SignedHeaders = names
	return nil
}

func (a *Auth) setSignature(v string, k Kind) error {
	if len(v) != 64 {
		return errorf(k, "The signature must be 64 hexadecimal characters.")
	}
	if _, err := hex.Decode(a.Signature[:], []byte(v)); err != nil {
		return errorf(k, "The signature must be 64 hexadecimal characters.")
	}
	return nil
}
