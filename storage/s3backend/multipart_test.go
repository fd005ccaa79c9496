package s3backend

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/sigv4"
	"presign/storage"
)

// The gateway completes no upload whose parts but the last are under 5 MiB (the service
// enforces S3's rule), so the contract's small-part multipart tests are skipped for it
// (storagetest.PartSizeEnforcer); these cover the same behaviours with parts of S3's sizes.

const mib5 = storage.MinPartSize

func uploadPart(t *testing.T, b *Backend, up storage.MultipartUpload, n int, data []byte, compute ...string) storage.PartInfo {
	t.Helper()
	p, err := b.UploadPart(t.Context(), "bucket", up.Key, up.UploadID, n, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)), Compute: compute}))
	if err != nil {
		t.Fatalf("UploadPart(%d, %d bytes): %v", n, len(data), err)
	}
	if p.ETag != md5Hex(data) || p.Size != int64(len(data)) {
		t.Fatalf("UploadPart(%d) = %+v, want ETag %s", n, p, md5Hex(data))
	}
	return p
}

func listed(ps ...storage.PartInfo) []storage.CompletePart {
	out := make([]storage.CompletePart, len(ps))
	for i, p := range ps {
		out[i] = storage.CompletePart{Number: p.Number, ETag: p.ETag, Checksums: p.Checksums}
	}
	return out
}

func multipartETag(parts ...[]byte) string {
	var all []byte
	for _, p := range parts {
		s := md5.Sum(p)
		all = append(all, s[:]...)
	}
	s := md5.Sum(all)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(s[:]), len(parts))
}

func rawChecksum(alg string, data []byte) []byte {
	h, _ := sigv4.NewChecksum(alg)
	h.Write(data)
	return h.Sum(nil)
}

