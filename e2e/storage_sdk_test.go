package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
)

// apiCode returns the S3 error code of an aws-sdk-go-v2 error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func readAll(t *testing.T, r io.ReadCloser) []byte {
	t.Helper()
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStorageNodeWithAWSSDK drives every S3 operation of the node with aws-sdk-go-v2 in its
// default settings (path style, checksums when supported).
func TestStorageNodeWithAWSSDK(t *testing.T) { forEachBackend(t, testStorageNodeWithAWSSDK) }

func testStorageNodeWithAWSSDK(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	c := awsClient(node.url("storage node"))
	ctx := context.Background()
	bucket := aws.String("sdk-bucket")

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); apiCode(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("second CreateBucket: %v", err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")}); apiCode(err) != "InvalidBucketName" {
		t.Fatalf("bad bucket name: %v", err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("no-such-bucket")}); err == nil {
		t.Fatal("HeadBucket of a missing bucket succeeded")
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || *lb.Buckets[0].Name != "sdk-bucket" {
		t.Fatalf("ListBuckets: %v %+v", err, lb)
	}

	body := bytes.Repeat([]byte("presign "), 100_000)
	sum := md5.Sum(body)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: bucket, Key: aws.String("docs/report.txt"), Body: bytes.NewReader(body),
		ContentType: aws.String("text/plain"), ContentEncoding: aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="report.txt"`), ContentLanguage: aws.String("en"),
		CacheControl: aws.String("max-age=60"), Metadata: map[string]string{"owner": "alice", "Project": "Presign"},
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`"%x"`, sum); *put.ETag != want {
		t.Fatalf("ETag %s, want the MD5 %s", *put.ETag, want)
	}

	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("docs/report.txt"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, get.Body); !bytes.Equal(got, body) {
		t.Fatal("GetObject body differs")
	}
	if *get.ContentType != "text/plain" || *get.ContentDisposition != `attachment; filename="report.txt"` || *get.ContentLanguage != "en" ||
		*get.CacheControl != "max-age=60" || get.Metadata["owner"] != "alice" || get.Metadata["project"] != "Presign" || get.ChecksumCRC32C == nil {
		t.Fatalf("stored headers not returned: %+v", get)
	}

	for _, tc := range []struct{ rng, want, cr string }{
		{"bytes=0-9", string(body[:10]), fmt.Sprintf("bytes 0-9/%d", len(body))},
		{"bytes=799990-", string(body[799990:]), fmt.Sprintf("bytes 799990-799999/%d", len(body))},
		{"bytes=-5", string(body[len(body)-5:]), fmt.Sprintf("bytes 799995-799999/%d", len(body))},
		{"bytes=10-99999999", string(body[10:]), fmt.Sprintf("bytes 10-799999/%d", len(body))},
	} {
		r, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("docs/report.txt"), Range: aws.String(tc.rng)})
		if err != nil {
			t.Fatalf("%s: %v", tc.rng, err)
		}
		if got := readAll(t, r.Body); string(got) != tc.want || *r.ContentRange != tc.cr {
			t.Fatalf("%s: %d bytes, Content-Range %s", tc.rng, len(got), *r.ContentRange)
		}
	}
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("docs/report.txt"), Range: aws.String("bytes=900000-")}); apiCode(err) != "InvalidRange" {
		t.Fatalf("unsatisfiable range: %v", err)
	}

	etag := *put.ETag
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		in   s3.GetObjectInput
		code string
	}{
		{"If-Match true", s3.GetObjectInput{IfMatch: aws.String(etag)}, ""},
		{"If-Match false", s3.GetObjectInput{IfMatch: aws.String(`"0000"`)}, "PreconditionFailed"},
		{"If-None-Match true", s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, "NotModified"},
		{"If-None-Match false", s3.GetObjectInput{IfNoneMatch: aws.String(`"0000"`)}, ""},
		{"If-Modified-Since future", s3.GetObjectInput{IfModifiedSince: &future}, "NotModified"},
		{"If-Modified-Since past", s3.GetObjectInput{IfModifiedSince: &past}, ""},
		{"If-Unmodified-Since past", s3.GetObjectInput{IfUnmodifiedSince: &past}, "PreconditionFailed"},
		{"If-Match true beats If-Unmodified-Since false", s3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: &past}, ""},
	} {
		in := tc.in
		in.Bucket, in.Key = bucket, aws.String("docs/report.txt")
		r, err := c.GetObject(ctx, &in)
		if err == nil {
			r.Body.Close()
		}
		code := apiCode(err)
		if code == "" && err != nil && strings.Contains(err.Error(), "304") {
			code = "NotModified"
		}
		if code != tc.code {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.code)
		}
	}

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("docs/report.txt")})
	if err != nil || *head.ContentLength != int64(len(body)) || *head.ETag != etag {
		t.Fatalf("HeadObject: %v %+v", err, head)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("nope")}); err == nil {
		t.Fatal("HeadObject of a missing key succeeded")
	}

	// Conditional write: If-None-Match: * refuses to overwrite.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("docs/report.txt"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")})
	if apiCode(err) != "PreconditionFailed" {
		t.Fatalf("If-None-Match: * over an existing object: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("docs/new.txt"), Body: strings.NewReader("new"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("If-None-Match: * on a new key: %v", err)
	}

	// Digests are verified.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("docs/bad.txt"), Body: strings.NewReader("data"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 16)))})
	if apiCode(err) != "BadDigest" {
		t.Fatalf("wrong Content-MD5: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("docs/bad.txt"), Body: strings.NewReader("data"),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32)))})
	if apiCode(err) != "BadDigest" {
		t.Fatalf("wrong x-amz-checksum-sha256: %v", err)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("docs/bad.txt")}); err == nil {
		t.Fatal("an object with a bad digest was stored")
	}

	// Copy: metadata kept, then replaced.
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copies/one.txt"), CopySource: aws.String("sdk-bucket/docs/report.txt")})
	if err != nil || *cp.CopyObjectResult.ETag != etag {
		t.Fatalf("CopyObject: %v", err)
	}
	ho, _ := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("copies/one.txt")})
	if ho.Metadata["owner"] != "alice" || *ho.ContentType != "text/plain" {
		t.Fatalf("copied metadata: %+v", ho.Metadata)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("copies/two.txt"), CopySource: aws.String("sdk-bucket/docs/report.txt"),
		MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("application/x-new"), Metadata: map[string]string{"owner": "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	ho, _ = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("copies/two.txt")})
	if ho.Metadata["owner"] != "bob" || *ho.ContentType != "application/x-new" {
		t.Fatalf("replaced metadata: %+v", ho.Metadata)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("c"), CopySource: aws.String("sdk-bucket/missing")}); apiCode(err) != "NoSuchKey" {
		t.Fatalf("copy of a missing key: %v", err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: bucket, Key: aws.String("c"), CopySource: aws.String("sdk-bucket/docs/report.txt"), CopySourceIfMatch: aws.String(`"x"`)})
	if apiCode(err) != "PreconditionFailed" {
		t.Fatalf("copy with a false x-amz-copy-source-if-match: %v", err)
	}

	// Listing.
	for _, k := range []string{"a", "a/b", "a/b/c", "a b", "a+b", "b/1", "b/2", "ünï"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("list/" + k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	var prefixes []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("list/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, *cp.Prefix)
		}
	}
	if want := []string{"list/a", "list/a b", "list/a+b", "list/ünï"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	if want := []string{"list/a/", "list/b/"}; !slices.Equal(prefixes, want) {
		t.Fatalf("prefixes %q, want %q", prefixes, want)
	}
	lo, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket, Prefix: aws.String("list/"), StartAfter: aws.String("list/a/b"), EncodingType: types.EncodingTypeUrl})
	if err != nil {
		t.Fatal(err)
	}
	var after []string
	for _, o := range lo.Contents {
		k, err := url.QueryUnescape(*o.Key) // aws-sdk-go-v2 leaves encoding-type=url keys encoded
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, k)
	}
	if want := []string{"list/a/b/c", "list/b/1", "list/b/2", "list/ünï"}; !slices.Equal(after, want) {
		t.Fatalf("start-after: %q, want %q", after, want)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: bucket, Prefix: aws.String("list/b/")})
	if err != nil || len(v1.Contents) != 2 {
		t.Fatalf("ListObjects (v1): %v %+v", err, v1)
	}

	// Deletes.
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); apiCode(err) != "BucketNotEmpty" {
		t.Fatalf("DeleteBucket of a full bucket: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("docs/new.txt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("docs/new.txt")}); err != nil {
		t.Fatalf("deleting a missing key must succeed as in S3: %v", err)
	}
	all, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket})
	var ids []types.ObjectIdentifier
	for _, o := range all.Contents {
		ids = append(ids, types.ObjectIdentifier{Key: o.Key})
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: bucket, Delete: &types.Delete{Objects: ids}})
	if err != nil || len(del.Deleted) != len(ids) || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects: %v, %d deleted of %d, errors %+v", err, len(del.Deleted), len(ids), del.Errors)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: bucket}); apiCode(err) != "NoSuchBucket" {
		t.Fatalf("listing a deleted bucket: %v", err)
	}
}

// TestStorageNodeWithMinioGo drives the node with minio-go: buckets, streaming-signed puts
// (with and without trailing checksums), ranged gets, stat, copy, listing, removal.
func TestStorageNodeWithMinioGo(t *testing.T) { forEachBackend(t, testStorageNodeWithMinioGo) }

func testStorageNodeWithMinioGo(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	mc := minioClient(t, node.url("storage node"))
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, "minio-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := mc.BucketExists(ctx, "minio-bucket"); !ok || err != nil {
		t.Fatalf("BucketExists: %v %v", ok, err)
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	for i, opts := range []minio.PutObjectOptions{
		{ContentType: "application/octet-stream", UserMetadata: map[string]string{"Color": "blue"}},
		{ContentType: "application/octet-stream", Checksum: minio.ChecksumCRC32C},
		{ContentType: "application/octet-stream", SendContentMd5: true},
	} {
		key := fmt.Sprintf("obj-%d", i)
		info, err := mc.PutObject(ctx, "minio-bucket", key, bytes.NewReader(body), int64(len(body)), opts)
		if err != nil {
			t.Fatalf("PutObject %d: %v", i, err)
		}
		if info.Size != int64(len(body)) {
			t.Fatalf("size %d", info.Size)
		}
		st, err := mc.StatObject(ctx, "minio-bucket", key, minio.StatObjectOptions{})
		if err != nil || st.Size != int64(len(body)) {
			t.Fatalf("StatObject: %v", err)
		}
		o, err := mc.GetObject(ctx, "minio-bucket", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("GetObject %d: %v", i, err)
		}
	}
	st, _ := mc.StatObject(ctx, "minio-bucket", "obj-0", minio.StatObjectOptions{})
	if st.UserMetadata["Color"] != "blue" {
		t.Fatalf("user metadata: %+v", st.UserMetadata)
	}
	ro := minio.GetObjectOptions{}
	ro.SetRange(100, 199)
	o, _ := mc.GetObject(ctx, "minio-bucket", "obj-0", ro)
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, body[100:200]) {
		t.Fatalf("ranged GetObject: %v", err)
	}
	if _, err := mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "minio-bucket", Object: "copy"}, minio.CopySrcOptions{Bucket: "minio-bucket", Object: "obj-1"}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for oi := range mc.ListObjects(ctx, "minio-bucket", minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		names = append(names, oi.Key)
	}
	if want := []string{"copy", "obj-0", "obj-1", "obj-2"}; !slices.Equal(names, want) {
		t.Fatalf("listed %q, want %q", names, want)
	}
	objs := make(chan minio.ObjectInfo, len(names))
	for _, n := range names {
		objs <- minio.ObjectInfo{Key: n}
	}
	close(objs)
	for e := range mc.RemoveObjects(ctx, "minio-bucket", objs, minio.RemoveObjectsOptions{}) {
		t.Fatalf("RemoveObjects: %v", e.Err)
	}
	if err := mc.RemoveBucket(ctx, "minio-bucket"); err != nil {
		t.Fatal(err)
	}
}
