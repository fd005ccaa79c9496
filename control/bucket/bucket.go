// Package bucket is the control plane's view of its object store: one bucket, reached over the
// S3 API with aws-sdk-go-v2. It works with presign's own storage node and with any
// S3-compatible service, since it speaks nothing but S3 (and one probe that tells presign's
// node from the others). Presigned URLs are not made here: the control plane signs them itself
// (package sigv4), without a network call.
package bucket

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"presign/control"
	"presign/sigv4"
)

// Config says where the bucket is.
type Config struct {
	// Endpoint is the S3 API's base URL, e.g. http://127.0.0.1:9000. Required.
	Endpoint string
	// Bucket is the bucket's name. Required.
	Bucket string
	// Region requests are signed for; "us-east-1" when empty.
	Region string
	// AccessKeyID and SecretAccessKey sign the requests. Required.
	AccessKeyID, SecretAccessKey string
	// VirtualHostStyle addresses the bucket in the host name (bucket.host) instead of the
	// path (host/bucket).
	VirtualHostStyle bool
	// HTTPClient makes the requests; a client with sensible timeouts when nil.
	HTTPClient *http.Client
	// RevokeEndpoints are further presign storage nodes that must each hear of a revocation
	// (nodes that share no Redis); Endpoint always does.
	RevokeEndpoints []string
}

// Bucket implements control.Objects on one bucket of an S3 API. It is safe for concurrent use.
type Bucket struct {
	c               *s3.Client
	hc              *http.Client
	endpoint        string
	bucket          string
	signer          *sigv4.Signer // for the storage node's own calls (revocations)
	revokeEndpoints []string
}

var (
	_ control.Objects           = (*Bucket)(nil)
	_ control.PresignNodeProber = (*Bucket)(nil)
)

// New returns a Bucket for cfg. It makes no request.
func New(cfg Config) (*Bucket, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" || cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("bucket: Config needs an Endpoint, a Bucket and credentials")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		hc = &http.Client{Transport: t, Timeout: 2 * time.Minute}
	}
	c := s3.New(s3.Options{
		Region:       cfg.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		BaseEndpoint: aws.String(strings.TrimSuffix(cfg.Endpoint, "/")),
		UsePathStyle: !cfg.VirtualHostStyle,
		HTTPClient:   hc,
		// Only what the API requires: third-party stores differ in the optional checksums they
		// accept, and these requests carry no object bytes.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	var extra []string
	for _, e := range cfg.RevokeEndpoints {
		extra = append(extra, strings.TrimSuffix(e, "/"))
	}
	return &Bucket{c: c, hc: hc, endpoint: strings.TrimSuffix(cfg.Endpoint, "/"), bucket: cfg.Bucket,
		signer:          &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}, Region: cfg.Region},
		revokeEndpoints: extra}, nil
}

// presignHealth is the storage node's health path, which no S3 service has: bucket names
// cannot hold '_'. A presign node answers it 200 "ok".
const presignHealth = "/_presign/healthz"

// IsPresignNode asks the endpoint whether it is presign's storage node: one unauthenticated
// GET of its health path. Anything but 200 "ok" is another S3 service; a failure to get an
// answer, or a 5xx answer (which says nothing of what answered), is an error.
func (b *Bucket) IsPresignNode(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.endpoint+presignHealth, nil)
	if err != nil {
		return false, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return false, fmt.Errorf("GET %s answered %s", presignHealth, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok", nil
}

// Ensure creates the bucket if it does not exist.
func (b *Bucket) Ensure(ctx context.Context) error {
	_, err := b.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	if !isCode(err, "NotFound", "NoSuchBucket") {
		return storageErr("head bucket", err)
	}
	_, err = b.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	if err != nil && !isCode(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
		return storageErr("create bucket", err)
	}
	return nil
}

// Ready reports whether the store answers and the bucket exists.
func (b *Bucket) Ready(ctx context.Context) error {
	if _, err := b.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket}); err != nil {
		return storageErr("head bucket "+b.bucket, err)
	}
	return nil
}

