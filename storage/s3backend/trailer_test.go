package s3backend

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage"
)

// unframe decodes aws-chunked with a trailer as a service does, and fails on any deviation.
func unframe(framed []byte) (data []byte, trailer string, err error) {
	r := bufio.NewReader(bytes.NewReader(framed))
	for {
		line, err := r.ReadString('\n')
		if err != nil || !strings.HasSuffix(line, "\r\n") {
			return nil, "", fmt.Errorf("chunk size line %q: %v", line, err)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
		if err != nil {
			return nil, "", err
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(r, chunk); err != nil || string(chunk[n:]) != "\r\n" {
			return nil, "", fmt.Errorf("chunk of %d bytes not ended by CRLF: %v", n, err)
		}
		data = append(data, chunk[:n]...)
	}
	trailer, err = r.ReadString('\n')
	if err != nil {
		return nil, "", err
	}
	if end, _ := io.ReadAll(r); string(end) != "\r\n" {
		return nil, "", fmt.Errorf("after the trailer %q, want a last CRLF", end)
	}
	return data, trailer, nil
}

func TestCRCFramerFramesExactlyItsDeclaredLength(t *testing.T) {
	for _, size := range []int{0, 1, 15, 16, trailerChunk - 1, trailerChunk, trailerChunk + 1, 3*trailerChunk + 5} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			src := randomBytes(uint64(size), size)
			framed, err := io.ReadAll(newCRCFramer(iotest.HalfReader(bytes.NewReader(src)), int64(size)))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(framed)) != framedLength(int64(size)) {
				t.Fatalf("framed %d bytes, framedLength says %d", len(framed), framedLength(int64(size)))
			}
			data, trailer, err := unframe(framed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, src) {
				t.Fatalf("unframed %d bytes differ from the %d sent", len(data), len(src))
			}
			var sum [4]byte
			binary.BigEndian.PutUint32(sum[:], crc32.Checksum(src, castagnoli))
			if want := trailerName + ":" + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"; trailer != want {
				t.Fatalf("trailer %q, want %q", trailer, want)
			}
		})
	}
}

func TestCRCFramerFailsABodyThatEndsEarly(t *testing.T) {
	src := randomBytes(1, trailerChunk+10)
	_, err := io.ReadAll(newCRCFramer(bytes.NewReader(src[:trailerChunk+9]), int64(len(src))))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a body one byte short framed with error %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestServiceRefusesStreamWithWrongTrailer: SeaweedFS checks trailers (the probe must find so,
// or streamed bodies would never take that path in these tests), and a body of several chunks
// whose trailer is wrong is refused and leaves no object.
func TestServiceRefusesStreamWithWrongTrailer(t *testing.T) {
	b := openSmallBuffer(t)
	if !b.trailers {
		t.Fatal("the probe found that SeaweedFS does not check CRC-32C trailers")
	}
	data := randomBytes(7, 2*trailerChunk+77)
	name := b.prefix + "wrong-trailer"
	wrong := crc32.Checksum(data, castagnoli) + 1
	f := newCRCFramer(bytes.NewReader(data), int64(len(data)))
	f.wantCRC = &wrong
	_, err := b.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &b.bucket, Key: &name, Body: f,
		ContentLength: aws.Int64(framedLength(int64(len(data))))}, withCRCTrailer(int64(len(data))))
	if status := httpStatus(err); status < 400 || status > 499 {
		t.Fatalf("PUT with a wrong trailer: status %d, err %v; want a 4xx refusal", status, err)
	}
	if _, err := b.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &b.bucket, Key: &name}); !notFound(err) {
		t.Fatalf("after the refused PUT, HEAD says %v; want not found", err)
	}
}

// TestWithoutTrailersStreamsNeedMD5AndStillWork: with a service that does not check trailers (as
// the probe would find), streamed bodies and parts go unframed, the node needs their MD5, and
// their ETags are that MD5 (which the node compares with the service's).
func TestWithoutTrailersStreamsNeedMD5AndStillWork(t *testing.T) {
	b := openSmallBuffer(t)
	b.trailers = false
	if !b.NeedsMD5(bigSize) {
		t.Fatal("NeedsMD5 of a streamed body is false without trailers")
	}
	data := randomBytes(11, bigSize)
	put, err := b.PutObject(t.Context(), "bucket", "no-trailer", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: bigSize}), storage.PutOptions{})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if put.ETag != md5Hex(data) || !bytes.Equal(readObject(t, b, "no-trailer"), data) {
		t.Fatalf("streamed PUT without trailer: ETag %s, want %s, or other bytes read back", put.ETag, md5Hex(data))
	}
	up, err := b.CreateMultipartUpload(t.Context(), "bucket", "no-trailer-parts", storage.MultipartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := randomBytes(12, bigSize)
	if got := uploadPart(t, b, up, 1, part); got.ETag != md5Hex(part) {
		t.Fatalf("streamed part without trailer: ETag %s, want %s", got.ETag, md5Hex(part))
	}
}

// TestStreamedETag: with checked trailers the service's ETag is taken as it is; without, the
// node's MD5 is the ETag, and a service that names other bytes is an error.
func TestStreamedETag(t *testing.T) {
	data := []byte("streamed")
	sum := md5.Sum(data)
	other := md5Hex([]byte("other"))
	cases := []struct {
		name     string
		trailers bool
		got      string
		want     string
		wantErr  bool
	}{
		{"trailer: the service's", true, "abc-1", "abc-1", false},
		{"MD5 matching", false, md5Hex(data), md5Hex(data), false},
		{"MD5, service silent", false, "", md5Hex(data), false},
		{"MD5, service named other bytes", false, other, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			etag, err := (&Backend{trailers: c.trailers}).streamedETag(sum, c.got)
			if etag != c.want || (err != nil) != c.wantErr {
				t.Fatalf("streamedETag(%q) = %q, %v; want %q, error %v", c.got, etag, err, c.want, c.wantErr)
			}
		})
	}
}
