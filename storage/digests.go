package storage

import (
	"encoding/base64"
	"net/http"
)

// The digests a client declares for a body, read the same way for a PUT, a part, a form and
// a part list. S3's answers: a Content-MD5 that is present but not the base64 of 16 bytes
// (an empty one included) is InvalidDigest; an x-amz-checksum-* value that cannot be a
// checksum of its algorithm is BadDigest, as one that does not match.

// contentMD5 returns the declared Content-MD5, nil when there is none.
func contentMD5(h http.Header) ([]byte, error) {
	v, ok := h["Content-Md5"]
	if !ok {
		return nil, nil
	}
	md5, err := base64.StdEncoding.DecodeString(v[0])
	if err != nil || len(md5) != 16 {
		return nil, errInvalidDigest
	}
	return md5, nil
}

// errChecksumNotAChecksum answers a checksum header whose value cannot be a checksum of alg.
func errChecksumNotAChecksum(alg string) *APIError {
	return apiErr("BadDigest", http.StatusBadRequest, "The %s you specified did not match the calculated checksum.", alg)
}