// Parts arrive out of order, one is replaced and one is left out; the object joins the listed
// ones, carries the upload's metadata and checksum (composite or full-object), reads back
// through ranges across part boundaries, and a retried completion answers as the first.
func TestMultipartUploadWithS3PartSizes(t *testing.T) {
	b := openSmallBuffer(t)
	meta := storage.Metadata{ContentType: "video/mp4", User: map[string]string{"owner": "ünï"}}
	for _, tc := range []struct{ alg, typ string }{
		{"", ""}, {"CRC32C", storage.ChecksumComposite}, {"CRC64NVME", storage.ChecksumFullObject}, {"SHA256", storage.ChecksumComposite},
	} {
		t.Run(tc.alg+tc.typ, func(t *testing.T) {
			key := "mp/" + tc.alg + tc.typ
			up, err := b.CreateMultipartUpload(t.Context(), "bucket", key, storage.MultipartOptions{Meta: meta, ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			var compute []string
			if tc.alg != "" {
				compute = []string{tc.alg}
			}
			p1, p2, p3 := randomBytes(1, mib5+1), randomBytes(2, mib5), randomBytes(3, 17)
			i3 := uploadPart(t, b, up, 3, p3, compute...)
			i1 := uploadPart(t, b, up, 1, p1, compute...)
			uploadPart(t, b, up, 2, randomBytes(9, mib5+5), compute...) // replaced next
			i2 := uploadPart(t, b, up, 2, p2, compute...)
			uploadPart(t, b, up, 4, randomBytes(4, 10), compute...) // not listed
			page, err := b.ListParts(t.Context(), "bucket", key, up.UploadID, storage.ListPartsOptions{MaxParts: 2})
			if err != nil || len(page.Parts) != 2 || !page.Truncated || page.NextAfter != 2 || page.Parts[1].ETag != i2.ETag {
				t.Fatalf("ListParts = %+v, %v", page, err)
			}
			whole := slices.Concat(p1, p2, p3)
			opts := storage.CompleteOptions{}
			var want string
			if tc.alg != "" {
				if tc.typ == storage.ChecksumComposite {
					want = base64.StdEncoding.EncodeToString(rawChecksum(tc.alg, slices.Concat(rawChecksum(tc.alg, p1), rawChecksum(tc.alg, p2), rawChecksum(tc.alg, p3)))) + "-3"
				} else {
					want = base64.StdEncoding.EncodeToString(rawChecksum(tc.alg, whole))
				}
				wrong := map[string]string{tc.alg: base64.StdEncoding.EncodeToString(rawChecksum(tc.alg, []byte("x")))}
				var de *storage.DigestError
				if _, err := b.CompleteMultipartUpload(t.Context(), "bucket", key, up.UploadID, listed(i1, i2, i3), storage.CompleteOptions{Checksums: wrong}); !errors.As(err, &de) {
					t.Fatalf("completion declaring a wrong checksum: %v, want a DigestError", err)
				}
				opts.Checksums = map[string]string{tc.alg: want}
			}
			done, err := b.CompleteMultipartUpload(t.Context(), "bucket", key, up.UploadID, listed(i1, i2, i3), opts)
			if err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			info := done.Object
			if done.Replayed || info.ETag != multipartETag(p1, p2, p3) || info.Size != int64(len(whole)) || info.Sequencer == 0 || info.Checksums[tc.alg] != want {
				t.Fatalf("completed %+v, want ETag %s, size %d, %s %q", done, multipartETag(p1, p2, p3), len(whole), tc.alg, want)
			}
			head, err := b.HeadObject(t.Context(), "bucket", key)
			if err != nil || head.ETag != info.ETag || head.Meta.ContentType != "video/mp4" || head.Meta.User["owner"] != "ünï" || head.Checksums[tc.alg] != want {
				t.Fatalf("HeadObject = %+v, %v", head, err)
			}
			obj, err := b.GetObject(t.Context(), "bucket", key)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range [][2]int{{0, 1}, {mib5 - 3, 10}, {len(whole) - 20, 20}, {0, len(whole)}} {
				rc, err := obj.Range(t.Context(), int64(r[0]), int64(r[1]))
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, whole[r[0]:r[0]+r[1]]) {
					t.Fatalf("Range(%d, %d): %d bytes that differ, %v", r[0], r[1], len(got), err)
				}
			}
			obj.Close()
			if _, err := b.HeadMultipartUpload(t.Context(), "bucket", key, up.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Fatalf("HeadMultipartUpload after completion: %v", err)
			}
			again, err := b.CompleteMultipartUpload(t.Context(), "bucket", key, up.UploadID, listed(i1, i2, i3), opts)
			if err != nil || !again.Replayed || again.Object.ETag != info.ETag || again.Object.Sequencer != info.Sequencer {
				t.Fatalf("retried completion = %+v, %v", again, err)
			}
			if _, err := b.CompleteMultipartUpload(t.Context(), "bucket", key, up.UploadID, listed(i1, i3), opts); !errors.Is(err, storage.ErrNoSuchUpload) {
				t.Fatalf("completion retried with other parts: %v, want ErrNoSuchUpload", err)
			}
		})
	}
	wantNoUploads(t, b)
}

// Bad part lists and sizes change nothing; the upload then completes with the right list.
func TestMultipartRefusalsChangeNothing(t *testing.T) {
	b := openSmallBuffer(t)
	up, err := b.CreateMultipartUpload(t.Context(), "bucket", "k", storage.MultipartOptions{ChecksumAlgorithm: "CRC32C", MaxSize: mib5 + 10})
	if err != nil {
		t.Fatal(err)
	}
	p1 := uploadPart(t, b, up, 1, randomBytes(1, mib5), "CRC32C")
	p2 := uploadPart(t, b, up, 2, randomBytes(2, 11), "CRC32C")
	wrongETag, wrongSum := listed(p1, p2), listed(p1, p2)
	wrongETag[1].ETag = md5Hex([]byte("x"))
	wrongSum[0].Checksums = map[string]string{"CRC32C": "AAAAAA=="}
	for _, tc := range []struct {
		name  string
		parts []storage.CompletePart
		want  error
	}{
		{"NoParts", nil, storage.ErrInvalidPart},
		{"Descending", listed(p2, p1), storage.ErrInvalidPartOrder},
		{"WrongETag", wrongETag, storage.ErrInvalidPart},
		{"WrongChecksum", wrongSum, storage.ErrInvalidPart},
		{"NotUploaded", listed(p2, storage.PartInfo{Number: 3}), storage.ErrInvalidPart},
		{"OverMaxSize", listed(p1, p2), storage.ErrEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := b.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, tc.parts, storage.CompleteOptions{}); !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if _, err := b.HeadObject(t.Context(), "bucket", "k"); !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("a refused completion made the object (%v)", err)
			}
		})
	}
	p2 = uploadPart(t, b, up, 2, randomBytes(2, 10), "CRC32C")
	if _, err := b.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, listed(p1, p2), storage.CompleteOptions{}); err != nil {
		t.Fatalf("completion with the right list: %v", err)
	}
}

// Completions of one upload at once, through one node and through two, agree: one makes the
// object, the others report the same result as replayed.
func TestConcurrentCompletionsAcrossNodesAgree(t *testing.T) {
	a := openSmallBuffer(t)
	other := openTest(t, Options{BufferSize: mib5, Prefix: a.prefix})
	up, err := a.CreateMultipartUpload(t.Context(), "bucket", "k", storage.MultipartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parts := listed(uploadPart(t, a, up, 1, randomBytes(1, mib5)), uploadPart(t, a, up, 2, randomBytes(2, 10)))
	const callers = 6
	results := make([]storage.CompletedUpload, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		node := a
		if i%2 == 1 {
			node = other
		}
		wg.Go(func() {
			results[i], errs[i] = node.CompleteMultipartUpload(t.Context(), "bucket", "k", up.UploadID, parts, storage.CompleteOptions{})
		})
	}
	wg.Wait()
	firsts := 0
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("completion %d: %v", i, errs[i])
		}
		if results[i].Object.ETag != results[0].Object.ETag || results[i].Object.Sequencer != results[0].Object.Sequencer {
			t.Fatalf("completions disagree: %+v and %+v", results[i].Object, results[0].Object)
		}
		if !results[i].Replayed {
			firsts++
		}
	}
	if firsts != 1 {
		t.Fatalf("%d completions say they made the object, want 1", firsts)
	}
}

