package storage_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/events/outbox"
	"presign/storage"
)

func TestCompleteRefusesBadPartLists(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "k", nil)
	small := n.uploadPart(t, "k", id, 1, mpData("small", mib))
	big := n.uploadPart(t, "k", id, 2, mpData("big", 5*mib))
	last := n.uploadPart(t, "k", id, 3, mpData("last", 10))
	for _, tc := range []struct {
		name  string
		parts []types.CompletedPart
		code  string
	}{
		{"WrongOrder", []types.CompletedPart{big, small}, "InvalidPartOrder"},
		{"SmallPartNotLast", []types.CompletedPart{small, big, last}, "EntityTooSmall"},
		{"UnknownETag", []types.CompletedPart{{PartNumber: aws.Int32(2), ETag: aws.String(`"00000000000000000000000000000000"`)}}, "InvalidPart"},
		{"PartNeverUploaded", []types.CompletedPart{big, {PartNumber: aws.Int32(4), ETag: last.ETag}}, "InvalidPart"},
		{"NoParts", nil, "MalformedXML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.complete(t.Context(), "k", id, tc.parts...); s3Code(err) != tc.code {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
			if _, err := n.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("k")}); err == nil {
				t.Fatal("a refused completion made the object")
			}
		})
	}
	if _, err := n.complete(t.Context(), "k", "0000000000000000000000000000000000000000", big); s3Code(err) != "NoSuchUpload" {
		t.Fatalf("unknown upload: %v, want NoSuchUpload", err)
	}
	// The refusals changed nothing: the small part as the last one is fine.
	if _, err := n.complete(t.Context(), "k", id, big, last); err != nil {
		t.Fatalf("completion after refusals: %v", err)
	}
}

// TestCompleteRefusesMalformedObjectChecksum: a completion whose x-amz-checksum-* header is
// no checksum of its algorithm (empty, not base64, the wrong length, a bad part count) is
// refused with InvalidDigest (a PUT answers such a header BadDigest); a well-formed value that
// the node did not compute (the upload has no checksum) cannot be verified and is refused
// with BadDigest. Neither changes anything: the upload then completes.
func TestCompleteRefusesMalformedObjectChecksum(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "k", nil)
	part := n.uploadPart(t, "k", id, 1, mpData("only", 1000))
	for _, tc := range []struct{ name, value, code string }{
		{"Empty", "", "InvalidDigest"},
		{"NotBase64", "not base64!", "InvalidDigest"},
		{"WrongLength", "AAAA", "InvalidDigest"},
		{"PartCountZero", "AAAAAA==-0", "InvalidDigest"},
		{"PartCountNotANumber", "AAAAAA==-x", "InvalidDigest"},
		{"NotComputed", "AAAAAA==", "BadDigest"},
		{"NotComputedWithPartCount", "AAAAAA==-1", "BadDigest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.S3.CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{
				Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part}},
			}, s3.WithAPIOptions(smithyhttp.SetHeaderValue("X-Amz-Checksum-Crc32", tc.value)))
			if s3Code(err) != tc.code {
				t.Fatalf("x-amz-checksum-crc32 %q: %v, want %s", tc.value, err, tc.code)
			}
			if _, err := n.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("k")}); err == nil {
				t.Fatal("a refused completion made the object")
			}
		})
	}
	if _, err := n.complete(t.Context(), "k", id, part); err != nil {
		t.Fatalf("completion after refusals: %v", err)
	}
}

func TestRetriedCompleteAnswersTheSame(t *testing.T) {
	events, err := outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { events.Close() })
	n := startMultipartNode(t, func(c *storage.Config) { c.Events = events })
	id := n.create(t, "k", nil)
	parts := []types.CompletedPart{n.uploadPart(t, "k", id, 1, mpData("1", 5*mib)), n.uploadPart(t, "k", id, 2, mpData("2", 3))}
	first, err := n.complete(t.Context(), "k", id, parts...)
	if err != nil {
		t.Fatal(err)
	}
	if events.Len() != 1 {
		t.Fatalf("the completion recorded %d events, want 1", events.Len())
	}
	again, err := n.complete(t.Context(), "k", id, parts...)
	if err != nil || aws.ToString(again.ETag) != aws.ToString(first.ETag) {
		t.Fatalf("retried completion: %v, ETag %s; want %s", err, aws.ToString(again.ETag), aws.ToString(first.ETag))
	}
	// The retry's event is the first one's (same sequencer): the log keeps one.
	if events.Len() != 1 {
		t.Fatalf("after a retried completion the log holds %d events, want 1", events.Len())
	}
	if _, err := n.complete(t.Context(), "k", id, parts[0]); s3Code(err) != "NoSuchUpload" {
		t.Fatalf("completion with other parts after success: %v, want NoSuchUpload", err)
	}
}

