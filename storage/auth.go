package storage

import (
	"errors"
	"net/http"
	"strings"

	"presign/extension"
	"presign/sigv2"
	"presign/sigv4"
)

// Authentication of a request that is not a POST form: Signature Version 4 (header or
// presigned URL), Signature Version 2 (header or presigned URL) from the S3 tools that still
// make it, or none, which a bucket policy may let in for a read. presign's extensions
// (X-Presign-*) are enforced only under SigV4, which signs every query parameter: SigV2 signs
// none but S3's sub-resources, and an unsigned request signs nothing, so a request of either
// kind that carries one is refused rather than served without its promise.

func errExtensionUnsigned(name, by string) *APIError {
	return apiErr("InvalidRequest", http.StatusBadRequest,
		"%s cannot be honoured on a request %s, which does not sign it; presign's extensions need a Signature Version 4 URL.", name, by)
}

// extensionParam returns the first query parameter named like a presign extension.
func extensionParam(names func(yield func(string) bool)) (string, bool) {
	for name := range names {
		if len(name) >= len(extension.Prefix) && strings.EqualFold(name[:len(extension.Prefix)], extension.Prefix) {
			return name, true
		}
	}
	return "", false
}

// unsignedPayload is the payload descriptor of a request whose signature covers no payload
// (SigV2, anonymous): the body is read as sent, checked only by the digests it declares.
var unsignedPayload = sigv4.Auth{PayloadHash: sigv4.UnsignedPayload}

// authenticate checks the signature of r and fills req.auth, req.authKind and req.accessKey.
func (s *Server) authenticate(r *http.Request, req *request) error {
	if sigv2.InRequest(r) {
		err := s.authenticateV2(r, req)
		if err != nil && req.authKind == "" {
			req.authKind = v2AttemptKind(r)
		}
		return err
	}
	a, err := s.verifier.Verify(r, s.now())
	if err != nil {
		var se *sigv4.Error
		if !errors.As(err, &se) || se.Kind != sigv4.KindMissingAuth {
			req.authKind = v4AttemptKind(r)
			return err
		}
		if name, ok := extensionParam(keysOf(req.query)); ok {
			return errExtensionUnsigned(name, "without a signature")
		}
		if err := s.authorizeAnonymous(r, req); err != nil {
			return err
		}
		auth := unsignedPayload
		req.auth, req.authKind = &auth, authAnonymous
		return nil
	}
	req.auth, req.accessKey = a, a.AccessKeyID
	req.authKind = authV4Header
	if a.Mode == sigv4.QueryAuth {
		req.authKind = authV4Query
	}
	return nil
}

// authenticateV2 checks a Signature Version 2 request, or answers as S3 does in the regions
// without it when the node does not accept it.
func (s *Server) authenticateV2(r *http.Request, req *request) error {
	if s.cfg.NoSigV2 {
		return &sigv2.Error{Kind: sigv2.KindUnsupported}
	}
	hostBucket, _ := s.virtualHostBucket(r.Host)
	a, err := s.v2.Verify(r, hostBucket, s.now())
	if err != nil {
		return err
	}
	if name, ok := extensionParam(keysOf(req.query)); ok {
		return errExtensionUnsigned(name, "signed with Signature Version 2")
	}
	// A presigned URL may carry headers in its query (botocore puts Content-Type and x-amz-*
	// there); the signature covers them as headers, and the request acts as if it had them.
	for name, values := range a.Header() {
		r.Header[http.CanonicalHeaderKey(name)] = values
	}
	pa, err := v2Payload(a, r)
	if err != nil {
		return err
	}
	req.auth, req.accessKey = pa, a.AccessKeyID
	req.authKind = authV2Header
	if a.Mode == sigv2.QueryAuth {
		req.authKind = authV2Query
	}
	return nil
}

// v2Payload is the payload descriptor of a SigV2 request. SigV2 signs no payload, but a client
// may declare one in x-amz-content-sha256, which the signature covers like every x-amz-*
// header: a SHA-256 is then checked, and an unsigned aws-chunked body decoded. A signed
// aws-chunked body needs a SigV4 key and is refused.
func v2Payload(a *sigv2.Auth, r *http.Request) (*sigv4.Auth, error) {
	pa := &sigv4.Auth{Mode: sigv4.HeaderAuth, AccessKeyID: a.AccessKeyID, Date: a.Date, PayloadHash: sigv4.UnsignedPayload}
	if a.Mode == sigv2.QueryAuth {
		pa.Mode = sigv4.QueryAuth
	}
	switch h := r.Header.Get("X-Amz-Content-Sha256"); h {
	case "", sigv4.UnsignedPayload:
	case sigv4.StreamingPayload, sigv4.StreamingPayloadTrailer:
		return nil, apiErr("InvalidRequest", http.StatusBadRequest, "x-amz-content-sha256 %s needs a Signature Version 4 signature.", h)
	default:
		pa.PayloadHash = h
	}
	return pa, nil
}

// v4AttemptKind and v2AttemptKind name where a request that failed authentication carried its
// signature, as the verifier's own parser reads it, so that the access log line of a refused
// request says what the client tried rather than "anonymous". A parse that fails on the query
// is a presigned URL's; any other, a header's. They run only on the way to an error.
func v4AttemptKind(r *http.Request) string {
	a, err := sigv4.Parse(r)
	var se *sigv4.Error
	if (err == nil && a.Mode == sigv4.QueryAuth) || (errors.As(err, &se) && se.Kind == sigv4.KindQueryParams) {
		return authV4Query
	}
	return authV4Header
}

func v2AttemptKind(r *http.Request) string {
	a, err := sigv2.Parse(r)
	var se *sigv2.Error
	if (err == nil && a.Mode == sigv2.QueryAuth) || (errors.As(err, &se) && se.Kind == sigv2.KindQueryParams) {
		return authV2Query
	}
	return authV2Header
}

// keysOf ranges over the names of a query.
func keysOf(q map[string][]string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range q {
			if !yield(k) {
				return
			}
		}
	}
}
