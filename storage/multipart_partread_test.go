package storage_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"presign/extension"
)

// TestReadOnePartOfAMultipartObject: GetObject and HeadObject with partNumber answer the n-th
// part of the completion (206, its Content-Range, the whole object's ETag and its part count),
// as the SDKs' part-wise downloaders expect; numbers past the last part, and a Range beside a
// partNumber, are refused as S3 refuses them.
func TestReadOnePartOfAMultipartObject(t *testing.T) {
	n := startMultipartNode(t, nil)
	ctx := t.Context()
	// Part numbers with gaps: reads count the parts of the completion, 1 to 3.
	parts := [][]byte{mpData("p1", 5*mib), mpData("p2", 5*mib+17), mpData("p3", 1234)}
	id := n.create(t, "video.mp4", nil)
	done := n.uploadPart(t, "video.mp4", id, 1, parts[0])
	done3 := n.uploadPart(t, "video.mp4", id, 3, parts[1])
	done7 := n.uploadPart(t, "video.mp4", id, 7, parts[2])
	if _, err := n.complete(ctx, "video.mp4", id, done, done3, done7); err != nil {
		t.Fatal(err)
	}
	var off int64
	for i, want := range parts {
		num := int32(i + 1)
		out, err := n.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("video.mp4"), PartNumber: aws.Int32(num)})
		if err != nil {
			t.Fatalf("GetObject part %d: %v", num, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("part %d: %d bytes that differ from the %d uploaded", num, len(got), len(want))
		}
		total := int64(5*mib + 5*mib + 17 + 1234)
		if cr := fmt.Sprintf("bytes %d-%d/%d", off, off+int64(len(want))-1, total); aws.ToString(out.ContentRange) != cr {
			t.Fatalf("part %d: Content-Range %q, want %q", num, aws.ToString(out.ContentRange), cr)
		}
		if aws.ToInt32(out.PartsCount) != 3 || aws.ToString(out.ETag) != wantETag(parts...) {
			t.Fatalf("part %d: PartsCount %d, ETag %s; want 3 and the object's %s", num, aws.ToInt32(out.PartsCount), aws.ToString(out.ETag), wantETag(parts...))
		}
		head, err := n.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("video.mp4"), PartNumber: aws.Int32(num)})
		if err != nil {
			t.Fatalf("HeadObject part %d: %v", num, err)
		}
		if aws.ToInt64(head.ContentLength) != int64(len(want)) || aws.ToInt32(head.PartsCount) != 3 {
			t.Fatalf("HeadObject part %d: length %d, parts %d; want %d and 3", num, aws.ToInt64(head.ContentLength), aws.ToInt32(head.PartsCount), len(want))
		}
		off += int64(len(want))
	}

	// minio-go asks the same way.
	obj, err := n.Minio.GetObject(ctx, mpBucket, "video.mp4", minio.GetObjectOptions{PartNumber: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || !bytes.Equal(got, parts[1]) {
		t.Fatalf("minio-go part 2: %d bytes, %v", len(got), err)
	}

	_, err = n.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("video.mp4"), PartNumber: aws.Int32(4)})
	if s3Code(err) != "InvalidPartNumber" {
		t.Fatalf("part 4 of 3: %v, want InvalidPartNumber", err)
	}
	_, err = n.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("video.mp4"), PartNumber: aws.Int32(1), Range: aws.String("bytes=0-9")})
	if s3Code(err) != "InvalidRequest" {
		t.Fatalf("a Range beside a partNumber: %v, want InvalidRequest", err)
	}
}

// TestReadPartOneOfASinglePutObject: an object of one PUT is its own part 1 (a plain 200, no
// part count); part 2 does not exist; a partNumber that is no number in 1..10000 is refused.
func TestReadPartOneOfASinglePutObject(t *testing.T) {
	n := startMultipartNode(t, nil)
	ctx := t.Context()
	data := mpData("single", 300<<10)
	if _, err := n.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("one"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	out, err := n.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("one"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, data) || out.PartsCount != nil || out.ContentRange != nil {
		t.Fatalf("part 1 of a single PUT: %d bytes, parts %v, range %v", len(got), out.PartsCount, out.ContentRange)
	}
	_, err = n.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("one"), PartNumber: aws.Int32(2)})
	if s3Code(err) != "InvalidPartNumber" {
		t.Fatalf("part 2 of a single PUT: %v, want InvalidPartNumber", err)
	}
	for _, bad := range []string{"0", "10001", "x", ""} {
		u := n.signURL(t, http.MethodGet, "one", url.Values{"partNumber": {bad}})
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>InvalidArgument</Code>") {
			t.Fatalf("partNumber=%q: %d %s", bad, resp.StatusCode, body)
		}
	}
	// A read refused for its partNumber gives its single-use URL back (releaseNonce).
	for _, q := range []url.Values{{"partNumber": {"0"}}, {"partNumber": {"1"}}} {
		q.Set(extension.Once, "nonce-of-a-bad-read")
		u := n.signURL(t, http.MethodGet, "one", q)
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if q.Get("partNumber") == "1" {
			req.Header.Set("Range", "bytes=0-9") // a Range beside a partNumber
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad read %v: %s, want 400", q, resp.Status)
		}
	}
	for _, want := range []int{http.StatusOK, http.StatusForbidden} {
		q := url.Values{extension.Once: {"nonce-of-a-bad-read"}}
		resp, err := http.Get(n.signURL(t, http.MethodGet, "one", q))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("the once-URL after the refused reads: %s, want %d", resp.Status, want)
		}
	}
}
