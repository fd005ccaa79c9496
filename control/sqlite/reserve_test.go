package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/control"
	"presign/internal/durable"
	"presign/internal/testenv"
)

// TestFullDiskStillRecordsDeletes fills a small filesystem with uploads until the store
// refuses them: deleting a completed file is still recorded, in the space the Store held back
// for deletes, and that space is held back again once the disk has room.
func TestFullDiskStillRecordsDeletes(t *testing.T) {
	dir := testenv.Tmpfs(t, "12m")
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(filepath.Join(dir, "control.db-reserve")); err != nil || fi.Size() != durable.ReserveSize {
		t.Fatalf("reserve file after Open: %v", err)
	}
	t0 := time.Now().UTC()
	if err := s.CreateUser(ctx, &control.User{ID: "usr-a", Username: "ada", PasswordHash: "h", Created: t0}); err != nil {
		t.Fatal(err)
	}
	upload := func(i int) (string, error) {
		id := fmt.Sprintf("upl-%05d", i)
		meta := map[string]string{"pad": strings.Repeat("x", 1024)}
		return id, s.CreateUpload(ctx, &control.Upload{ID: id, UserID: "usr-a", Key: "u/usr-a/" + id, Filename: "f.bin",
			ContentType: "application/octet-stream", Size: 1, State: control.StatePending, Nonce: "n-" + id,
			Created: t0, Expires: t0.Add(time.Hour), Metadata: meta}, control.Limits{})
	}
	var files []string
	for i := range 50 {
		id, err := upload(i)
		if err == nil {
			_, err = s.TransitionUpload(ctx, id, []control.UploadState{control.StatePending}, control.StateCompleted,
				control.Change{At: t0, ETag: "etag-" + id})
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, id)
	}
	ballast := filepath.Join(dir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = f.Write(make([]byte, 64<<10))
	}
	f.Close()
	for i := 50; ; i++ {
		if i == 100000 {
			t.Fatal("the store never filled the disk")
		}
		if _, err := upload(i); errors.Is(err, control.ErrStoreFull) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range files {
		if _, err := s.TransitionUpload(ctx, id, []control.UploadState{control.StateCompleted}, control.StateDeleted,
			control.Change{At: t0.Add(time.Minute), Audit: &control.AuditEntry{UserID: "usr-a", Action: "file.delete", UploadID: id}}); err != nil {
			t.Fatalf("delete %s on a full disk: %v", id, err)
		}
		if _, err := s.File(ctx, id); !errors.Is(err, control.ErrNotFound) {
			t.Fatalf("file %s after its delete: %v", id, err)
		}
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "control.db-reserve")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the reserve is still there after the deletes used it: %v", err)
	}
	s.reserve.Take(time.Now().Add(durable.ReserveRetry)) // as the writer does a minute later
	if fi, err := os.Stat(filepath.Join(dir, "control.db-reserve")); err != nil || fi.Size() != durable.ReserveSize {
		t.Fatalf("reserve file after space returned: %v", err)
	}
}
