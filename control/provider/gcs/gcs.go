// Package gcs is the control plane's Google Cloud Storage provider: one bucket, reached with
// Google's Go client (cloud.google.com/go/storage) for the control plane's own calls, and V4
// signed URLs (package gcsv4, locally) for everything handed out: signed with an HMAC key when
// one is configured, else with the service account's RSA key.
//
// A single upload is a signed PUT (XML API) whose signature covers the content type,
// x-goog-content-length-range (the size, enforced by Google before the bytes are kept) and
// x-goog-if-generation-match: 0 (no object may be replaced), and the declared checksums
// (Content-MD5, x-goog-hash: crc32c=...), which Google checks before it keeps the bytes; for a
// browser form (Uppy's S3 plugin) it is a POST policy with the same key, type and size range,
// whose checksums are compared at completion.
//
// A multipart upload is a parallel composite upload: each part is an object of its own,
// "<key>~part/<number>", uploaded with a signed PUT capped at the part's size and signed just
// in time; at completion the control plane composes the parts into the object (at most 32
// sources a call, so in a tree for more) and deletes them. Chosen over the XML multipart API
// and over resumable sessions: a resumable session is one sequential stream whose session URI is
// a bearer credential for a week, so it can neither be signed part by part nor sent in
// parallel; the XML multipart API fits, but its parts cannot be capped by the signature, the
// Go client has no call for it, and no emulator implements it, so the whole flow could not be
// tested; composed parts are capped before the bytes, listed and deleted with the client's
// ordinary calls. The price: a composite object has a CRC32C but no MD5, and the parts are
// billed as objects until completion.
package gcs

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"presign/control"
	"presign/gcsv4"
)

// DefaultEndpoint is Google Cloud Storage's API endpoint.
const DefaultEndpoint = "https://storage.googleapis.com"

// Config says where the bucket is and what signs.
type Config struct {
	// Bucket is the bucket every object goes to; it must exist. Required.
	Bucket string
	// Credentials is a service account's key file (the JSON GOOGLE_APPLICATION_CREDENTIALS
	// names): it authenticates the control plane's calls, and signs the URLs when no HMAC key
	// is given. Required.
	Credentials []byte
	// HMACAccessID and HMACSecret are a Cloud Storage HMAC key (made for a service account
	// with the rights on the bucket); both or neither. Given, every URL is signed with it
	// (GOOG4-HMAC-SHA256: microseconds a URL, where the RSA-2048 signature of the service
	// account's key costs most of a millisecond of CPU); the control plane's own calls still
	// use Credentials.
	HMACAccessID, HMACSecret string
	// Endpoint is the storage API's base URL, DefaultEndpoint when empty; an emulator's
	// (fake-gcs-server: http://127.0.0.1:4443), which, being plain HTTP, is called without
	// authentication. Signed URLs point there too.
	Endpoint string
	// HTTPClient makes the control plane's calls; nil for Google's default, authenticated with
	// Credentials. A client given is used as it is (an emulator needs no authentication).
	HTTPClient *http.Client
}

// Provider implements control.Objects and control.URLSigner on one bucket. It is safe for
// concurrent use.
type Provider struct {
	c      *storage.Client
	b      *storage.BucketHandle
	signer urlSigner
	// forms signs POST policies: always with the service account's RSA key, which Google's
	// conformance vectors pin for policies (it publishes none signed with an HMAC key).
	forms    *gcsv4.Signer
	endpoint string
	bucket   string
}

var (
	_ control.Objects    = (*Provider)(nil)
	_ control.URLSigner  = (*Provider)(nil)
	_ control.FormSigner = (*Provider)(nil)
)

// urlSigner is the kind of key the URLs are signed with: *gcsv4.Signer or *gcsv4.HMACSigner.
type urlSigner interface {
	Sign(r gcsv4.Request, now time.Time, ttl time.Duration) (gcsv4.Signed, error)
}

