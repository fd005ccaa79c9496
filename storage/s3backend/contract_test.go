package s3backend

import (
	"crypto/rand"
	"os"
	"testing"
	"time"

	"presign/internal/testenv/seaweed"
	"presign/storage"
	"presign/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	seaweed.StopShared()
	os.Exit(code)
}

// openTest opens a Backend on the shared SeaweedFS, in a folder of the bucket of its own, so
// that it starts empty; it is closed when t ends.
func openTest(t testing.TB, opts Options) *Backend {
	t.Helper()
	srv := seaweed.Shared(t)
	opts.Endpoint, opts.Bucket = srv.Endpoint, srv.Bucket
	opts.AccessKey, opts.SecretKey, opts.PathStyle = srv.AccessKey, srv.SecretKey, true
	if opts.Prefix == "" {
		opts.Prefix = "t-" + rand.Text()[:10] + "/"
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	b, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBackendContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return openTest(t, Options{}) })
}

// With a small buffer, bodies of the suite's larger sizes take the streamed path (known size)
// and the multipart path (unknown size).
func TestBackendContractSmallBuffer(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return openTest(t, Options{BufferSize: storage.MinPartSize}) })
}

var _ = time.Second
