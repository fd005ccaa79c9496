package sigv4

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for every parser of untrusted input. Seeds are in testdata/fuzz/<target>/ and
// below; each target checks properties, not just the absence of panics.

var fuzzVerifier = &Verifier{Region: "us-east-1", Credentials: StaticCredentials{"AKIDEXAMPLE": "secret"}}

func checkAuthInvariants(t *testing.T, a *Auth) {
	if len(a.SignedHeaders) == 0 {
		t.Fatal("parsed auth without signed headers")
	}
	for i, h := range a.SignedHeaders {
		if i > 0 && a.SignedHeaders[i-1] >= h {
			t.Fatalf("signed headers not sorted and unique: %v", a.SignedHeaders)
		}
	}
	if a.Mode == QueryAuth && (a.Expires < 1 || a.Expires > 604800) {
		t.Fatalf("expires %d accepted", a.Expires)
	}
	if len(a.AmzDate) != len(TimeFormat) {
		t.Fatalf("date %q accepted", a.AmzDate)
	}
}

// verifyNeverPanics runs the whole verification, which must fail cleanly with an *Error.
func verifyNeverPanics(t *testing.T, r *http.Request) {
	_, err := fuzzVerifier.Verify(r, time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))
	var e *Error
	if err != nil && !errors.As(err, &e) {
		t.Fatalf("verify returned a non-typed error: %v", err)
	}
}

func FuzzParseQueryAuth(f *testing.F) {
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=e93c787ed7f371d5c6b165c1b38ede9550f4dce4144713e844b25b7192d3865d")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb%2F20150830%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Signature=00&x-id=PutObject&X-Presign-Once=n")
	f.Add("X-Amz-Signature&X-Amz-Expires=-1&+=%zz")
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/b/k", RawQuery: rawQuery}, Host: "example.com", Header: http.Header{}}
		a, err := Parse(r)
		if err == nil {
			if a.Mode != QueryAuth {
				t.Fatal("query parsed as another mode")
			}
			checkAuthInvariants(t, a)
		}
		verifyNeverPanics(t, r)
	})
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", "20150830T123600Z", "UNSIGNED-PAYLOAD")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", "", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	f.Add("AWS AKID:sig", "x", "")
	f.Fuzz(func(t *testing.T, authz, amzDate, contentSHA string) {
		r := &http.Request{Method: "PUT", URL: &url.URL{Path: "/b/k"}, Host: "example.com", Header: http.Header{}}
		r.Header.Set("Authorization", authz)
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		if contentSHA != "" {
			r.Header.Set("X-Amz-Content-Sha256", contentSHA)
		}
		a, err := Parse(r)
		if err == nil {
			if a.Mode != HeaderAuth {
				t.Fatal("header parsed as another mode")
			}
			checkAuthInvariants(t, a)
		}
		verifyNeverPanics(t, r)
	})
}

func FuzzCredentialScope(f *testing.F) {
	f.Add("AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request")
	f.Add("AKID/with/slashes/20150830/us-east-1/s3/aws4_request")
	f.Add("//20150830//s3/aws4_request")
	f.Fuzz(func(t *testing.T, cred string) {
		var a Auth
		if err := a.setCredential(cred, KindQueryParams); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindQueryParams {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if got := a.AccessKeyID + "/" + a.Scope.String(); got != cred {
			t.Fatalf("credential %q parsed into %q", cred, got)
		}
	})
}

// FuzzChunkedReader feeds arbitrary bodies to the decoder in every mode. A body it accepts
// must really be intact: in the unsigned mode the trailer checksum matches the decoded bytes,
// and re-encoding them decodes to the same bytes.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"), uint8(0), int64(5))
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\n\r\n\r\n"), uint8(0), int64(-1))
	f.Add([]byte("3;chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\nabc\r\n0;chunk-signature=0000000000000000000000000000000000000000000000000000000000000000\r\n\r\n"), uint8(1), int64(3))
	f.Add([]byte("fffffffffffffff\r\n"), uint8(2), int64(1))
	f.Fuzz(func(t *testing.T, body []byte, mode uint8, declared int64) {
		o := ChunkedOptions{DecodedLength: declared}
		switch mode % 3 {
		case 0:
			o.Trailer = "x-amz-checksum-crc32"
		case 1:
			o.Signed = true
			o.Key, o.Scope, o.AmzDate, o.Seed = DeriveKey("secret", docScope), docScope, docAmzDate, strings.Repeat("0", 64)
		case 2:
			o.Signed, o.Trailer = true, "x-amz-checksum-sha256"
			o.Key, o.Scope, o.AmzDate, o.Seed = DeriveKey("secret", docScope), docScope, docAmzDate, strings.Repeat("0", 64)
		}
		if declared < -1 {
			o.DecodedLength = -1
		}
		r, err := newChunkedReader(bytes.NewReader(body), o)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		buf := make([]byte, 7)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
		}
		if o.DecodedLength >= 0 && int64(out.Len()) != o.DecodedLength {
			t.Fatalf("accepted %d bytes, declared %d", out.Len(), o.DecodedLength)
		}
		if !o.Signed {
			h, _ := NewChecksum("CRC32")
			h.Write(out.Bytes())
			if _, v := r.Checksum(); v != EncodeChecksum(h) {
				t.Fatalf("accepted trailer %q for bytes whose CRC32 is %q", v, EncodeChecksum(h))
			}
		}
	})
}