// New returns a Provider for cfg. It makes no request.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Bucket == "" || len(cfg.Credentials) == 0 {
		return nil, errors.New("gcs: Config needs a Bucket and a service account's Credentials")
	}
	// The key file is checked even when an HMAC key signs: it makes the calls.
	rsaSigner, err := gcsv4.ParseServiceAccount(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	var signer urlSigner = rsaSigner
	if cfg.HMACAccessID != "" || cfg.HMACSecret != "" {
		hs, err := gcsv4.NewHMACSigner(cfg.HMACAccessID, cfg.HMACSecret)
		if err != nil {
			return nil, err
		}
		signer = hs
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	ep, err := url.Parse(strings.TrimSuffix(cfg.Endpoint, "/"))
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" || ep.Path != "" || ep.RawQuery != "" {
		return nil, fmt.Errorf("gcs: endpoint %q must be http(s)://host[:port]", cfg.Endpoint)
	}
	endpoint := ep.String()
	opts := []option.ClientOption{option.WithEndpoint(endpoint + "/storage/v1/")}
	switch {
	case cfg.HTTPClient != nil:
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	case ep.Scheme == "http":
		// Google's API is HTTPS only, so a plain-HTTP endpoint is an emulator: it wants no
		// token, and the service account's token must not travel in clear anyway.
		opts = append(opts, option.WithoutAuthentication())
	default:
		opts = append(opts, option.WithAuthCredentialsJSON(option.ServiceAccount, cfg.Credentials))
	}
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: %w", err)
	}
	return &Provider{c: c, b: c.Bucket(cfg.Bucket), signer: signer, forms: rsaSigner, endpoint: endpoint, bucket: cfg.Bucket}, nil
}

// Close releases the client.
func (p *Provider) Close() error { return p.c.Close() }

// Provider is "gcs".
func (p *Provider) Provider() string { return "gcs" }

// CapsUploadSize is true: x-goog-content-length-range is signed.
func (p *Provider) CapsUploadSize() bool { return true }

// PartETags is false: completion composes the parts the bucket holds.
func (p *Provider) PartETags() bool { return false }

// PartAnswersETag is true: each part is an object, and its PUT answers its ETag.
func (p *Provider) PartAnswersETag() bool { return true }

// ChecksumCheck: Google keeps an MD5 and a CRC32C of every object but a composite one, which
// has a CRC32C only. A single PUT signs Content-MD5 and x-goog-hash (crc32c), which Google
// checks before it keeps the bytes; a form's are compared at completion.
func (p *Provider) ChecksumCheck(kind control.UploadKind, checksum string) control.ChecksumCheck {
	switch {
	case kind == control.UploadMultipart && checksum == control.ChecksumMD5:
		return control.ChecksumCheck{}
	case kind == control.UploadPut:
		return control.ChecksumCheck{Before: true, Reported: true}
	}
	return control.ChecksumCheck{Reported: true}
}

// ObjectURL is the object's URL, unsigned.
func (p *Provider) ObjectURL(key string) string {
	return p.endpoint + "/" + p.bucket + "/" + escapeKey(key)
}

// Ready reports whether the bucket answers.
func (p *Provider) Ready(ctx context.Context) error {
	if _, err := p.b.Attrs(ctx); err != nil {
		return storageErr("get bucket "+p.bucket, err)
	}
	return nil
}

// Head describes the object at key.
func (p *Provider) Head(ctx context.Context, key string) (control.ObjectInfo, error) {
	a, err := p.b.Object(key).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return control.ObjectInfo{}, control.ErrNoObject
	}
	if err != nil {
		return control.ObjectInfo{}, storageErr("get object", err)
	}
	info := control.ObjectInfo{Size: a.Size, ContentType: a.ContentType, ETag: strings.Trim(a.Etag, `"`),
		CRC32C: fmt.Sprintf("%08x", a.CRC32C), // every object has one
		Replayed: control.ReplayedHeaders{CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition,
			ContentEncoding: a.ContentEncoding, ContentLanguage: a.ContentLanguage}}
	if len(a.MD5) == md5.Size { // a composite object has none
		info.MD5 = hex.EncodeToString(a.MD5)
	}
	return info, nil
}

