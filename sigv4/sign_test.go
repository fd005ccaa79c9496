package sigv4_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/sigv4"
)

var testSigner = &sigv4.Signer{
	Credentials: sigv4.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey},
	Region:      testRegion,
}

// TestPresignedURLsWorkWithPlainClients: URLs from Signer.Presign, for awkward keys and with
// extension parameters, work with net/http as they are and carry what S3 clients expect.
func TestPresignedURLsWorkWithPlainClients(t *testing.T) {
	srv := newEchoServer(t, false)
	for _, key := range awkwardKeys {
		t.Run(key, func(t *testing.T) {
			body := payloadFor(key)
			u, _ := url.Parse(srv.URL + "/" + testBucket + "/" + escapePath(key) + "?X-Presign-Max-Bytes=100000&X-Presign-Once=a%20b")
			h := http.Header{"Content-Type": {"video/mp4"}}
			put, err := testSigner.Presign(http.MethodPut, u, h, time.Now(), 15*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if status, code, _ := do(t, srv.Client(), http.MethodPut, put.String(), h, body); status != 200 {
				t.Fatalf("PUT: %d %s", status, code)
			}
			if status, code, _ := do(t, srv.Client(), http.MethodPut, put.String(), http.Header{"Content-Type": {"text/plain"}}, body); status != 403 || code != "SignatureDoesNotMatch" {
				t.Fatalf("PUT with another Content-Type: %d %s, want 403 SignatureDoesNotMatch", status, code)
			}
			get, err := testSigner.Presign(http.MethodGet, u, nil, time.Now(), time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if status, code, got := do(t, srv.Client(), http.MethodGet, get.String(), nil, nil); status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("GET: %d %s", status, code)
			}
		})
	}
}

// TestPresignMatchesAWSSDK: for the same inputs, Signer.Presign and aws-sdk-go-v2's presign
// client produce the same signature.
func TestPresignMatchesAWSSDK(t *testing.T) {
	pc := s3.NewPresignClient(s3.New(s3.Options{
		Region: testRegion, Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}, nil
		}),
		BaseEndpoint: aws.String("http://127.0.0.1:9000"), UsePathStyle: true,
	}))
	for _, key := range awkwardKeys {
		got, err := pc.PresignGetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)},
			s3.WithPresignExpires(5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		sdk, _ := url.Parse(got.URL)
		at, err := time.Parse(sigv4.TimeFormat, sdk.Query().Get("X-Amz-Date"))
		if err != nil {
			t.Fatal(err)
		}
		u := *sdk
		q := u.Query()
		for k := range q {
			if strings.HasPrefix(k, "X-Amz-") {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
		mine, err := testSigner.Presign(http.MethodGet, &u, nil, at, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mine.Query().Get("X-Amz-Signature"), sdk.Query().Get("X-Amz-Signature"); a != b {
			t.Errorf("%q: signature %s, aws-sdk-go-v2 %s\nmine %s\nsdk  %s", key, a, b, mine, sdk)
		}
	}
}

func TestPresignRejectsBadInput(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:9000/b/k")
	for _, tc := range []struct {
		name string
		u    string
		exp  time.Duration
	}{
		{"zero expiry", u.String(), 0},
		{"expiry over a week", u.String(), sigv4.MaxExpires + time.Second},
		{"fractional expiry", u.String(), 1500 * time.Millisecond},
		{"no host", "/b/k", time.Minute},
		{"already signed", u.String() + "?X-Amz-Signature=00", time.Minute},
		{"bad escape", u.String() + "?a=%zz", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pu, _ := url.Parse(tc.u)
			if _, err := testSigner.Presign(http.MethodGet, pu, nil, time.Now(), tc.exp); err == nil {
				t.Fatal("Presign accepted it")
			}
		})
	}
}

// TestSignRequestAndChunkedBodiesVerify signs requests with Signer.SignRequest in every payload
// mode, framing streaming bodies with EncodeChunked, and sends them to a real listener.
func TestSignRequestAndChunkedBodiesVerify(t *testing.T) {
	srv := newEchoServer(t, false)
	body := bytes.Repeat([]byte("0123456789"), 20_000)
	for _, mode := range []string{sha256Hex(string(body)), sigv4.UnsignedPayload, sigv4.StreamingPayload, sigv4.StreamingPayloadTrailer, sigv4.StreamingUnsignedTrailer} {
		t.Run(mode, func(t *testing.T) {
			now := time.Now()
			r, _ := http.NewRequest(http.MethodPut, srv.URL+"/"+testBucket+"/chunked", nil)
			r.Header.Set("Content-Type", "application/octet-stream")
			o := sigv4.ChunkedOptions{Signed: mode == sigv4.StreamingPayload || mode == sigv4.StreamingPayloadTrailer, DecodedLength: int64(len(body))}
			streaming := strings.HasPrefix(mode, "STREAMING-")
			if streaming {
				r.Header.Set("Content-Encoding", "aws-chunked")
				r.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(body)))
				if strings.HasSuffix(mode, "-TRAILER") {
					o.Trailer = "x-amz-checksum-crc64nvme"
					r.Header.Set("X-Amz-Trailer", o.Trailer)
				}
				r.ContentLength = sigv4.ChunkedLength(int64(len(body)), 32<<10, o)
			} else {
				r.ContentLength = int64(len(body))
			}
			seed, err := testSigner.SignRequest(r, mode, now)
			if err != nil {
				t.Fatal(err)
			}
			var wire io.Reader = bytes.NewReader(body)
			if streaming {
				o.Key, o.Scope, o.AmzDate, o.Seed = testSigner.SigningKey(now), testSigner.Scope(now), now.UTC().Format(sigv4.TimeFormat), seed
				wire = sigv4.EncodeChunked(bytes.NewReader(body), 32<<10, o)
			}
			r.Body = io.NopCloser(wire)
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			srv.mu.Lock()
			got := srv.objs["/"+testBucket+"/chunked"]
			srv.mu.Unlock()
			if !bytes.Equal(got, body) {
				t.Fatal("stored body differs")
			}
		})
	}
}