func TestCompleteIfNoneMatchRefusesToOverwrite(t *testing.T) {
	n := startMultipartNode(t, nil)
	if _, err := n.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("k"), Body: strings.NewReader("original")}); err != nil {
		t.Fatal(err)
	}
	id := n.create(t, "k", nil)
	part := n.uploadPart(t, "k", id, 1, []byte("replacement"))
	_, err := n.S3.CompleteMultipartUpload(t.Context(), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(mpBucket), Key: aws.String("k"), UploadId: aws.String(id), IfNoneMatch: aws.String("*"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{part}},
	})
	if s3Code(err) != "PreconditionFailed" {
		t.Fatalf("If-None-Match: * over an object: %v, want PreconditionFailed", err)
	}
	if data, _ := n.read(t, "k"); string(data) != "original" {
		t.Fatalf("object now holds %q", data)
	}
	if _, err := n.complete(t.Context(), "k", id, part); err != nil {
		t.Fatalf("the upload is intact after the refusal: %v", err)
	}
}

func TestListMultipartUploadsWithSDK(t *testing.T) {
	n := startMultipartNode(t, nil)
	want := map[string]string{}
	for _, key := range []string{"u/1/a", "u/1/b", "u/2/a", "v"} {
		want[key] = n.create(t, key, nil)
	}
	var keys []string
	pager := s3.NewListMultipartUploadsPaginator(n.S3, &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket), MaxUploads: aws.Int32(1)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListMultipartUploads: %v", err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.UploadId) != want[aws.ToString(u.Key)] || u.Initiated == nil {
				t.Fatalf("upload %+v", u)
			}
			keys = append(keys, aws.ToString(u.Key))
		}
	}
	if !slices.Equal(keys, []string{"u/1/a", "u/1/b", "u/2/a", "v"}) {
		t.Fatalf("paged listing: %q", keys)
	}
	out, err := n.S3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket), Prefix: aws.String("u/"), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	if len(out.Uploads) != 0 || !slices.Equal(prefixes, []string{"u/1/", "u/2/"}) {
		t.Fatalf("prefix u/ delimiter /: uploads %v, prefixes %q", out.Uploads, prefixes)
	}
	// minio-go lists them too.
	var fromMinio []string
	for u := range n.Minio.ListIncompleteUploads(t.Context(), mpBucket, "u/1/", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		fromMinio = append(fromMinio, u.Key)
	}
	if !slices.Equal(fromMinio, []string{"u/1/a", "u/1/b"}) {
		t.Fatalf("minio ListIncompleteUploads: %q", fromMinio)
	}
}

func TestUploadPartCopyWholeAndRange(t *testing.T) {
	n := startMultipartNode(t, nil)
	src := mpData("source", 6*mib)
	if _, err := n.S3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("src"), Body: bytes.NewReader(src)}); err != nil {
		t.Fatal(err)
	}
	id := n.create(t, "dst", nil)
	copyPart := func(number int32, rng string) types.CompletedPart {
		t.Helper()
		in := &s3.UploadPartCopyInput{
			Bucket: aws.String(mpBucket), Key: aws.String("dst"), UploadId: aws.String(id), PartNumber: aws.Int32(number),
			CopySource: aws.String(mpBucket + "/src"),
		}
		if rng != "" {
			in.CopySourceRange = aws.String(rng)
		}
		out, err := n.S3.UploadPartCopy(t.Context(), in)
		if err != nil {
			t.Fatalf("UploadPartCopy(%d, %q): %v", number, rng, err)
		}
		return types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(number)}
	}
	whole := copyPart(1, "")
	section := copyPart(2, "bytes=100-1099")
	if _, err := n.S3.UploadPartCopy(t.Context(), &s3.UploadPartCopyInput{
		Bucket: aws.String(mpBucket), Key: aws.String("dst"), UploadId: aws.String(id), PartNumber: aws.Int32(3),
		CopySource: aws.String(mpBucket + "/src"), CopySourceRange: aws.String(fmt.Sprintf("bytes=0-%d", len(src))),
	}); s3Code(err) != "InvalidArgument" {
		t.Fatalf("range past the source's end: %v, want InvalidArgument", err)
	}
	if _, err := n.complete(t.Context(), "dst", id, whole, section); err != nil {
		t.Fatal(err)
	}
	if data, _ := n.read(t, "dst"); !bytes.Equal(data, slices.Concat(src, src[100:1100])) {
		t.Fatal("copied parts read back differently")
	}
}

