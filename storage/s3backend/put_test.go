package s3backend

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// bigSize is over two of the smallest buffers, so that a body of unknown size goes as three
// parts, and one of known size streams.
const bigSize = 2*storage.MinPartSize + 12345

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// putPath is one of the ways PutObject sends a body larger than its buffer.
type putPath struct {
	name string
	body func(r io.Reader, size int, opts storage.BodyOptions) storage.Body
}

var bigPaths = []putPath{
	{"StreamedKnownSize", func(r io.Reader, size int, opts storage.BodyOptions) storage.Body {
		opts.Size = int64(size)
		return storage.NewBody(r, opts)
	}},
	{"PartsUnknownSize", func(r io.Reader, size int, opts storage.BodyOptions) storage.Body {
		opts.Size = -1
		return storage.NewBody(r, opts)
	}},
}

func openSmallBuffer(t *testing.T) *Backend {
	b := openTest(t, Options{BufferSize: storage.MinPartSize})
	if err := b.CreateBucket(t.Context(), "bucket"); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLargePutRoundTrip(t *testing.T) {
	b := openSmallBuffer(t)
	for i, p := range bigPaths {
		t.Run(p.name, func(t *testing.T) {
			data := randomBytes(uint64(i), bigSize)
			// A Content-Encoding of its own: a streamed body goes as "aws-chunked,gzip", and the
			// service must keep only "gzip".
			meta := storage.Metadata{ContentType: "video/mp4", ContentEncoding: "gzip", User: map[string]string{"owner": "ünï", "presign-x": ""}}
			key := "big/" + p.name
			put, err := b.PutObject(t.Context(), "bucket", key, p.body(iotest.HalfReader(bytes.NewReader(data)), len(data), storage.BodyOptions{}), storage.PutOptions{Meta: meta})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			head, err := b.HeadObject(t.Context(), "bucket", key)
			if err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if head.ETag != put.ETag || head.Size != int64(len(data)) || put.Size != int64(len(data)) {
				t.Fatalf("PutObject said %s/%d, HeadObject %s/%d, want size %d", put.ETag, put.Size, head.ETag, head.Size, len(data))
			}
			if p.name == "StreamedKnownSize" && put.ETag != md5Hex(data) {
				t.Fatalf("streamed PUT ETag = %s, want the MD5 %s", put.ETag, md5Hex(data))
			}
			if p.name == "PartsUnknownSize" && !strings.HasSuffix(put.ETag, "-3") {
				t.Fatalf("multipart PUT ETag = %s, want a three-part ETag", put.ETag)
			}
			if head.Meta.ContentType != meta.ContentType || head.Meta.ContentEncoding != meta.ContentEncoding || head.Meta.User["owner"] != "ünï" || head.Meta.User["presign-x"] != "" || len(head.Meta.User) != 2 {
				t.Fatalf("metadata read back = %+v, want %+v", head.Meta, meta)
			}
			got := readObject(t, b, key)
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes (md5 %s), want %d (md5 %s)", len(got), md5Hex(got), len(data), md5Hex(data))
			}
			wantNoUploads(t, b)
		})
	}
}

// TestLargePutKeepsItsChecksums: the checksums of a body that streams through (known only at
// its end, too late for the service object's headers) are returned by the PUT and by every
// later read, as those of a small PUT are.
func TestLargePutKeepsItsChecksums(t *testing.T) {
	b := openSmallBuffer(t)
	for i, p := range bigPaths {
		t.Run(p.name, func(t *testing.T) {
			data := randomBytes(uint64(100+i), bigSize)
			crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
			sha := sha256.Sum256(data)
			want := map[string]string{
				"CRC32C": base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc)),
				"SHA256": base64.StdEncoding.EncodeToString(sha[:]),
			}
			key := "sums/" + p.name
			body := p.body(bytes.NewReader(data), len(data), storage.BodyOptions{Compute: []string{"CRC32C"}, Expect: map[string]string{"SHA256": want["SHA256"]}})
			put, err := b.PutObject(t.Context(), "bucket", key, body, storage.PutOptions{})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			if !maps.Equal(put.Checksums, want) {
				t.Fatalf("PutObject checksums %v, want %v", put.Checksums, want)
			}
			head, err := b.HeadObject(t.Context(), "bucket", key)
			if err != nil || !maps.Equal(head.Checksums, want) {
				t.Fatalf("HeadObject checksums %v (%v), want %v", head.Checksums, err, want)
			}
			obj, err := b.GetObject(t.Context(), "bucket", key)
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			if !maps.Equal(obj.Info().Checksums, want) {
				t.Fatalf("GetObject checksums %v, want %v", obj.Info().Checksums, want)
			}
		})
	}
	// Without checksums nothing is recorded, and reads find none.
	data := randomBytes(7, bigSize)
	if _, err := b.PutObject(t.Context(), "bucket", "plain", bigPaths[0].body(bytes.NewReader(data), len(data), storage.BodyOptions{}), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if head, err := b.HeadObject(t.Context(), "bucket", "plain"); err != nil || head.Checksums != nil {
		t.Fatalf("HeadObject of a PUT without checksums: %v, %v", head.Checksums, err)
	}
}

