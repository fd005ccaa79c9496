package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/sigv4"
)

const (
	testAccessKey = "AKIAPRESIGNTEST"
	testSecretKey = "presign/secret+key=with/slashes"
	testRegion    = "us-east-1"
	testBucket    = "bucket"
)

// echoServer is a minimal S3 endpoint on a real listener: it verifies every request with
// sigv4.Verifier, reads PUT bodies through sigv4.NewPayloadReader, keeps them in memory and
// serves them back. Errors are S3 XML with the sigv4 error's code.
type echoServer struct {
	*httptest.Server
	v sigv4.Verifier

	mu      sync.Mutex
	now     time.Time // zero: the real clock
	objs    map[string][]byte
	modes   map[string]int // x-amz-content-sha256 values seen
	lastErr *sigv4.Error   // the last authentication failure, so tests can check its Kind
}

func newEchoServer(t *testing.T, tls bool) *echoServer {
	s := &echoServer{
		v: sigv4.Verifier{Region: testRegion, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey},
			Keys: sigv4.NewKeyCache(16)},
		objs: map[string][]byte{}, modes: map[string]int{},
	}
	if tls {
		s.Server = httptest.NewTLSServer(s)
	} else {
		s.Server = httptest.NewServer(s)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *echoServer) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now.IsZero() {
		return time.Now()
	}
	return s.now
}

func (s *echoServer) setClock(t time.Time) {
	s.mu.Lock()
	s.now = t
	s.mu.Unlock()
}

// takeErr returns the last authentication failure and forgets it, so a request that
// succeeds after a failure is not credited with the earlier error.
func (s *echoServer) takeErr() *sigv4.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lastErr
	s.lastErr = nil
	return e
}

type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (s *echoServer) writeErr(w http.ResponseWriter, err error) {
	var e *sigv4.Error
	if !errors.As(err, &e) {
		http.Error(w, err.Error(), 500)
		return
	}
	s.mu.Lock()
	s.lastErr = e
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status())
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		s3Error
	}{s3Error: s3Error{Code: e.Code(), Message: e.S3Message()}})
}

func (s *echoServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, err := s.v.Verify(r, s.clock())
	if err != nil {
		s.writeErr(w, err)
		return
	}
	key := r.URL.Path
	switch r.Method {
	case http.MethodPut:
		p, err := sigv4.NewPayloadReader(a, r)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		body, err := io.ReadAll(p)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		s.mu.Lock()
		s.objs[key] = body
		s.modes[a.PayloadHash]++
		s.mu.Unlock()
		sum := sha256.Sum256(body)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
		w.Header().Set("X-Test-Key", url.PathEscape(key))
	case http.MethodGet, http.MethodHead:
		s.mu.Lock()
		body, ok := s.objs[key]
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(404)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
		w.Header().Set("X-Test-Key", url.PathEscape(key))
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	default:
		w.WriteHeader(204)
	}
}

// do sends a request and returns the status, the S3 error code (if any) and the body.
func do(t *testing.T, c *http.Client, method, u string, h http.Header, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e s3Error
	if resp.StatusCode >= 300 {
		xml.Unmarshal(b, &e)
	}
	return resp.StatusCode, e.Code, b
}

// awkwardKeys are keys whose encoding SDKs and servers have got wrong.
var awkwardKeys = []string{
	"plain.txt",
	"with space/and more spaces.bin",
	"unicode/日本語/ünïcødé.txt",
	"plus+sign/a+b.txt",
	"percent%20literal%2F.txt",
	"equals=and&ampersand.txt",
	"tilde~and-dash_under.dot",
	"rfc3986!'()*.txt",
	"double//slash",
	"trailing/slash/",
	"semi;colon:at@comma,dollar$.txt",
	"brackets[]{}<>^`|\\.txt",
}