// Parts longer than the buffer stream with their last byte held back: a failing one leaves
// the previous part of its number. A part of unknown length must fit the buffer.
func TestLargeAndUnknownLengthParts(t *testing.T) {
	b := openSmallBuffer(t)
	up, err := b.CreateMultipartUpload(t.Context(), "bucket", "k", storage.MultipartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := uploadPart(t, b, up, 1, randomBytes(1, mib5+100))
	wrong := md5.Sum([]byte("x"))
	bad := randomBytes(2, mib5+200)
	_, err = b.UploadPart(t.Context(), "bucket", "k", up.UploadID, 1, storage.NewBody(bytes.NewReader(bad), storage.BodyOptions{Size: int64(len(bad)), ContentMD5: wrong[:]}))
	var de *storage.DigestError
	if !errors.As(err, &de) {
		t.Fatalf("streamed part with a wrong MD5: %v, want a DigestError", err)
	}
	broken := io.MultiReader(bytes.NewReader(bad[:mib5]), iotest.ErrReader(errors.New("cut")))
	if _, err := b.UploadPart(t.Context(), "bucket", "k", up.UploadID, 1, storage.NewBody(broken, storage.BodyOptions{Size: int64(len(bad))})); err == nil {
		t.Fatal("a part whose body failed was stored")
	}
	page, err := b.ListParts(t.Context(), "bucket", "k", up.UploadID, storage.ListPartsOptions{})
	if err != nil || len(page.Parts) != 1 || page.Parts[0].ETag != good.ETag {
		t.Fatalf("after failed parts: %+v, %v; want the good one", page.Parts, err)
	}
	small := randomBytes(3, 1000)
	if _, err := b.UploadPart(t.Context(), "bucket", "k", up.UploadID, 2, storage.NewBody(iotest.HalfReader(bytes.NewReader(small)), storage.BodyOptions{Size: -1})); err != nil {
		t.Fatalf("part of unknown length within the buffer: %v", err)
	}
	long := randomBytes(4, mib5+1)
	_, err = b.UploadPart(t.Context(), "bucket", "k", up.UploadID, 3, storage.NewBody(bytes.NewReader(long), storage.BodyOptions{Size: -1}))
	var ae *storage.APIError
	if !errors.As(err, &ae) || ae.Code != "MissingContentLength" {
		t.Fatalf("part of unknown length over the buffer: %v, want MissingContentLength", err)
	}
	// Deleting the bucket is refused while it holds objects, and ends its uploads otherwise.
	if err := b.DeleteBucket(t.Context(), "bucket"); err != nil {
		t.Fatalf("DeleteBucket with an upload in progress: %v", err)
	}
	if _, err := b.HeadMultipartUpload(t.Context(), "bucket", "k", up.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Fatalf("upload of a deleted bucket: %v", err)
	}
	wantNoUploads(t, b)
}

// A sweep aborts uploads left incomplete past the expiry, and sooner the service uploads no
// node upload owns (left by a crash in a PUT of unknown length).
func TestSweepExpiresAbandonedUploads(t *testing.T) {
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	b := openTest(t, Options{Now: now, MultipartExpiry: 72 * time.Hour})
	if err := b.CreateBucket(t.Context(), "bucket"); err != nil {
		t.Fatal(err)
	}
	up, err := b.CreateMultipartUpload(t.Context(), "bucket", "kept", storage.MultipartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uploadPart(t, b, up, 1, []byte("part"))
	name, _ := b.objectName("bucket", "orphan")
	if _, err := b.s3.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: &name}); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(30 * time.Hour))
	if err := b.expireUploads(t.Context()); err != nil {
		t.Fatal(err)
	}
	out, err := b.s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: aws.String(b.prefix)})
	if err != nil || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].UploadId) != up.UploadID {
		t.Fatalf("after 30 hours the service holds %d uploads (%v), want only the node's", len(out.Uploads), err)
	}
	offset.Store(int64(73 * time.Hour))
	if err := b.expireUploads(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.HeadMultipartUpload(t.Context(), "bucket", "kept", up.UploadID); !errors.Is(err, storage.ErrNoSuchUpload) {
		t.Fatalf("an upload past its expiry is still in progress (%v)", err)
	}
	wantNoUploads(t, b)
	if page, err := b.ListMultipartUploads(t.Context(), "bucket", storage.ListUploadsOptions{}); err != nil || len(page.Uploads) != 0 {
		t.Fatalf("ListMultipartUploads after expiry = %+v, %v", page, err)
	}
}