func TestKeyCacheIsSafeAndBounded(t *testing.T) {
	c := sigv4.NewKeyCache(8)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := sigv4.Scope{Date: "20260101", Region: fmt.Sprint("r", (g+i)%20), Service: "s3"}
				if c.Key("secret", s) != sigv4.DeriveKey("secret", s) {
					t.Error("cached key differs from derived key")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n := c.Len(); n > 8 {
		t.Fatalf("cache holds %d keys, bound is 8", n)
	}
	var nilCache *sigv4.KeyCache
	s := sigv4.Scope{Date: "20260101", Region: "x", Service: "s3"}
	if nilCache.Key("k", s) != sigv4.DeriveKey("k", s) {
		t.Fatal("nil cache must derive")
	}
}

// TestErrorsCarryS3Details: the typed errors map to S3's codes and statuses and give the
// elements S3 adds to its XML.
func TestErrorsCarryS3Details(t *testing.T) {
	v := &sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}}
	signed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u, _ := url.Parse("http://127.0.0.1:9000/b/k")
	pu, _ := testSigner.Presign(http.MethodGet, u, nil, signed, time.Hour)
	r, _ := http.NewRequest(http.MethodGet, pu.String(), nil)

	_, err := v.Verify(r, signed.Add(2*time.Hour))
	var e *sigv4.Error
	if !errors.As(err, &e) || e.Kind != sigv4.KindExpired || e.Code() != "AccessDenied" || e.Status() != 403 || e.S3Message() != "Request has expired" {
		t.Fatalf("expired: %v", err)
	}
	want := []sigv4.Field{{"X-Amz-Expires", "3600"}, {"Expires", "2026-01-02T04:04:05Z"}, {"ServerTime", "2026-01-02T05:04:05Z"}}
	if fmt.Sprint(e.Fields()) != fmt.Sprint(want) {
		t.Fatalf("fields %v, want %v", e.Fields(), want)
	}

	r.Header.Set("X-Amz-Meta-A", "1")
	r.Header.Set("X-Amz-Acl", "x")
	_, err = v.Verify(r, signed)
	if !errors.As(err, &e) || e.Kind != sigv4.KindHeadersNotSigned || fmt.Sprint(e.Fields()) != "[{HeadersNotSigned x-amz-acl, x-amz-meta-a}]" {
		t.Fatalf("unsigned headers: %v %v", err, e.Fields())
	}

	anon, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:9000/b/k", nil)
	if _, err := v.Verify(anon, signed); !errors.As(err, &e) || e.Kind != sigv4.KindMissingAuth || e.Status() != 403 {
		t.Fatalf("anonymous: %v", err)
	}
	both, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
	both.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	if _, err := v.Verify(both, signed); !errors.As(err, &e) || e.Kind != sigv4.KindQueryParams {
		t.Fatalf("two auth mechanisms: %v", err)
	}
	for k := sigv4.KindMissingAuth; k <= sigv4.KindEntityTooSmall; k++ {
		if k.Code() == "" || k.Status() < 400 {
			t.Errorf("kind %d has no S3 mapping", k)
		}
	}
}

// TestBearerHeaderBesidePresignedQueryIsIgnored: an HTTP client following a redirect from an
// API that it called with a bearer token sends that token on to the presigned URL; the URL
// must still work, and a bearer token alone authenticates nothing.
func TestBearerHeaderBesidePresignedQueryIsIgnored(t *testing.T) {
	v := &sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}}
	u, _ := url.Parse("http://127.0.0.1:9000/b/k")
	now := time.Now()
	pu, _ := testSigner.Presign(http.MethodGet, u, nil, now, time.Minute)
	r, _ := http.NewRequest(http.MethodGet, pu.String(), nil)
	r.Header.Set("Authorization", "Bearer session-token")
	if _, err := v.Verify(r, now); err != nil {
		t.Fatalf("presigned URL with a forwarded bearer token: %v", err)
	}
	plain, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	plain.Header.Set("Authorization", "Bearer session-token")
	var e *sigv4.Error
	if _, err := v.Verify(plain, now); !errors.As(err, &e) || e.Kind != sigv4.KindHeaderMalformed {
		t.Fatalf("bearer token alone: %v", err)
	}
}