func TestMultipartChecksumsWithAWSSDK(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "sum", &s3.CreateMultipartUploadInput{ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	chunks := [][]byte{mpData("a", 5*mib), mpData("b", 4321)}
	var parts []types.CompletedPart
	var concat []byte
	for i, c := range chunks {
		out, err := n.S3.UploadPart(t.Context(), &s3.UploadPartInput{
			Bucket: aws.String(mpBucket), Key: aws.String("sum"), UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)),
			Body: bytes.NewReader(c), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		if err != nil {
			t.Fatalf("UploadPart(%d): %v", i+1, err)
		}
		sum := crc32.Checksum(c, crc32.MakeTable(crc32.Castagnoli))
		raw := []byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}
		if got := aws.ToString(out.ChecksumCRC32C); got != base64.StdEncoding.EncodeToString(raw) {
			t.Fatalf("part %d CRC32C = %q", i+1, got)
		}
		concat = append(concat, raw...)
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32C: out.ChecksumCRC32C})
	}
	out, err := n.complete(t.Context(), "sum", id, parts...)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	sum := crc32.Checksum(concat, crc32.MakeTable(crc32.Castagnoli))
	want := base64.StdEncoding.EncodeToString([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}) + "-2"
	if aws.ToString(out.ChecksumCRC32C) != want || out.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("completion checksum %q type %q, want %q COMPOSITE", aws.ToString(out.ChecksumCRC32C), out.ChecksumType, want)
	}
	head, err := n.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("sum"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumCRC32C) != want {
		t.Fatalf("HeadObject checksum %q, %v; want %q", aws.ToString(head.ChecksumCRC32C), err, want)
	}

	// A part whose declared checksum is wrong is refused and not stored.
	id2 := n.create(t, "bad", &s3.CreateMultipartUploadInput{ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	_, err = n.S3.UploadPart(t.Context(), &s3.UploadPartInput{
		Bucket: aws.String(mpBucket), Key: aws.String("bad"), UploadId: aws.String(id2), PartNumber: aws.Int32(1),
		Body: strings.NewReader("payload"), ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 32))),
	})
	if s3Code(err) != "BadDigest" {
		t.Fatalf("part with a wrong SHA256: %v, want BadDigest", err)
	}
	lp, err := n.S3.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String("bad"), UploadId: aws.String(id2)})
	if err != nil || len(lp.Parts) != 0 || lp.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 {
		t.Fatalf("ListParts after a refused part: %+v, %v", lp, err)
	}
}

func TestMultipartChecksumsWithMinio(t *testing.T) {
	n := startMultipartNode(t, nil)
	mc, err := minio.New(strings.TrimPrefix(n.URL, "http://"), &minio.Options{
		Creds: miniocreds.NewStaticV4(mpAccessKey, mpSecretKey, ""), Region: mpRegion, BucketLookup: minio.BucketLookupPath,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	data := mpData("minio-sum", 11*mib)
	for _, sum := range []minio.ChecksumType{minio.ChecksumCRC32C, minio.ChecksumFullObjectCRC32, minio.ChecksumSHA256} {
		t.Run(sum.String(), func(t *testing.T) {
			key := "sum-" + sum.String()
			// minio-go checks the checksum the node reports against its own.
			info, err := mc.PutObject(t.Context(), mpBucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
				PartSize: 5 * mib, Checksum: sum,
			})
			if err != nil {
				t.Fatalf("minio PutObject with %s: %v", sum, err)
			}
			if !strings.HasSuffix(info.ETag, "-3") {
				t.Fatalf("ETag %s is not that of 3 parts", info.ETag)
			}
		})
	}
}

// singlePartBackend hides the disk backend's Multiparter.
type singlePartBackend struct{ storage.Backend }

func TestMultipartNotImplementedWithoutCapability(t *testing.T) {
	n := startMultipartNode(t, func(c *storage.Config) { c.Backend = singlePartBackend{c.Backend} })
	_, err := n.S3.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(mpBucket), Key: aws.String("k")})
	if s3Code(err) != "NotImplemented" {
		t.Fatalf("CreateMultipartUpload on a backend without multipart: %v, want NotImplemented", err)
	}
	_, err = n.S3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(mpBucket)})
	if s3Code(err) != "NotImplemented" {
		t.Fatalf("ListMultipartUploads: %v, want NotImplemented", err)
	}
}

func TestPartNumberOutOfRange(t *testing.T) {
	n := startMultipartNode(t, nil)
	id := n.create(t, "k", nil)
	for _, number := range []string{"0", "10001", "x"} {
		u := n.signURL(t, http.MethodPut, "k", url.Values{"partNumber": {number}, "uploadId": {id}})
		resp, body := putURL(t, u, nil, []byte("x"))
		if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("InvalidArgument")) {
			t.Fatalf("partNumber=%s: %d %s", number, resp.StatusCode, body)
		}
	}
}