// Head describes the object at key, asking for its checksums. It reports no MD5: an ETag is
// the object's MD5 only for some objects (not under SSE-KMS or SSE-C, not for parts), so the
// control plane relies on the signed Content-MD5 the store checked instead.
func (b *Bucket) Head(ctx context.Context, key string) (control.ObjectInfo, error) {
	out, err := b.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		if isCode(err, "NotFound", "NoSuchKey") {
			return control.ObjectInfo{}, control.ErrNoObject
		}
		return control.ObjectInfo{}, storageErr("head object", err)
	}
	info := control.ObjectInfo{
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		ETag:        strings.Trim(aws.ToString(out.ETag), `"`),
		// presign's node keeps none of these unless signed, and no ticket signs one; another
		// S3 service may keep those a presigned PUT adds.
		Replayed: control.ReplayedHeaders{CacheControl: aws.ToString(out.CacheControl), ContentDisposition: aws.ToString(out.ContentDisposition),
			ContentEncoding: aws.ToString(out.ContentEncoding), ContentLanguage: aws.ToString(out.ContentLanguage), Expires: aws.ToString(out.ExpiresString)},
	}
	// A multipart object's checksum is a checksum of part checksums ("<b64>-<parts>"), not of
	// the object; only a whole-object SHA-256 says anything about the bytes.
	if v := aws.ToString(out.ChecksumSHA256); v != "" && !strings.Contains(v, "-") && out.ChecksumType != types.ChecksumTypeComposite {
		info.SHA256 = v
	}
	if v := aws.ToString(out.ChecksumCRC32C); v != "" && !strings.Contains(v, "-") && out.ChecksumType != types.ChecksumTypeComposite {
		if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == 4 {
			info.CRC32C = hex.EncodeToString(b)
		}
	}
	return info, nil
}

// Delete removes the object at key; a missing object is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	_, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil && !isCode(err, "NoSuchKey", "NotFound") {
		return storageErr("delete object", err)
	}
	return nil
}

// CreateMultipart starts a multipart upload.
func (b *Bucket) CreateMultipart(ctx context.Context, key, contentType string) (string, error) {
	out, err := b.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: &key, ContentType: &contentType})
	if err != nil {
		return "", storageErr("create multipart upload", err)
	}
	return aws.ToString(out.UploadId), nil
}

// CompleteMultipart assembles the parts.
func (b *Bucket) CompleteMultipart(ctx context.Context, key, uploadID string, parts []control.Part) (string, error) {
	cps := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cps[i] = types.CompletedPart{PartNumber: aws.Int32(int32(p.Number)), ETag: aws.String(quote(p.ETag))}
	}
	out, err := b.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: &uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: cps}})
	switch {
	case isCode(err, "NoSuchUpload"):
		return "", control.ErrNoMultipart
	case isCode(err, "InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
		return "", fmt.Errorf("%w: %v", control.ErrBadParts, apiMessage(err))
	case err != nil:
		return "", storageErr("complete multipart upload", err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`), nil
}

// AbortMultipart discards a multipart upload; an unknown one is not an error.
func (b *Bucket) AbortMultipart(ctx context.Context, key, uploadID string) error {
	_, err := b.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: &uploadID})
	if err != nil && !isCode(err, "NoSuchUpload", "NotFound") {
		return storageErr("abort multipart upload", err)
	}
	return nil
}

// ListParts returns the parts the store holds, following the listing's pages.
func (b *Bucket) ListParts(ctx context.Context, key, uploadID string) ([]control.Part, error) {
	var out []control.Part
	p := s3.NewListPartsPaginator(b.c, &s3.ListPartsInput{Bucket: &b.bucket, Key: &key, UploadId: &uploadID})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if isCode(err, "NoSuchUpload") {
			return nil, control.ErrNoMultipart
		}
		if err != nil {
			return nil, storageErr("list parts", err)
		}
		for _, pt := range page.Parts {
			out = append(out, control.Part{Number: int(aws.ToInt32(pt.PartNumber)), ETag: strings.Trim(aws.ToString(pt.ETag), `"`),
				Size: aws.ToInt64(pt.Size)})
		}
	}
	return out, nil
}

func quote(etag string) string { return `"` + strings.Trim(etag, `"`) + `"` }

// isCode reports whether err is an S3 error with one of the codes.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

// storageErr wraps a failure of the object store; the store's "no space left" answer (S3's
// 507 InsufficientStorage, MinIO's XMinioStorageFull) is marked control.ErrObjectStoreFull,
// which the API answers with 507 rather than 502: the store works, its disk is full.
func storageErr(op string, err error) error {
	var re *awshttp.ResponseError
	if isCode(err, "InsufficientStorage", "XMinioStorageFull") ||
		errors.As(err, &re) && re.HTTPStatusCode() == http.StatusInsufficientStorage {
		err = fmt.Errorf("%w: %w", control.ErrObjectStoreFull, err)
	}
	return &control.StorageError{Op: op, Err: err}
}