// awsClient is an s3.Client with the settings config.LoadDefaultConfig gives (checksums
// computed whenever the operation supports them), path-style, on endpoint.
func awsClient(endpoint string, httpClient *http.Client) *s3.Client {
	return s3.New(s3.Options{
		Region:                     testRegion,
		Credentials:                credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		HTTPClient:                 httpClient,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

func minioClient(t *testing.T, endpoint string, transport http.RoundTripper) *minio.Client {
	t.Helper()
	u, _ := url.Parse(endpoint)
	c, err := minio.New(u.Host, &minio.Options{
		Creds:           miniocreds.NewStaticV4(testAccessKey, testSecretKey, ""),
		Secure:          u.Scheme == "https",
		Region:          testRegion,
		BucketLookup:    minio.BucketLookupPath,
		Transport:       transport,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func payloadFor(key string) []byte {
	return bytes.Repeat([]byte(key+"\n"), 1000)
}

// TestAWSPresignClientURLsVerify: URLs made by aws-sdk-go-v2's s3.PresignClient for awkward
// keys, with a signed Content-Type and extra query parameters, are accepted as they are.
func TestAWSPresignClientURLsVerify(t *testing.T) {
	srv := newEchoServer(t, false)
	pc := s3.NewPresignClient(awsClient(srv.URL, srv.Client()))
	ctx := context.Background()
	for _, key := range awkwardKeys {
		t.Run(key, func(t *testing.T) {
			body := payloadFor(key)
			put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
				ContentType: aws.String("text/plain; charset=utf-8")}, s3.WithPresignExpires(10*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			status, code, _ := do(t, srv.Client(), put.Method, put.URL, put.SignedHeader, body)
			if status != 200 {
				t.Fatalf("presigned PUT: %d %s\nURL %s", status, code, put.URL)
			}
			get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key),
				ResponseContentDisposition: aws.String(`attachment; filename="résumé (1).txt"`)})
			if err != nil {
				t.Fatal(err)
			}
			status, code, got := do(t, srv.Client(), get.Method, get.URL, get.SignedHeader, nil)
			if status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("presigned GET: %d %s, body equal %v", status, code, bytes.Equal(got, body))
			}
			srv.mu.Lock()
			_, stored := srv.objs["/"+testBucket+"/"+key]
			srv.mu.Unlock()
			if !stored {
				t.Fatalf("the server decoded the key differently from %q", key)
			}
		})
	}
}

// TestAWSSignerHeaderAndPresign: requests signed by aws/signer/v4 directly, in the header form
// (signed payload hash and UNSIGNED-PAYLOAD) and the query form, with extra parameters.
func TestAWSSignerHeaderAndPresign(t *testing.T) {
	srv := newEchoServer(t, false)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	ctx := context.Background()
	for _, key := range awkwardKeys {
		t.Run(key, func(t *testing.T) {
			body := payloadFor(key)
			sum := sha256.Sum256(body)
			u := srv.URL + "/" + testBucket + "/" + escapePath(key) + "?X-Presign-Max-Bytes=1048576&note=a%20b%2Bc"
			for _, payloadHash := range []string{hex.EncodeToString(sum[:]), sigv4.UnsignedPayload} {
				req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
				req.Header.Set("X-Amz-Content-Sha256", payloadHash)
				req.Header.Set("X-Amz-Meta-Owner", "  many   spaces  ")
				if err := signer.SignHTTP(ctx, creds, req, payloadHash, "s3", testRegion, time.Now()); err != nil {
					t.Fatal(err)
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("header-signed PUT (%s): %d", payloadHash, resp.StatusCode)
				}
			}
			// The bare signer presigns what it is given: X-Amz-Expires must already be there.
			req, _ := http.NewRequest(http.MethodGet, u+"&X-Amz-Expires=300", nil)
			signed, hdr, err := signer.PresignHTTP(ctx, creds, req, sigv4.UnsignedPayload, "s3", testRegion, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			status, code, got := do(t, srv.Client(), http.MethodGet, signed, hdr, nil)
			if status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("PresignHTTP GET: %d %s", status, code)
			}
		})
	}
}

// escapePath escapes a key as aws-sdk-go-v2 does for S3: every byte but the unreserved ones
// and '/'.
func escapePath(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// TestAWSClientPutObjectModes: aws-sdk-go-v2's s3.Client, in its default settings, against a
// TLS listener: seekable bodies and unseekable ones (sent as STREAMING-UNSIGNED-PAYLOAD-TRAILER
// with a trailing CRC32 checksum).
func TestAWSClientPutObjectModes(t *testing.T) {
	srv := newEchoServer(t, true)
	c := awsClient(srv.URL, srv.Client())
	ctx := context.Background()
	for _, key := range awkwardKeys {
		body := payloadFor(key)
		for _, seekable := range []bool{true, false} {
			var r io.Reader = bytes.NewReader(body)
			if !seekable {
				r = io.MultiReader(bytes.NewReader(body)) // hides Seek
			}
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key), Body: r,
				ContentLength: aws.Int64(int64(len(body)))})
			if err != nil {
				t.Fatalf("%q seekable=%v: %v", key, seekable, err)
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("GetObject %q: %v", key, err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("%q: read back differs", key)
			}
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.modes[sigv4.StreamingUnsignedTrailer] == 0 {
		t.Fatalf("aws-sdk-go-v2 never sent %s; modes seen: %v", sigv4.StreamingUnsignedTrailer, srv.modes)
	}
	t.Logf("payload modes sent by aws-sdk-go-v2: %v", srv.modes)
}

// TestMinioGoRequestsVerify: minio-go's PutObject (signed aws-chunked streaming over plain
// HTTP, with and without a trailing checksum), GetObject, and its presigned URLs.
func TestMinioGoRequestsVerify(t *testing.T) {
	srv := newEchoServer(t, false)
	mc := minioClient(t, srv.URL, srv.Client().Transport)
	ctx := context.Background()
	for _, key := range awkwardKeys {
		t.Run(key, func(t *testing.T) {
			body := payloadFor(key)
			for _, opts := range []minio.PutObjectOptions{
				{ContentType: "text/plain", UserMetadata: map[string]string{"Owner": "a  b"}},
				{ContentType: "text/plain", Checksum: minio.ChecksumCRC32C, SendContentMd5: false},
			} {
				if _, err := mc.PutObject(ctx, testBucket, key, bytes.NewReader(body), int64(len(body)), opts); err != nil {
					t.Fatalf("PutObject: %v", err)
				}
			}
			obj, err := mc.GetObject(ctx, testBucket, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("GetObject: %v, equal %v", err, bytes.Equal(got, body))
			}
			params := url.Values{"response-content-type": {"application/x-test"}, "X-Presign-Once": {"n0nce"}}
			u, err := mc.PresignedGetObject(ctx, testBucket, key, time.Hour, params)
			if err != nil {
				t.Fatal(err)
			}
			status, code, got := do(t, srv.Client(), http.MethodGet, u.String(), nil, nil)
			if status != 200 || !bytes.Equal(got, body) {
				t.Fatalf("presigned GET: %d %s", status, code)
			}
			pu, err := mc.PresignedPutObject(ctx, testBucket, key+".copy", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if status, code, _ := do(t, srv.Client(), http.MethodPut, pu.String(), nil, body); status != 200 {
				t.Fatalf("presigned PUT: %d %s", status, code)
			}
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.modes[sigv4.StreamingPayload] == 0 || srv.modes[sigv4.StreamingPayloadTrailer] == 0 {
		t.Fatalf("minio-go did not send both signed streaming modes; modes seen: %v", srv.modes)
	}
	t.Logf("payload modes sent by minio-go: %v", srv.modes)
}