func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), uint16(3), true, true)
	f.Add([]byte{}, uint16(1), false, true)
	f.Fuzz(func(t *testing.T, payload []byte, chunk uint16, signed, trailer bool) {
		o := ChunkedOptions{Signed: signed, DecodedLength: int64(len(payload))}
		if signed {
			o.Key, o.Scope, o.AmzDate, o.Seed = DeriveKey("secret", docScope), docScope, docAmzDate, strings.Repeat("ab", 32)
		}
		if trailer || !signed {
			o.Trailer = "x-amz-checksum-crc64nvme"
		}
		size := int(chunk%4096) + 1
		wire, err := io.ReadAll(EncodeChunked(bytes.NewReader(payload), size, o))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(wire)) != ChunkedLength(int64(len(payload)), size, o) {
			t.Fatalf("ChunkedLength %d, wire %d", ChunkedLength(int64(len(payload)), size, o), len(wire))
		}
		r, _ := NewChunkedReader(bytes.NewReader(wire), o)
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzPostPolicy parses arbitrary policy documents; an accepted one must survive being written
// back and parsed again.
func FuzzPostPolicy(f *testing.F) {
	f.Add([]byte(`{"expiration": "2013-05-24T01:00:00Z", "conditions": [{"bucket": "examplebucket"}, ["starts-with", "$key", "user/user1/"], ["content-length-range", 1, 10485760]]}`))
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00.000Z","conditions":[["eq","$x-amz-meta-a",""],["content-length-range","0",0]]}`))
	f.Add([]byte(`{"expiration": 1, "conditions": {}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePostPolicy(base64.StdEncoding.EncodeToString(doc))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind != KindInvalidPolicy {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		again, err := json.Marshal(struct {
			Expiration string            `json:"expiration"`
			Conditions []PolicyCondition `json:"conditions"`
		}{p.Expiration.UTC().Format(time.RFC3339Nano), p.Conditions})
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParsePostPolicy(base64.StdEncoding.EncodeToString(again))
		if err != nil {
			t.Fatalf("re-encoded policy rejected: %v\n%s", err, again)
		}
		if !reflect.DeepEqual(p.Conditions, q.Conditions) || !p.Expiration.Equal(q.Expiration) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, q)
		}
		p.Check(map[string]string{"key": "k", "policy": "p"}, "b")
	})
}

// FuzzCanonicalURI: the canonical path uses only unreserved characters, '/' and upper-case
// %XX escapes, and canonicalising it again changes nothing.
func FuzzCanonicalURI(f *testing.F) {
	for _, s := range []string{"/", "/b/a%20b", "/b/%e6%97%a5", "/b/a+b!'()*", "/b//x/./../", "/%2F%2f", "/%zz", "/%4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := appendCanonicalURI(nil, p)
		if err != nil {
			return
		}
		for i := 0; i < len(c); i++ {
			ch := c[i]
			switch {
			case unreserved(ch) || ch == '/':
			case ch == '%' && i+2 < len(c) && strings.IndexByte(upperhex, c[i+1]) >= 0 && strings.IndexByte(upperhex, c[i+2]) >= 0:
				i += 2
			default:
				t.Fatalf("canonical path %q has %q at %d", c, ch, i)
			}
		}
		again, err := appendCanonicalURI(nil, string(c))
		if err != nil || !bytes.Equal(again, c) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, c, again, err)
		}
	})
}
