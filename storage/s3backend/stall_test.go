package s3backend

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"os"
	"testing"
	"time"

	"presign/internal/testenv/faultproxy"
	"presign/internal/testenv/seaweed"
	"presign/storage"
)

// stallTimeout is the tests' Options.StallTimeout: short, so that a stall is found quickly.
const stallTimeout = 300 * time.Millisecond

// openStallable opens a Backend whose connections to the shared SeaweedFS go through a fault
// proxy, so that a test can stall the service in the middle of a body.
func openStallable(t *testing.T) (*Backend, *faultproxy.Proxy) {
	t.Helper()
	srv := seaweed.Shared(t)
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	b, err := Open(t.Context(), Options{
		Endpoint: u.String(), Bucket: srv.Bucket, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true,
		Prefix: "t-" + rand.Text()[:10] + "/", SweepInterval: -1, StallTimeout: stallTimeout,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, proxy
}

// within runs f and fails t if it has not returned long after the stall timeout: a body that
// stalls must end in an error, never hold its request forever.
func within(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(100 * stallTimeout):
		t.Fatalf("%s: still waiting %s after the service stalled", what, 100*stallTimeout)
		return nil
	}
}

// TestDownloadCutWhenTheServiceStallsMidBody stalls the service after the first MiB of a
// download, both when the node reads the body itself and when it splices it from the
// connection: the read fails (so the node cuts its client, who sees a short body, never a
// complete-looking one), and once the service passes bytes again a download is whole.
func TestDownloadCutWhenTheServiceStallsMidBody(t *testing.T) {
	b, proxy := openStallable(t)
	ctx := t.Context()
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 48<<20)
	rand.Read(data)
	body := storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))})
	if _, err := b.PutObject(ctx, "bkt", "big", body, storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// A file is an io.ReaderFrom, which the body splices into; discard is not.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	for _, tc := range []struct {
		name string
		to   io.Writer
	}{
		{"read", discard{}},
		{"splice", devNull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := proxy.Set(faultproxy.Pass); err != nil {
				t.Fatal(err)
			}
			obj, err := b.GetObject(ctx, "bkt", "big")
			if err != nil {
				t.Fatal(err)
			}
			defer obj.Close()
			rc, err := obj.Range(ctx, 0, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			head := make([]byte, 1<<20)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			if err := proxy.Set(faultproxy.Stall); err != nil {
				t.Fatal(err)
			}
			var n int64
			err = within(t, "download", func() error {
				var err error
				n, err = io.Copy(tc.to, rc)
				return err
			})
			if err == nil || n+int64(len(head)) >= int64(len(data)) {
				t.Fatalf("download of a stalled service: %d of %d bytes, err %v; want a failed short read", n+int64(len(head)), len(data), err)
			}
			var se stalledError
			if !errors.As(err, &se) {
				t.Fatalf("download of a stalled service failed with %v, want the stall named", err)
			}
			if err := proxy.Set(faultproxy.Pass); err != nil {
				t.Fatal(err)
			}
			again, err := obj.Range(ctx, 0, int64(len(data)))
			if err != nil {
				t.Fatalf("download once the service is back: %v", err)
			}
			defer again.Close()
			got, err := io.ReadAll(again)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("download once the service is back: %d bytes, err %v", len(got), err)
			}
		})
	}
}

// discard is io.Discard without its ReadFrom, so that io.Copy uses the reader's WriteTo and
// WriteTo reads the body rather than splicing it.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestUploadFailsWhenTheServiceStopsTakingTheBody stalls the service once a few MiB of a PUT
// body larger than the buffer (sent as it arrives) have gone out: the write fails with
// storage.ErrUnavailable (503 on the node), nothing of it is kept, and once the service passes
// bytes again the same write succeeds. (A buffered body is read whole before its request
// starts, so a stall then meets the wait for an answer, which ResponseTimeout bounds.)
func TestUploadFailsWhenTheServiceStopsTakingTheBody(t *testing.T) {
	b, proxy := openStallable(t)
	ctx := t.Context()
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		size int
	}{
		{"streamed", 48 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			rand.Read(data)
			stallAfter := &stallingReader{r: bytes.NewReader(data), after: 4 << 20, stall: func() {
				if err := proxy.Set(faultproxy.Stall); err != nil {
					t.Error(err)
				}
			}}
			err := within(t, "upload", func() error {
				_, err := b.PutObject(ctx, "bkt", tc.name, storage.NewBody(stallAfter, storage.BodyOptions{Size: int64(tc.size)}), storage.PutOptions{})
				return err
			})
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Fatalf("upload to a stalled service: %v, want storage.ErrUnavailable", err)
			}
			if err := proxy.Set(faultproxy.Pass); err != nil {
				t.Fatal(err)
			}
			if _, err := b.GetObject(ctx, "bkt", tc.name); !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("object of the failed upload: %v, want storage.ErrNoSuchKey", err)
			}
			if _, err := b.PutObject(ctx, "bkt", tc.name, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(tc.size)}), storage.PutOptions{}); err != nil {
				t.Fatalf("upload once the service is back: %v", err)
			}
		})
	}
}

// stallingReader calls stall once after bytes have been read from it.
type stallingReader struct {
	r     io.Reader
	n     int
	after int
	stall func()
}

func (s *stallingReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.n < s.after && s.n+n >= s.after {
		s.stall()
	}
	s.n += n
	return n, err
}