// Delete removes the object at key; a missing object is not an error.
func (p *Provider) Delete(ctx context.Context, key string) error {
	err := p.b.Object(key).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return storageErr("delete object", err)
	}
	return nil
}

// partPrefix is where the parts of the object at key live until completion.
func partPrefix(key string) string { return key + "~part/" }

func partName(key string, n int) string { return fmt.Sprintf("%s%05d", partPrefix(key), n) }

// CreateMultipart starts nothing in the bucket (parts are objects of their own): the id it
// returns carries the content type the composed object gets.
func (p *Provider) CreateMultipart(_ context.Context, _, contentType string) (string, error) {
	return "compose:" + url.QueryEscape(contentType), nil
}

// ListParts returns the part objects of the upload in part-number order; ErrNoMultipart when
// there are none and the object exists (the upload was completed).
func (p *Provider) ListParts(ctx context.Context, key, _ string) ([]control.Part, error) {
	var parts []control.Part
	it := p.b.Objects(ctx, &storage.Query{Prefix: partPrefix(key)})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, storageErr("list parts", err)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(a.Name, partPrefix(key)))
		if err != nil || n < 1 || n > control.MaxParts {
			continue
		}
		parts = append(parts, control.Part{Number: n, ETag: strings.Trim(a.Etag, `"`), Size: a.Size})
	}
	if len(parts) == 0 {
		if _, err := p.b.Object(key).Attrs(ctx); err == nil {
			return nil, control.ErrNoMultipart
		}
	}
	return parts, nil
}

// maxComposeSources is how many objects one compose call takes.
const maxComposeSources = 32

// CompleteMultipart composes the parts, in order, into the object at key, then deletes them.
func (p *Provider) CompleteMultipart(ctx context.Context, key, uploadID string, parts []control.Part) (string, error) {
	ct, ok := strings.CutPrefix(uploadID, "compose:")
	if !ok {
		return "", fmt.Errorf("%w: upload id %q was not made by this provider", control.ErrNoMultipart, uploadID)
	}
	ct, _ = url.QueryUnescape(ct)
	names := make([]string, len(parts))
	for i, pt := range parts {
		names[i] = partName(key, pt.Number)
	}
	var temps []string
	defer func() {
		for _, n := range temps {
			p.b.Object(n).Delete(context.WithoutCancel(ctx))
		}
	}()
	// Compose in levels of at most 32 sources until one call makes the object.
	for level := 0; len(names) > maxComposeSources; level++ {
		var next []string
		for i := 0; i < len(names); i += maxComposeSources {
			group := names[i:min(i+maxComposeSources, len(names))]
			tmp := fmt.Sprintf("%s~compose/%d-%05d", key, level, i/maxComposeSources)
			if err := p.compose(ctx, tmp, "application/octet-stream", group); err != nil {
				return "", err
			}
			temps = append(temps, tmp)
			next = append(next, tmp)
		}
		names = next
	}
	if err := p.compose(ctx, key, ct, names); err != nil {
		return "", err
	}
	for _, pt := range parts {
		if err := p.Delete(context.WithoutCancel(ctx), partName(key, pt.Number)); err != nil {
			return "", err
		}
	}
	a, err := p.b.Object(key).Attrs(ctx)
	if err != nil {
		return "", storageErr("get composed object", err)
	}
	return strings.Trim(a.Etag, `"`), nil
}

func (p *Provider) compose(ctx context.Context, dst, contentType string, srcs []string) error {
	hs := make([]*storage.ObjectHandle, len(srcs))
	for i, s := range srcs {
		hs[i] = p.b.Object(s)
	}
	c := p.b.Object(dst).ComposerFrom(hs...)
	c.ContentType = contentType
	if _, err := c.Run(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) || strings.Contains(err.Error(), "404") {
			return fmt.Errorf("%w: a part is missing: %v", control.ErrBadParts, err)
		}
		return storageErr("compose", err)
	}
	return nil
}

