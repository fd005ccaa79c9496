package s3backend

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"presign/storage"
)

// spliceSpy is the ResponseWriter of serveRange: it notes whether the reader handed it the
// service's connection, and passes everything on.
type spliceSpy struct {
	http.ResponseWriter
	spliced bool
}

func (s *spliceSpy) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		_, s.spliced = lr.R.(*net.TCPConn)
	}
	return s.ResponseWriter.(io.ReaderFrom).ReadFrom(r)
}

// serveRange answers every request with obj's bytes [off, off+n), copied as the storage
// server does (io.Copy into the ResponseWriter), and reports whether the service's connection
// went to the ResponseWriter to be spliced.
func serveRange(t *testing.T, obj storage.Object, off, n int64) (*httptest.Server, chan bool) {
	t.Helper()
	spliced := make(chan bool, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc, err := obj.Range(r.Context(), off, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		spy := &spliceSpy{ResponseWriter: w}
		io.Copy(spy, rc)
		spliced <- spy.spliced
	}))
	t.Cleanup(srv.Close)
	return srv, spliced
}

func TestDownloadsSpliceFromTheServiceConnectionAndKeepEveryByte(t *testing.T) {
	b := openTest(t, Options{})
	if err := b.CreateBucket(t.Context(), "bucket"); err != nil {
		t.Fatal(err)
	}
	data := randomBytes(7, 5<<20+123)
	if _, err := b.PutObject(t.Context(), "bucket", "video", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := b.GetObject(t.Context(), "bucket", "video")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	for _, tc := range []struct {
		name   string
		off, n int64
		splice bool
	}{
		{"whole object", 0, int64(len(data)), true},
		{"range inside", 1<<20 + 3, 3<<20 + 5, true},
		{"range of one buffer, copied", 100, copyBufSize, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, spliceable := serveRange(t, obj, tc.off, tc.n)
			// Twice: the connection a splice consumed is never handed to the next request.
			for range 2 {
				resp, err := http.Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if spliced := <-spliceable; spliced != tc.splice {
					t.Fatalf("spliced: %v, want %v", spliced, tc.splice)
				}
				if !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
					t.Fatalf("got %d bytes, want %d bytes [%d, %d) of the object", len(got), tc.n, tc.off, tc.off+tc.n)
				}
			}
		})
	}
}

// A connection that ends before the range does is an error, never a short but whole body.
func TestSpliceOfACutConnectionFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(make([]byte, 1000))
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := &exactReader{rc: io.NopCloser(bytes.NewReader(nil)), left: 5000, conn: c.(*net.TCPConn)}
	var sink bytes.Buffer
	n, err := r.splice(&sink)
	if n != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("splice of a connection cut after 1000 of 5000 bytes: %d, %v; want 1000 and io.ErrUnexpectedEOF", n, err)
	}
}