// A body that fails — mid-stream, at its end with a wrong digest, by its size, or by its
// context — leaves nothing: no new object, the previous one intact, no multipart upload.
func TestLargePutFailuresStoreNothing(t *testing.T) {
	b := openSmallBuffer(t)
	errBroken := errors.New("connection reset")
	data := randomBytes(7, bigSize)
	wrongMD5 := md5.Sum([]byte("other"))
	failures := []struct {
		name  string
		body  func(p putPath) (context.Context, storage.Body)
		check func(error) bool
	}{
		{"ReaderErrorMidStream", func(p putPath) (context.Context, storage.Body) {
			r := io.MultiReader(bytes.NewReader(data[:bigSize/2]), iotest.ErrReader(errBroken))
			return t.Context(), p.body(r, len(data), storage.BodyOptions{})
		}, func(err error) bool { return errors.Is(err, errBroken) }},
		{"WrongMD5AtTheEnd", func(p putPath) (context.Context, storage.Body) {
			return t.Context(), p.body(bytes.NewReader(data), len(data), storage.BodyOptions{ContentMD5: wrongMD5[:]})
		}, func(err error) bool { var de *storage.DigestError; return errors.As(err, &de) }},
		{"OverMaxBytes", func(p putPath) (context.Context, storage.Body) {
			return t.Context(), p.body(bytes.NewReader(data), len(data), storage.BodyOptions{MaxBytes: bigSize - 1})
		}, func(err error) bool { return errors.Is(err, storage.ErrEntityTooLarge) }},
		{"ContextCanceled", func(p putPath) (context.Context, storage.Body) {
			ctx, cancel := context.WithCancel(t.Context())
			r := io.MultiReader(bytes.NewReader(data[:bigSize-10]), readerFunc(func([]byte) (int, error) {
				cancel()
				return 0, context.Canceled
			}), bytes.NewReader(data[bigSize-10:]))
			return ctx, p.body(r, len(data), storage.BodyOptions{})
		}, func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, p := range bigPaths {
		for _, f := range failures {
			t.Run(p.name+"/"+f.name, func(t *testing.T) {
				fresh := "fresh/" + p.name + f.name
				ctx, body := f.body(p)
				if _, err := b.PutObject(ctx, "bucket", fresh, body, storage.PutOptions{}); !f.check(err) {
					t.Fatalf("PutObject error = %v", err)
				}
				if _, err := b.HeadObject(t.Context(), "bucket", fresh); !errors.Is(err, storage.ErrNoSuchKey) {
					t.Fatalf("HeadObject after the failed PUT: %v, want ErrNoSuchKey", err)
				}
				existing := "existing/" + p.name + f.name
				prev := []byte("previous version")
				if _, err := b.PutObject(t.Context(), "bucket", existing, storage.NewBody(bytes.NewReader(prev), storage.BodyOptions{Size: int64(len(prev))}), storage.PutOptions{}); err != nil {
					t.Fatal(err)
				}
				ctx, body = f.body(p)
				if _, err := b.PutObject(ctx, "bucket", existing, body, storage.PutOptions{}); !f.check(err) {
					t.Fatalf("PutObject over an object: error = %v", err)
				}
				if got := readObject(t, b, existing); !bytes.Equal(got, prev) {
					t.Fatalf("a failed PUT changed the object to %d bytes", len(got))
				}
				wantNoUploads(t, b)
			})
		}
	}
}

func TestLargePutConditions(t *testing.T) {
	b := openSmallBuffer(t)
	data := randomBytes(3, bigSize)
	for _, p := range bigPaths {
		t.Run(p.name, func(t *testing.T) {
			key := "cond/" + p.name
			first, err := b.PutObject(t.Context(), "bucket", key, p.body(bytes.NewReader(data), len(data), storage.BodyOptions{}), storage.PutOptions{IfNoneMatch: true})
			if err != nil {
				t.Fatalf("first PutObject If-None-Match: %v", err)
			}
			_, err = b.PutObject(t.Context(), "bucket", key, p.body(bytes.NewReader(data), len(data), storage.BodyOptions{}), storage.PutOptions{IfNoneMatch: true})
			if !errors.Is(err, storage.ErrPreconditionFailed) {
				t.Fatalf("second PutObject If-None-Match: %v, want ErrPreconditionFailed", err)
			}
			if _, err := b.PutObject(t.Context(), "bucket", key, p.body(bytes.NewReader(data), len(data), storage.BodyOptions{}), storage.PutOptions{IfMatch: first.ETag}); err != nil {
				t.Fatalf("PutObject If-Match the current ETag: %v", err)
			}
			wantNoUploads(t, b)
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func readObject(t *testing.T, b *Backend, key string) []byte {
	t.Helper()
	obj, err := b.GetObject(t.Context(), "bucket", key)
	if err != nil {
		t.Fatalf("GetObject(%q): %v", key, err)
	}
	defer obj.Close()
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		t.Fatalf("Range: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return got
}

// wantNoUploads fails t if the backend left a multipart upload on the service.
func wantNoUploads(t *testing.T, b *Backend) {
	t.Helper()
	out, err := b.s3.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &b.bucket, Prefix: aws.String(b.prefix)})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(out.Uploads) > 0 {
		var names []string
		for _, u := range out.Uploads {
			names = append(names, fmt.Sprintf("%s (%s)", aws.ToString(u.Key), aws.ToString(u.UploadId)))
		}
		t.Fatalf("multipart uploads left on the service: %v", names)
	}
}