// AbortMultipart deletes the upload's parts.
func (p *Provider) AbortMultipart(ctx context.Context, key, _ string) error {
	it := p.b.Objects(ctx, &storage.Query{Prefix: partPrefix(key)})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return storageErr("list parts", err)
		}
		if err := p.Delete(ctx, a.Name); err != nil {
			return err
		}
	}
}

// SignUpload signs the PUT of the whole object.
func (p *Provider) SignUpload(r control.UploadSigning) (control.SignedRequest, error) {
	lo, hi := r.Size, r.Size
	if r.MaxSize > 0 {
		lo, hi = 1, r.MaxSize
	}
	h := map[string]string{"Content-Type": r.ContentType, "x-goog-content-length-range": fmt.Sprintf("%d,%d", lo, hi),
		"x-goog-if-generation-match": "0"}
	if r.MD5 != "" {
		h["Content-MD5"] = r.MD5
	}
	if r.CRC32C != "" {
		h["x-goog-hash"] = "crc32c=" + r.CRC32C
	}
	return p.sign(http.MethodPut, r.Key, h, nil, r.Now, r.TTL)
}

// SignForm signs a POST policy for the whole object: its key, content type and size range
// (content-length-range, enforced by Google before the bytes are kept) are conditions, and the
// answer is 201. A form cannot carry x-goog-if-generation-match: the key is the upload's own,
// so only this form could write it again, until it expires.
func (p *Provider) SignForm(r control.UploadSigning) (string, map[string]string, error) {
	lo, hi := r.Size, r.Size
	if r.MaxSize > 0 {
		lo, hi = 1, r.MaxSize
	}
	// Content-Type as Google's form documentation spells the field (fake-gcs-server reads
	// only that spelling).
	s, err := p.forms.SignPost(gcsv4.PostRequest{Endpoint: p.endpoint, Bucket: p.bucket, Object: r.Key,
		Fields:     map[string]string{"Content-Type": r.ContentType, "success_action_status": "201"},
		Conditions: []gcsv4.Condition{gcsv4.ContentLengthRange(lo, hi)}}, r.Now, r.TTL)
	if err != nil {
		return "", nil, err
	}
	// The bucket's URL without Google's trailing slash names the same bucket, and is the one
	// fake-gcs-server routes forms to.
	return strings.TrimSuffix(s.URL, "/"), s.Fields, nil
}

// SignPart signs the PUT of one part object, capped at the part's size, or, for a client that
// sends no header (URLOnly), with nothing but the URL: the part is then checked at completion,
// where the composed object must fit the upload's maximum.
func (p *Provider) SignPart(r control.PartSigning) (control.SignedRequest, error) {
	lo := r.Size
	if r.Capped {
		lo = 1
	}
	var h map[string]string
	if !r.URLOnly {
		h = map[string]string{"x-goog-content-length-range": fmt.Sprintf("%d,%d", lo, r.Size)}
	}
	return p.sign(http.MethodPut, partName(r.Key, r.Number), h, nil, r.Now, r.TTL)
}

// SignDownload signs a GET answered with the disposition and type given.
func (p *Provider) SignDownload(key, disposition, contentType string, now time.Time, ttl time.Duration) (string, error) {
	q := url.Values{"response-content-disposition": {disposition}}
	if contentType != "" {
		q.Set("response-content-type", contentType)
	}
	r, err := p.sign(http.MethodGet, key, nil, q, now, ttl)
	return r.URL, err
}

func (p *Provider) sign(method, object string, h map[string]string, q url.Values, now time.Time, ttl time.Duration) (control.SignedRequest, error) {
	s, err := p.signer.Sign(gcsv4.Request{Method: method, Endpoint: p.endpoint, Bucket: p.bucket, Object: object,
		Headers: h, Query: q}, now, ttl)
	if err != nil {
		return control.SignedRequest{}, err
	}
	return control.SignedRequest{Method: method, URL: s.URL, Headers: h}, nil
}

// escapeKey percent-encodes an object name for a URL path, keeping its slashes.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func storageErr(op string, err error) error {
	return &control.StorageError{Op: op, Err: err}
}
