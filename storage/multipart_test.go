package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/extension"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// The multipart tests run a storage node (storage.New on a disk backend) on a real listener
// on 127.0.0.1 and drive it with aws-sdk-go-v2, minio-go and plain net/http on presigned URLs.

const (
	mpAccessKey = "PSMULTIPARTKEY"
	mpSecretKey = "multipart-secret/with+symbols="
	mpRegion    = "us-east-1"
	mpBucket    = "media"
	mib         = 1 << 20
)

// mpNode is a running storage node with clients for it.
type mpNode struct {
	URL     string
	Backend *disk.Backend
	S3      *s3.Client
	Presign *s3.PresignClient
	Minio   *minio.Client
	Signer  *sigv4.Signer
}

// startMultipartNode runs a node on a fresh disk backend holding the bucket mpBucket.
// configure, when not nil, adjusts the node's Config (which names the disk backend) first.
func startMultipartNode(t testing.TB, configure func(*storage.Config)) *mpNode {
	t.Helper()
	b, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	cfg := storage.Config{Backend: b, Credentials: sigv4.StaticCredentials{mpAccessKey: mpSecretKey}, Region: mpRegion, Nonces: b}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // after the HTTP server, which stops first
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	if err := b.CreateBucket(t.Context(), mpBucket); err != nil {
		t.Fatal(err)
	}
	client := s3.New(s3.Options{
		Region: mpRegion, BaseEndpoint: aws.String(ts.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(mpAccessKey, mpSecretKey, ""),
	})
	mc, err := minio.New(strings.TrimPrefix(ts.URL, "http://"), &minio.Options{
		Creds: miniocreds.NewStaticV4(mpAccessKey, mpSecretKey, ""), Region: mpRegion, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &mpNode{
		URL: ts.URL, Backend: b, S3: client, Presign: s3.NewPresignClient(client), Minio: mc,
		Signer: &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: mpAccessKey, SecretAccessKey: mpSecretKey}, Region: mpRegion},
	}
}

// mpData is n pseudo-random bytes determined by seed.
func mpData(seed string, n int) []byte {
	var key [32]byte
	copy(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// wantETag is the ETag of an object of these parts: hex MD5 of the concatenated MD5s, "-N".
func wantETag(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		s := md5.Sum(p)
		all = append(all, s[:]...)
	}
	s := md5.Sum(all)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(s[:]), len(parts))
}

// s3Code is the S3 error code of an SDK error, or "" when err is no API error.
func s3Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (n *mpNode) create(t *testing.T, key string, in *s3.CreateMultipartUploadInput) string {
	t.Helper()
	if in == nil {
		in = &s3.CreateMultipartUploadInput{}
	}
	in.Bucket, in.Key = aws.String(mpBucket), aws.String(key)
	out, err := n.S3.CreateMultipartUpload(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateMultipartUpload(%q): %v", key, err)
	}
	return aws.ToString(out.UploadId)
}

func (n *mpNode) uploadPart(t *testing.T, key, id string, number int32, data []byte) types.CompletedPart {
	t.Helper()
	out, err := n.S3.UploadPart(t.Context(), &s3.UploadPartInput{
		Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(number),
		Body: bytes.NewReader(data),
	})
	if err != nil {
		t.Fatalf("UploadPart(%d): %v", number, err)
	}
	return types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(number)}
}

func (n *mpNode) complete(ctx context.Context, key, id string, parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return n.S3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
}

// read returns the object's bytes and its GetObject answer.
func (n *mpNode) read(t *testing.T, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := n.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data, out
}

func TestMultipartUploadWithAWSSDK(t *testing.T) {
	n := startMultipartNode(t, nil)
	key := "u/7/videos/holiday 2026 ünï.mp4"
	id := n.create(t, key, &s3.CreateMultipartUploadInput{ContentType: aws.String("video/mp4"), Metadata: map[string]string{"owner": "7"}})
	p1, p2, p3 := mpData("1", 5*mib), mpData("2", 5*mib+1), mpData("3", 1000)
	parts := []types.CompletedPart{n.uploadPart(t, key, id, 1, p1), n.uploadPart(t, key, id, 2, p2), n.uploadPart(t, key, id, 3, p3)}
	out, err := n.complete(t.Context(), key, id, parts...)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if aws.ToString(out.ETag) != wantETag(p1, p2, p3) || aws.ToString(out.Key) != key || aws.ToString(out.Bucket) != mpBucket {
		t.Fatalf("completion answered ETag %s key %q, want %s", aws.ToString(out.ETag), aws.ToString(out.Key), wantETag(p1, p2, p3))
	}
	if loc := aws.ToString(out.Location); !strings.HasPrefix(loc, n.URL+"/"+mpBucket+"/") {
		t.Errorf("Location = %q", loc)
	}
	data, got := n.read(t, key)
	if !bytes.Equal(data, slices.Concat(p1, p2, p3)) {
		t.Fatalf("read back %d bytes that differ from the parts", len(data))
	}
	if aws.ToString(got.ETag) != wantETag(p1, p2, p3) || aws.ToString(got.ContentType) != "video/mp4" || got.Metadata["owner"] != "7" {
		t.Fatalf("GetObject: ETag %s, Content-Type %q, metadata %v", aws.ToString(got.ETag), aws.ToString(got.ContentType), got.Metadata)
	}
	// A range across the boundary of parts 1 and 2.
	rng, err := n.S3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", 5*mib-3, 5*mib+2))})
	if err != nil {
		t.Fatal(err)
	}
	section, _ := io.ReadAll(rng.Body)
	rng.Body.Close()
	if !bytes.Equal(section, slices.Concat(p1, p2)[5*mib-3:5*mib+3]) {
		t.Fatalf("range across parts gave %x", section)
	}
}

