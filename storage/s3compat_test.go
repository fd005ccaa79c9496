package storage_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/sigv4"
	"presign/storage"
)

// The small differences from S3 that tools notice, each as S3 behaves.

// xmlCode returns the <Code> of an S3 error body.
func xmlCode(body []byte) string {
	var e struct{ Code string }
	xml.Unmarshal(body, &e)
	return e.Code
}

// TestNonASCIIUserMetadataIsReturnedRFC2047: a metadata value outside ASCII comes back as an
// RFC 2047 word of its UTF-8 bytes, which every client reads the same way (Python would read
// raw UTF-8 as Latin-1: "Hello WorldÃ©"); a value sent as encoded-words is stored decoded.
func TestNonASCIIUserMetadataIsReturnedRFC2047(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	for _, tc := range []struct{ sent, returned string }{
		{"Hello Worldé", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=", "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="},
		{"=?UTF-8?B?YWJjZGVmZw==?=", "abcdefg"},
		{"plain ascii", "plain ascii"},
	} {
		resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"/meta", http.Header{"X-Amz-Meta-Note": {tc.sent}}, []byte("x"))
		if resp.StatusCode != 200 {
			t.Fatalf("PUT with %q: %d %s", tc.sent, resp.StatusCode, body)
		}
		for _, method := range []string{http.MethodHead, http.MethodGet} {
			resp, _ = n.signedSend(t, method, "/"+formBucket+"/meta", nil, nil)
			if got := resp.Header.Get("X-Amz-Meta-Note"); got != tc.returned {
				t.Fatalf("%s after PUT of %q: x-amz-meta-note %q, want %q", method, tc.sent, got, tc.returned)
			}
		}
	}
}

// TestPutIfMatchOnMissingKeyIsNoSuchKey: S3 answers a conditional write on a key that does not
// exist 404 NoSuchKey, not 412.
func TestPutIfMatchOnMissingKeyIsNoSuchKey(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"/absent", http.Header{"If-Match": {`"0123456789abcdef0123456789abcdef"`}}, []byte("x"))
	if resp.StatusCode != http.StatusNotFound || xmlCode(body) != "NoSuchKey" {
		t.Fatalf("PUT If-Match on a missing key: %d %s", resp.StatusCode, body)
	}
	n.signedSend(t, http.MethodPut, "/"+formBucket+"/present", nil, []byte("x"))
	resp, body = n.signedSend(t, http.MethodPut, "/"+formBucket+"/present", http.Header{"If-Match": {`"0123456789abcdef0123456789abcdef"`}}, []byte("y"))
	if resp.StatusCode != http.StatusPreconditionFailed || xmlCode(body) != "PreconditionFailed" {
		t.Fatalf("PUT If-Match with another ETag: %d %s", resp.StatusCode, body)
	}
}

// TestListObjectsV1URLEncodingLeavesPrefix: with encoding-type=url, ListObjects v1 encodes
// keys, markers and the delimiter but not the top-level Prefix (botocore decodes what S3
// encodes, and would show "foo%2F").
func TestListObjectsV1URLEncodingLeavesPrefix(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	n.signedSend(t, http.MethodPut, "/"+formBucket+"/foo/a b", nil, []byte("x"))
	resp, body := n.signedSend(t, http.MethodGet, "/"+formBucket+"?prefix=foo%2F&encoding-type=url", nil, nil)
	var out struct {
		Prefix   string
		Contents []struct{ Key string }
	}
	if err := xml.Unmarshal(body, &out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if out.Prefix != "foo/" || len(out.Contents) != 1 || out.Contents[0].Key != "foo%2Fa%20b" {
		t.Fatalf("Prefix %q, keys %+v", out.Prefix, out.Contents)
	}
}

// TestDigestHeadersAsS3: an empty Content-MD5 is InvalidDigest, and an x-amz-checksum-* value
// that is not a checksum is BadDigest; neither stores anything.
func TestDigestHeadersAsS3(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	for _, tc := range []struct {
		header http.Header
		code   string
	}{
		{http.Header{"Content-Md5": {""}}, "InvalidDigest"},
		{http.Header{"Content-Md5": {"not base64!"}}, "InvalidDigest"},
		{http.Header{"X-Amz-Checksum-Sha256": {"abc"}}, "BadDigest"},
		{http.Header{"X-Amz-Checksum-Crc32": {"AAAAAAAA"}}, "BadDigest"},
	} {
		resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"/digest", tc.header, []byte("data"))
		if resp.StatusCode != http.StatusBadRequest || xmlCode(body) != tc.code {
			t.Errorf("%v: %d %s, want %s", tc.header, resp.StatusCode, body, tc.code)
		}
	}
	resp, _ := n.signedSend(t, http.MethodHead, "/"+formBucket+"/digest", nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("an object with a bad digest was stored: %d", resp.StatusCode)
	}
}

// TestContentEncodingReturnedAsSent: Content-Encoding comes back byte for byte, without
// aws-chunked (which describes the upload).
func TestContentEncodingReturnedAsSent(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	for _, tc := range []struct{ sent, returned string }{
		{"deflate, gzip", "deflate, gzip"},
		{"deflate,gzip", "deflate,gzip"},
		{"gzip", "gzip"},
		{"aws-chunked, gzip", "gzip"},
		{"gzip,aws-chunked", "gzip"},
	} {
		n.signedSend(t, http.MethodPut, "/"+formBucket+"/enc", http.Header{"Content-Encoding": {tc.sent}}, []byte("x"))
		resp, _ := n.signedSend(t, http.MethodHead, "/"+formBucket+"/enc", nil, nil)
		if got := resp.Header.Get("Content-Encoding"); got != tc.returned {
			t.Errorf("Content-Encoding %q came back %q, want %q", tc.sent, got, tc.returned)
		}
	}
}

// TestAmzDateMakesDateIrrelevant: SigV4 dates a request by X-Amz-Date and then ignores Date,
// even one that does not parse.
func TestAmzDateMakesDateIrrelevant(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/"+formBucket+"?list-type=2", nil)
	req.Header.Set("Date", "not a date")
	if _, err := n.Signer.SignRequest(req, sigv4.EmptySHA256, time.Now()); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("X-Amz-Date") == "" || !strings.Contains(req.Header.Get("Authorization"), "date") {
		t.Fatalf("the request is not dated by X-Amz-Date with Date signed: %v", req.Header)
	}
	resp, body := send(t, req.Method, req.URL.String(), req.Header, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
