package s3backend

import (
	"bytes"
	"crypto/md5"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"presign/storage"
)

// The holdback reader never lets the last byte of a body out before the body ended well and
// commit agreed; that is what keeps a request of declared length short of complete whenever
// the body fails, at any point, its end included.
func TestHoldbackReleasesLastByteOnlyAfterChecksAndCommit(t *testing.T) {
	data := randomBytes(1, 300<<10+7)
	wrong := md5.Sum([]byte("x"))
	errCommit := errors.New("commit refused")
	tests := []struct {
		name      string
		body      storage.Body
		commitErr error
		wantErr   bool
	}{
		{"GoodBody", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), nil, false},
		{"GoodBodyHalfReads", storage.NewBody(iotest.HalfReader(bytes.NewReader(data)), storage.BodyOptions{Size: int64(len(data))}), nil, false},
		{"GoodBodyOneByteReads", storage.NewBody(iotest.OneByteReader(bytes.NewReader(data[:5000])), storage.BodyOptions{Size: 5000}), nil, false},
		{"DigestFailsAtEnd", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)), ContentMD5: wrong[:]}), nil, true},
		{"DigestFailsWithLastBytes", storage.NewBody(iotest.DataErrReader(bytes.NewReader(data)), storage.BodyOptions{Size: int64(len(data)), ContentMD5: wrong[:]}), nil, true},
		{"ShortBody", storage.NewBody(bytes.NewReader(data[:len(data)-1]), storage.BodyOptions{Size: int64(len(data))}), nil, true},
		{"CommitRefuses", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), errCommit, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			commits := 0
			var sentBeforeCommit int
			var out bytes.Buffer
			h := newHoldback(tc.body, func() error {
				commits++
				sentBeforeCommit = out.Len()
				return tc.commitErr
			})
			_, err := io.Copy(&out, h)
			if tc.wantErr {
				if err == nil || h.Err() == nil {
					t.Fatalf("copy error = %v, Err() = %v; want the failure", err, h.Err())
				}
				if out.Len() >= int(tc.body.Size()) {
					t.Fatalf("a failing body let all %d bytes out", out.Len())
				}
				return
			}
			if err != nil || !bytes.Equal(out.Bytes(), data[:tc.body.Size()]) {
				t.Fatalf("copy = %d bytes, %v; want the body", out.Len(), err)
			}
			if commits != 1 || sentBeforeCommit >= out.Len() {
				t.Fatalf("commit called %d times with %d of %d bytes out; want once, before the last byte", commits, sentBeforeCommit, out.Len())
			}
		})
	}
}