func TestMultipartUploadWithMinio(t *testing.T) {
	n := startMultipartNode(t, nil)
	data := mpData("minio", 11*mib+5)
	// minio-go splits by PartSize, uploads the parts in parallel and completes.
	info, err := n.Minio.PutObject(t.Context(), mpBucket, "big.bin", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		PartSize: 5 * mib, NumThreads: 3, ContentType: "application/octet-stream",
	})
	if err != nil {
		t.Fatalf("minio PutObject: %v", err)
	}
	want := wantETag(data[:5*mib], data[5*mib:10*mib], data[10*mib:])
	if `"`+info.ETag+`"` != want {
		t.Fatalf("minio reports ETag %s, want %s", info.ETag, want)
	}
	got, _ := n.read(t, "big.bin")
	if !bytes.Equal(got, data) {
		t.Fatal("read back bytes differ from the upload")
	}
	// Its low-level API: a resumable upload driven part by part.
	core := &minio.Core{Client: n.Minio}
	id, err := core.NewMultipartUpload(t.Context(), mpBucket, "core.bin", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []minio.CompletePart
	for i, chunk := range [][]byte{data[:6*mib], data[6*mib:]} {
		p, err := core.PutObjectPart(t.Context(), mpBucket, "core.bin", id, i+1, bytes.NewReader(chunk), int64(len(chunk)), minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatalf("PutObjectPart(%d): %v", i+1, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
	}
	if _, err := core.CompleteMultipartUpload(t.Context(), mpBucket, "core.bin", id, parts, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("minio CompleteMultipartUpload: %v", err)
	}
	if got, _ := n.read(t, "core.bin"); !bytes.Equal(got, data) {
		t.Fatal("core upload reads back different bytes")
	}
}

// putURL sends body with a plain PUT to a presigned URL and returns the answer.
func putURL(t *testing.T, u string, header http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT: %v", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp, answer
}

func TestPresignedPartURLsInParallel(t *testing.T) {
	n := startMultipartNode(t, nil)
	key := "u/9/archive.tar"
	id := n.create(t, key, nil)
	const count = 6
	chunks := make([][]byte, count)
	for i := range chunks {
		size := 5 * mib
		if i == count-1 {
			size = 12345
		}
		chunks[i] = mpData(fmt.Sprint("chunk", i), size)
	}
	parts := make([]types.CompletedPart, count)
	var wg sync.WaitGroup
	// Parts sent in reverse order, several at a time, as a browser or the CLI would.
	for i := count - 1; i >= 0; i-- {
		wg.Go(func() {
			req, err := n.Presign.PresignUploadPart(t.Context(), &s3.UploadPartInput{
				Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)),
			}, s3.WithPresignExpires(15*time.Minute))
			if err != nil {
				t.Errorf("PresignUploadPart(%d): %v", i+1, err)
				return
			}
			resp, body := putURL(t, req.URL, req.SignedHeader, chunks[i])
			if resp.StatusCode != http.StatusOK {
				t.Errorf("PUT part %d: %d %s", i+1, resp.StatusCode, body)
				return
			}
			sum := md5.Sum(chunks[i])
			if etag := resp.Header.Get("ETag"); etag != `"`+hex.EncodeToString(sum[:])+`"` {
				t.Errorf("part %d ETag %s", i+1, etag)
			}
			parts[i] = types.CompletedPart{ETag: aws.String(resp.Header.Get("ETag")), PartNumber: aws.Int32(int32(i + 1))}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	out, err := n.complete(t.Context(), key, id, parts...)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if aws.ToString(out.ETag) != wantETag(chunks...) {
		t.Fatalf("ETag %s, want %s", aws.ToString(out.ETag), wantETag(chunks...))
	}
	if data, _ := n.read(t, key); !bytes.Equal(data, slices.Concat(chunks...)) {
		t.Fatal("read back bytes differ from the parts")
	}
}

// signURL presigns a request for key with sigv4.Signer; every query parameter is signed.
func (n *mpNode) signURL(t *testing.T, method, key string, q url.Values) string {
	t.Helper()
	u, err := url.Parse(n.URL + "/" + mpBucket + "/" + key + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	signed, err := n.Signer.Presign(method, u, nil, time.Now(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return signed.String()
}

// signPartURL presigns a part upload, with extra query parameters.
func (n *mpNode) signPartURL(t *testing.T, key, id string, number int, extra url.Values) string {
	t.Helper()
	q := url.Values{"partNumber": {fmt.Sprint(number)}, "uploadId": {id}}
	for k, vs := range extra {
		q[k] = vs
	}
	return n.signURL(t, http.MethodPut, key, q)
}

func TestPresignedPartExtensions(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "k", nil)
	t.Run("MaxBytes", func(t *testing.T) {
		u := n.signPartURL(t, "k", id, 1, url.Values{extension.MaxBytes: {"1000"}})
		if resp, body := putURL(t, u, nil, mpData("x", 1001)); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("EntityTooLarge")) {
			t.Fatalf("1001 bytes on a 1000-byte part URL: %d %s", resp.StatusCode, body)
		}
		if resp, body := putURL(t, u, nil, mpData("x", 1000)); resp.StatusCode != http.StatusOK {
			t.Fatalf("1000 bytes on a 1000-byte part URL: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("Once", func(t *testing.T) {
		u := n.signPartURL(t, "k", id, 2, url.Values{extension.Once: {"part-2-nonce"}})
		if resp, body := putURL(t, u, nil, []byte("first")); resp.StatusCode != http.StatusOK {
			t.Fatalf("first use: %d %s", resp.StatusCode, body)
		}
		if resp, body := putURL(t, u, nil, []byte("second")); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("second use: %d %s, want 403", resp.StatusCode, body)
		}
	})
	t.Run("ContentMD5", func(t *testing.T) {
		u := n.signPartURL(t, "k", id, 3, nil)
		h := http.Header{"Content-Md5": {"1B2M2Y8AsgTpgAmY7PhCfg=="}} // MD5 of nothing
		if resp, body := putURL(t, u, h, []byte("something")); resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("BadDigest")) {
			t.Fatalf("wrong Content-MD5: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("TamperedUploadID", func(t *testing.T) {
		u := strings.Replace(n.signPartURL(t, "k", id, 4, nil), "uploadId="+id, "uploadId="+strings.Repeat("0", len(id)), 1)
		if resp, body := putURL(t, u, nil, []byte("x")); resp.StatusCode != http.StatusForbidden || !bytes.Contains(body, []byte("SignatureDoesNotMatch")) {
			t.Fatalf("tampered upload id: %d %s", resp.StatusCode, body)
		}
	})
	// The capped part is the one stored; the refused ones left nothing.
	out, err := n.S3.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range out.Parts {
		got = append(got, fmt.Sprintf("%d:%d", aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size)))
	}
	if !slices.Equal(got, []string{"1:1000", "2:5"}) {
		t.Fatalf("parts stored: %v", got)
	}
}

func TestResumedUploadListsPartsThenContinues(t *testing.T) {
	n := startMultipartNode(t, nil)
	key := "resume.bin"
	id := n.create(t, key, nil)
	chunks := [][]byte{mpData("a", 5*mib), mpData("b", 5*mib), mpData("c", 5*mib), mpData("d", 77)}
	n.uploadPart(t, key, id, 1, chunks[0])
	n.uploadPart(t, key, id, 2, chunks[1])
	// The client lost its state: it finds the upload, then its parts, one per page.
	ups, err := n.S3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket), Prefix: aws.String("resume")})
	if err != nil || len(ups.Uploads) != 1 || aws.ToString(ups.Uploads[0].UploadId) != id {
		t.Fatalf("ListMultipartUploads = %+v, %v", ups, err)
	}
	var done []types.CompletedPart
	pager := s3.NewListPartsPaginator(n.S3, &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id), MaxParts: aws.Int32(1)})
	pages := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		pages++
		for _, p := range page.Parts {
			done = append(done, types.CompletedPart{ETag: p.ETag, PartNumber: p.PartNumber})
		}
	}
	if pages < 2 || len(done) != 2 {
		t.Fatalf("%d pages listed %d parts, want 2 parts on 2 or more pages", pages, len(done))
	}
	for i := len(done); i < len(chunks); i++ {
		done = append(done, n.uploadPart(t, key, id, int32(i+1), chunks[i]))
	}
	if _, err := n.complete(t.Context(), key, id, done...); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if data, _ := n.read(t, key); !bytes.Equal(data, slices.Concat(chunks...)) {
		t.Fatal("resumed upload reads back different bytes")
	}
}

func TestAbortedUploadIsGone(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "k", nil)
	part := n.uploadPart(t, "k", id, 1, mpData("x", 1000))
	if _, err := n.S3.AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id)}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	_, err := n.S3.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id)})
	if s3Code(err) != "NoSuchUpload" {
		t.Fatalf("ListParts after abort: %v, want NoSuchUpload", err)
	}
	if _, err := n.complete(t.Context(), "k", id, part); s3Code(err) != "NoSuchUpload" {
		t.Fatalf("Complete after abort: %v, want NoSuchUpload", err)
	}
	_, err = n.S3.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id), PartNumber: aws.Int32(2), Body: strings.NewReader("x")})
	if s3Code(err) != "NoSuchUpload" {
		t.Fatalf("UploadPart after abort: %v, want NoSuchUpload", err)
	}
	if _, err := n.S3.AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id)}); s3Code(err) != "NoSuchUpload" {
		t.Fatalf("second abort: %v, want NoSuchUpload", err)
	}
}
