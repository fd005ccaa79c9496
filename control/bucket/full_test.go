package bucket_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"presign/control"
	"presign/control/bucket"
	"presign/internal/testenv"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// TestFullNodeIsErrObjectStoreFull runs presign's storage node on a small filesystem and
// fills it: the node's 507 InsufficientStorage reaches the control plane as a StorageError
// marked control.ErrObjectStoreFull (answered 507, not 502 as a broken store would be).
func TestFullNodeIsErrObjectStoreFull(t *testing.T) {
	dir := testenv.Tmpfs(t, "8m")
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	be, err := disk.Open(ctx, disk.Options{Dir: filepath.Join(dir, "node"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	if err := be.CreateBucket(ctx, "files"); err != nil {
		t.Fatal(err)
	}
	node, err := storage.New(storage.Config{Backend: be, Nonces: be, Logger: quiet,
		Credentials: sigv4.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close)
	ts := httptest.NewServer(node)
	t.Cleanup(ts.Close)
	b, err := bucket.New(bucket.Config{Endpoint: ts.URL, Bucket: "files", AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	testenv.FillDisk(t, dir)
	for i := range 10000 {
		_, err = b.CreateMultipart(ctx, fmt.Sprintf("k/%05d", i), "text/plain")
		if err != nil {
			break
		}
	}
	var se *control.StorageError
	if !errors.As(err, &se) || !errors.Is(err, control.ErrObjectStoreFull) {
		t.Fatalf("create multipart upload on a full node: %v, want a StorageError marked ErrObjectStoreFull", err)
	}
}
