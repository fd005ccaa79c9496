package load

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Target is an S3-compatible endpoint, the keys that sign for it, and the bucket to use.
// Buckets are addressed in the path (path style), which every S3-compatible server accepts.
type Target struct {
	// Endpoint is the base URL, e.g. "http://127.0.0.1:9000".
	Endpoint string
	// Region to sign for; "us-east-1" when empty.
	Region               string
	AccessKey, SecretKey string
	Bucket               string
}

// Client signs presigned URLs for one Target and sends requests to them.
type Client struct {
	base    *url.URL
	bucket  string
	region  string
	creds   aws.Credentials
	signer  *v4.Signer
	expires string // X-Amz-Expires, in seconds
	http    *http.Client
}

// emptySHA256 is the SHA-256 of no bytes, the payload hash of a request without a body.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// NewClient returns a Client for t that keeps up to conns connections open, with presigned
// URLs valid for expires.
func NewClient(t Target, conns int, expires time.Duration) (*Client, error) {
	base, err := url.Parse(t.Endpoint)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("load: endpoint %q: want an http:// or https:// URL", t.Endpoint)
	}
	if t.Bucket == "" || strings.Contains(t.Bucket, "/") {
		return nil, fmt.Errorf("load: bucket %q: want a bucket name", t.Bucket)
	}
	if t.AccessKey == "" || t.SecretKey == "" {
		return nil, errors.New("load: the target needs an access key and a secret key")
	}
	if expires < time.Second || expires > 7*24*time.Hour {
		return nil, fmt.Errorf("load: URL lifetime %v: SigV4 allows 1 s to 7 days", expires)
	}
	region := t.Region
	if region == "" {
		region = "us-east-1"
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// One idle connection per worker: a response read to its end hands its connection
		// back before the worker's next request, so no worker dials twice.
		MaxIdleConnsPerHost: max(conns, 1) + 1,
		IdleConnTimeout:     90 * time.Second,
		// Big bodies move in large writes and reads; small ones are not slowed by them.
		WriteBufferSize:    256 << 10,
		ReadBufferSize:     256 << 10,
		DisableCompression: true,
	}
	return &Client{
		base:    base,
		bucket:  t.Bucket,
		region:  region,
		creds:   aws.Credentials{AccessKeyID: t.AccessKey, SecretAccessKey: t.SecretKey},
		signer:  v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }),
		expires: strconv.Itoa(int(expires / time.Second)),
		http:    &http.Client{Transport: tr},
	}, nil
}

// Close closes the Client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// objectURL is the unsigned URL of key in the Client's bucket. The key is escaped as SigV4
// canonicalises an S3 path (every byte but A-Z a-z 0-9 - . _ ~ and / as %XX), so that the path
// sent is the path signed, whatever the server does with it.
func (c *Client) objectURL(key string) string {
	var b strings.Builder
	b.WriteString(c.base.Scheme + "://" + c.base.Host + c.base.EscapedPath() + "/" + url.PathEscape(c.bucket) + "/")
	for i := range len(key) {
		switch k := key[i]; {
		case 'A' <= k && k <= 'Z', 'a' <= k && k <= 'z', '0' <= k && k <= '9', strings.IndexByte("-._~/", k) >= 0:
			b.WriteByte(k)
		default:
			fmt.Fprintf(&b, "%%%02X", k)
		}
	}
	return b.String()
}

// presign returns a presigned URL for method on key. The payload is unsigned, as in every
// presigned URL: the signature covers the request line and the host, not the body.
func (c *Client) presign(ctx context.Context, method, key string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.objectURL(key)+"?X-Amz-Expires="+c.expires, nil)
	if err != nil {
		return "", err
	}
	signed, _, err := c.signer.PresignHTTP(ctx, c.creds, req, "UNSIGNED-PAYLOAD", "s3", c.region, time.Now())
	if err != nil {
		return "", fmt.Errorf("sign %s %s: %w", method, key, err)
	}
	return signed, nil
}

// CreateBucket creates the Client's bucket with a header-signed request. A bucket that exists
// already and is the caller's is no error.
func (c *Client) CreateBucket(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base.Scheme+"://"+c.base.Host+c.base.EscapedPath()+"/"+url.PathEscape(c.bucket), nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := c.signer.SignHTTP(ctx, c.creds, req, emptySHA256, "s3", c.region, time.Now()); err != nil {
		return fmt.Errorf("create bucket %s: %w", c.bucket, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", c.bucket, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var e struct{ Code string }
	// Some servers answer BucketAlreadyExists to the bucket's own owner too.
	if xml.Unmarshal(msg, &e) == nil && resp.StatusCode == http.StatusConflict &&
		(e.Code == "BucketAlreadyOwnedByYou" || e.Code == "BucketAlreadyExists") {
		return nil
	}
	return fmt.Errorf("create bucket %s: %s: %s", c.bucket, resp.Status, strings.TrimSpace(string(msg)))
}

// put sends size bytes of body to the presigned URL u. replay, when not nil, opens the body
// again from its start, which lets net/http resend a request whose kept-alive connection the
// server had closed.
func (c *Client) put(ctx context.Context, u string, body io.Reader, size int64, replay func() io.Reader) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	if replay != nil {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(replay()), nil }
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("PUT: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	// Read to the end, so that the connection goes back to the pool.
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// get copies the body of the presigned URL u into w through buf, which the caller keeps from
// one request to the next (a fresh buffer per small GET costs more than the GET), and returns
// how many bytes came.
func (c *Client) get(ctx context.Context, u string, w io.Writer, buf []byte) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, fmt.Errorf("GET: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	// Hide w's ReadFrom and the body's WriteTo, which would bring buffers of their own.
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{resp.Body}, buf)
}
