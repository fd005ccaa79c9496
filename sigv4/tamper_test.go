package sigv4_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/sigv4"
)

// TestTamperMatrix takes a presigned PUT made by aws-sdk-go-v2 (Content-Type signed, an extra
// query parameter) and changes one thing at a time; each change must be refused with the
// right S3 error, and the untouched URL must work.
func TestTamperMatrix(t *testing.T) {
	srv := newEchoServer(t, false)
	pc := s3.NewPresignClient(awsClient(srv.URL, srv.Client()))
	signedAt := time.Now().UTC().Truncate(time.Second)
	put, err := pc.PresignPutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(testBucket), Key: aws.String("dir/file name.txt"), ContentType: aws.String("text/plain"),
	}, s3.WithPresignExpires(15*time.Minute), func(o *s3.PresignOptions) {
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, addQuery("X-Presign-Max-Bytes", "1024"))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(put.URL, "X-Presign-Max-Bytes=1024") {
		t.Fatalf("extra parameter not in the URL: %s", put.URL)
	}
	base, _ := url.Parse(put.URL)
	body := []byte("hello")

	type req struct {
		method string
		u      *url.URL
		h      http.Header
	}
	setQ := func(name, value string) func(*req) {
		return func(r *req) {
			q := r.u.Query()
			q.Set(name, value)
			r.u.RawQuery = q.Encode()
		}
	}
	credPart := func(i int, v string) func(*req) {
		return func(r *req) {
			parts := strings.Split(r.u.Query().Get("X-Amz-Credential"), "/")
			parts[i] = v
			setQ("X-Amz-Credential", strings.Join(parts, "/"))(r)
		}
	}
	shiftDate := func(d time.Duration) func(*req) {
		return setQ("X-Amz-Date", signedAt.Add(d).Format("20060102T150405Z"))
	}
	cases := []struct {
		name   string
		change func(*req)
		now    time.Time
		status int
		code   string
		kind   sigv4.Kind // 0: accepted
	}{
		{"untouched", func(*req) {}, signedAt, 200, "", 0},
		{"method", func(r *req) { r.method = http.MethodPost }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"host", func(r *req) { r.u.Host = strings.Replace(r.u.Host, "127.0.0.1", "localhost", 1) }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"path", func(r *req) { r.u.Path += "x"; r.u.RawPath = "" }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"extra parameter changed", setQ("X-Presign-Max-Bytes", "999999999"), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"parameter added", setQ("X-Presign-Once", "abc"), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"parameter removed", func(r *req) { q := r.u.Query(); q.Del("X-Presign-Max-Bytes"); r.u.RawQuery = q.Encode() }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"x-id changed", setQ("x-id", "GetObject"), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"signed header value", func(r *req) { r.h.Set("Content-Type", "text/html") }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"signed header removed", func(r *req) { r.h.Del("Content-Type") }, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"unsigned x-amz header added", func(r *req) { r.h.Set("X-Amz-Meta-Evil", "1") }, signedAt, 403, "AccessDenied", sigv4.KindHeadersNotSigned},
		{"signed headers list", setQ("X-Amz-SignedHeaders", "host"), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"date by one second", shiftDate(time.Second), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"date to another day", shiftDate(48 * time.Hour), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"expiry lengthened", setQ("X-Amz-Expires", "3600"), signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"expiry above a week", setQ("X-Amz-Expires", "604801"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"expiry zero", setQ("X-Amz-Expires", "0"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"expiry not a number", setQ("X-Amz-Expires", "1e3"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"algorithm", setQ("X-Amz-Algorithm", "AWS4-HMAC-SHA1"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"access key", credPart(0, "AKIAOTHER"), signedAt, 403, "InvalidAccessKeyId", sigv4.KindInvalidAccessKeyID},
		{"scope date", credPart(1, "20200101"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"scope region", credPart(2, "eu-west-1"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"scope service", credPart(3, "iam"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"scope terminator", credPart(4, "aws4_other"), signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"signature", func(r *req) {
			// Another hex digit, so that the signature stays well formed: flipping a bit
			// would turn 'a' into '`' and 'f' into 'g', one signature in eight.
			sig := []byte(r.u.Query().Get("X-Amz-Signature"))
			if sig[10] == '0' {
				sig[10] = '1'
			} else {
				sig[10] = '0'
			}
			setQ("X-Amz-Signature", string(sig))(r)
		}, signedAt, 403, "SignatureDoesNotMatch", sigv4.KindSignatureMismatch},
		{"signature missing", func(r *req) { q := r.u.Query(); q.Del("X-Amz-Signature"); r.u.RawQuery = q.Encode() }, signedAt, 400, "AuthorizationQueryParametersError", sigv4.KindQueryParams},
		{"used after expiry", func(*req) {}, signedAt.Add(15*time.Minute + time.Second), 403, "AccessDenied", sigv4.KindExpired},
		{"used at the last second", func(*req) {}, signedAt.Add(15 * time.Minute), 200, "", 0},
		{"not yet valid", func(*req) {}, signedAt.Add(-16 * time.Minute), 403, "AccessDenied", sigv4.KindNotYetValid},
		{"one second past the skew ahead", func(*req) {}, signedAt.Add(-15*time.Minute - time.Second), 403, "AccessDenied", sigv4.KindNotYetValid},
		{"signed exactly the skew ahead", func(*req) {}, signedAt.Add(-15 * time.Minute), 200, "", 0},
		{"signed within the skew ahead", func(*req) {}, signedAt.Add(-14 * time.Minute), 200, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := *base
			r := &req{method: put.Method, u: &u, h: put.SignedHeader.Clone()}
			tc.change(r)
			srv.setClock(tc.now)
			srv.takeErr()
			status, code, b := do(t, srv.Client(), r.method, r.u.String(), r.h, body)
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s\n%s", status, code, tc.status, tc.code, b)
			}
			checkKind(t, srv.takeErr(), tc.kind, b)
		})
	}
}

// clockMessages are S3's texts for the two clock failures that share AccessDenied; they are
// written out here, not taken from the package, so swapping the kinds or their texts fails.
var clockMessages = map[sigv4.Kind]string{
	sigv4.KindExpired:     "Request has expired",
	sigv4.KindNotYetValid: "Request is not yet valid",
}

// checkKind asserts the verifier's failure kind (none when want is 0) and, for the clock
// kinds, the <Message> of the XML body the client received.
func checkKind(t *testing.T, got *sigv4.Error, want sigv4.Kind, body []byte) {
	t.Helper()
	if want == 0 {
		if got != nil {
			t.Fatalf("accepted, yet the verifier failed with %v", got)
		}
		return
	}
	if got == nil {
		t.Fatalf("the verifier recorded no failure, want kind %d (%v)", want, want)
	}
	if got.Kind != want {
		t.Fatalf("kind %d (%v: %v), want %d (%v)", got.Kind, got.Kind, got, want, want)
	}
	if msg, ok := clockMessages[want]; ok {
		var e s3Error
		if err := xml.Unmarshal(body, &e); err != nil {
			t.Fatalf("error body: %v\n%s", err, body)
		}
		if e.Message != msg {
			t.Fatalf("message %q, want %q", e.Message, msg)
		}
	}
}

// TestHeaderAuthTamper: a request signed with the Authorization header by aws/signer/v4,
// changed one thing at a time.
func TestHeaderAuthTamper(t *testing.T) {
	srv := newEchoServer(t, false)
	signedAt := time.Now().UTC().Truncate(time.Second)
	body := "payload"
	sum := sha256Hex(body)
	sign := func() *http.Request {
		r, _ := http.NewRequest(http.MethodPut, srv.URL+"/"+testBucket+"/k?tag=1", strings.NewReader(body))
		r.Header.Set("Content-Type", "text/plain")
		r.Header.Set("X-Amz-Content-Sha256", sum)
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, r, sum, "s3", testRegion, signedAt); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		change func(r *http.Request)
		body   string
		now    time.Time
		status int
		code   string
	}{
		{"untouched", func(*http.Request) {}, body, signedAt, 200, ""},
		{"body altered", func(*http.Request) {}, "Payload", signedAt, 400, "XAmzContentSHA256Mismatch"},
		{"content type", func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }, body, signedAt, 403, "SignatureDoesNotMatch"},
		{"query", func(r *http.Request) { r.URL.RawQuery = "tag=2" }, body, signedAt, 403, "SignatureDoesNotMatch"},
		{"unsigned x-amz header", func(r *http.Request) { r.Header.Set("X-Amz-Acl", "public-read") }, body, signedAt, 403, "AccessDenied"},
		{"payload hash header", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload) }, body, signedAt, 403, "SignatureDoesNotMatch"},
		{"payload hash garbage", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "nope") }, body, signedAt, 400, "InvalidArgument"},
		{"payload hash missing", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, body, signedAt, 400, "InvalidRequest"},
		{"authorization malformed", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "Signed=", 1))
		}, body, signedAt, 400, "AuthorizationHeaderMalformed"},
		{"clock 16 minutes ahead of the request", func(*http.Request) {}, body, signedAt.Add(16 * time.Minute), 403, "RequestTimeTooSkewed"},
		{"clock 16 minutes behind the request", func(*http.Request) {}, body, signedAt.Add(-16 * time.Minute), 403, "RequestTimeTooSkewed"},
		{"clock 14 minutes ahead", func(*http.Request) {}, body, signedAt.Add(14 * time.Minute), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sign()
			tc.change(r)
			srv.setClock(tc.now)
			status, code, b := do(t, srv.Client(), r.Method, r.URL.String(), r.Header, []byte(tc.body))
			if status != tc.status || code != tc.code {
				t.Fatalf("got %d %s, want %d %s\n%s", status, code, tc.status, tc.code, b)
			}
		})
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
