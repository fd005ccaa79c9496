package storage

import (
	"net/http"
	"slices"
	"strings"
)

// Which of a write's headers an object keeps and replays on every download. A presigned URL
// is handed to someone else, who may add headers the signer never saw; replayed by the node,
// and cached by any shared cache on the way, such a header outlives the URL
// (Cache-Control: public, max-age=31536000 defeats deletion and revocation). So the headers
// that steer caches and clients are stored only when the request's signature covers them.

// signedOnlyHeaders are stored only when signed: by SigV4 (SignedHeaders), by a POST form's
// policy, or in a request the key's holder signed in its headers with SigV2, which cannot
// sign them and comes from whoever holds the secret. Content-Type and x-amz-meta-* are always
// stored: the type is defused by nosniff and the sandbox of every download (setObjectHeaders),
// and the user metadata comes back only as x-amz-meta-* headers, which steer nothing.
var signedOnlyHeaders = [...]string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// storedHeader returns the headers of r that the object may keep: r.Header itself, or a copy
// without the signedOnlyHeaders its signature does not cover.
func storedHeader(r *http.Request, req *request) http.Header {
	var unsigned []string
	for _, name := range signedOnlyHeaders {
		if _, ok := r.Header[name]; ok && !signsHeader(req, name) {
			unsigned = append(unsigned, name)
		}
	}
	if len(unsigned) == 0 {
		return r.Header
	}
	h := r.Header.Clone()
	for _, name := range unsigned {
		delete(h, name)
	}
	return h
}

// signsHeader reports whether the request's signature covers the header name.
func signsHeader(req *request, name string) bool {
	switch req.authKind {
	case authV4Header, authV4Query:
		return slices.Contains(req.auth.SignedHeaders, strings.ToLower(name))
	case authV2Header, authPostV4, authPostV2:
		return true
	}
	return false
}
