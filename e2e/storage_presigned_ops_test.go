package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestEveryOperationPresigned performs each S3 operation of the node through a presigned URL
// used by a plain HTTP client: the object operations with URLs from aws-sdk-go-v2's presign
// client and minio-go, the rest with sigv4.Signer (headers that the operation needs, such as
// x-amz-copy-source and Content-MD5, are signed into the URL).
func TestEveryOperationPresigned(t *testing.T) { forEachBackend(t, testEveryOperationPresigned) }

func testEveryOperationPresigned(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	ctx := context.Background()
	pc := s3.NewPresignClient(awsClient(ep))
	mc := minioClient(t, ep)
	now := time.Now()
	mine := func(method, path string, q url.Values, h http.Header) string {
		return presignURL(t, method, ep, path, q, h, now, 10*time.Minute)
	}
	expect := func(name string, status int, want int) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: status %d, want %d", name, status, want)
		}
	}

	st, code, _ := httpDo(t, http.MethodPut, mine(http.MethodPut, "/presigned", nil, nil), nil, nil)
	expect("CreateBucket "+code, st, 200)
	hb, err := pc.PresignHeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("presigned")})
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ = httpDo(t, hb.Method, hb.URL, hb.SignedHeader, nil)
	expect("HeadBucket", st, 200)
	st, _, b := httpDo(t, http.MethodGet, mine(http.MethodGet, "/", nil, nil), nil, nil)
	expect("ListBuckets", st, 200)
	if !bytes.Contains(b, []byte("<Name>presigned</Name>")) {
		t.Fatalf("ListBuckets: %s", b)
	}

	body := []byte("presigned body")
	put, _ := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("presigned"), Key: aws.String("a/obj"), ContentType: aws.String("text/plain")})
	st, code, _ = httpDo(t, put.Method, put.URL, put.SignedHeader, bytes.NewReader(body))
	expect("PutObject (aws) "+code, st, 200)
	mput, _ := mc.PresignedPutObject(ctx, "presigned", "a/obj2", time.Hour)
	st, code, _ = httpDo(t, http.MethodPut, mput.String(), nil, bytes.NewReader(body))
	expect("PutObject (minio) "+code, st, 200)

	get, _ := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presigned"), Key: aws.String("a/obj"), ResponseContentType: aws.String("application/x-download")})
	req, _ := http.NewRequest(get.Method, get.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-download" {
		t.Fatalf("GetObject with response-content-type: %v %v", err, resp.Header)
	}
	resp.Body.Close()
	mget, _ := mc.PresignedGetObject(ctx, "presigned", "a/obj2", time.Hour, url.Values{"response-content-disposition": {`attachment; filename="x.txt"`}})
	st, _, got := httpDo(t, http.MethodGet, mget.String(), nil, nil)
	if st != 200 || !bytes.Equal(got, body) {
		t.Fatalf("GetObject (minio): %d", st)
	}
	head, _ := pc.PresignHeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("presigned"), Key: aws.String("a/obj")})
	st, _, _ = httpDo(t, head.Method, head.URL, head.SignedHeader, nil)
	expect("HeadObject (aws)", st, 200)
	mhead, _ := mc.PresignedHeadObject(ctx, "presigned", "a/obj", time.Hour, nil)
	st, _, _ = httpDo(t, http.MethodHead, mhead.String(), nil, nil)
	expect("HeadObject (minio)", st, 200)

	copyHdr := http.Header{"X-Amz-Copy-Source": {"/presigned/a/obj"}}
	st, code, _ = httpDo(t, http.MethodPut, mine(http.MethodPut, "/presigned/b/copy", nil, copyHdr), copyHdr, nil)
	expect("CopyObject "+code, st, 200)

	list := mine(http.MethodGet, "/presigned", url.Values{"list-type": {"2"}, "prefix": {"a/"}}, nil)
	st, _, b = httpDo(t, http.MethodGet, list, nil, nil)
	if st != 200 || !bytes.Contains(b, []byte("<Key>a/obj</Key>")) || !bytes.Contains(b, []byte("<Key>a/obj2</Key>")) || bytes.Contains(b, []byte("b/copy")) {
		t.Fatalf("ListObjectsV2: %d %s", st, b)
	}
	mlist, err := mc.Presign(ctx, http.MethodGet, "presigned", "", time.Hour, url.Values{"list-type": {"2"}, "delimiter": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _, b = httpDo(t, http.MethodGet, mlist.String(), nil, nil)
	if st != 200 || !bytes.Contains(b, []byte("<Prefix>a/</Prefix>")) {
		t.Fatalf("ListObjectsV2 (minio) with delimiter: %d %s", st, b)
	}
	st, _, b = httpDo(t, http.MethodGet, mine(http.MethodGet, "/presigned", url.Values{"location": {""}}, nil), nil, nil)
	if st != 200 || !bytes.Contains(b, []byte("LocationConstraint")) {
		t.Fatalf("GetBucketLocation: %d %s", st, b)
	}

	del, _ := pc.PresignDeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("presigned"), Key: aws.String("b/copy")})
	st, _, _ = httpDo(t, del.Method, del.URL, del.SignedHeader, nil)
	expect("DeleteObject", st, 204)
	doc := []byte(`<Delete><Object><Key>a/obj</Key></Object><Object><Key>a/obj2</Key></Object></Delete>`)
	sum := md5.Sum(doc)
	mdHdr := http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}
	st, _, b = httpDo(t, http.MethodPost, mine(http.MethodPost, "/presigned", url.Values{"delete": {""}}, mdHdr), mdHdr, bytes.NewReader(doc))
	if st != 200 || bytes.Count(b, []byte("<Deleted>")) != 2 {
		t.Fatalf("DeleteObjects: %d %s", st, b)
	}
	st, code, _ = httpDo(t, http.MethodDelete, mine(http.MethodDelete, "/presigned", nil, nil), nil, nil)
	expect("DeleteBucket "+code, st, 204)
}

// TestVirtualHostAddressing: with --domain, the bucket may be named in the host.
func TestVirtualHostAddressing(t *testing.T) { forEachBackend(t, testVirtualHostAddressing) }

func testVirtualHostAddressing(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t, "--domain", "s3.presign.test")
	ep := node.url("storage node")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ep, "http://"))
	// Every name resolves to the node, as DNS would for *.s3.presign.test.
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
	}}}
	c := s3.New(s3.Options{
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint: aws.String(fmt.Sprintf("http://s3.presign.test:%s", port)),
		HTTPClient:   client,
	})
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vhost")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/k"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatal(err)
	}
	// The same object by path style.
	g, err := awsClient(ep).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("dir/k")})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, g.Body); string(got) != "virtual" {
		t.Fatalf("got %q", got)
	}
}
