package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"presign/control"
	"presign/internal/testenv"
)

// TestFullDiskIsErrStoreFull fills a small filesystem through the writer: the change that
// does not fit fails with control.ErrStoreFull (which the API answers with 507), and once
// space is freed the store takes changes again.
func TestFullDiskIsErrStoreFull(t *testing.T) {
	dir := testenv.Tmpfs(t, "4m")
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exec := func(q string) error {
		return s.w.do(ctx, func(x *tx) error { _, err := x.exec(q); return err })
	}
	if err := exec("CREATE TABLE fill (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	var full error
	for range 200 {
		if full = exec("INSERT INTO fill VALUES (randomblob(65536))"); full != nil {
			break
		}
	}
	if !errors.Is(full, control.ErrStoreFull) {
		t.Fatalf("insert into a full store: %v, want control.ErrStoreFull", full)
	}
	if err := exec("DELETE FROM fill"); err != nil {
		t.Fatalf("delete on a full store: %v", err)
	}
	if err := exec("INSERT INTO fill VALUES (randomblob(1024))"); err != nil {
		t.Fatalf("insert after space was freed: %v", err)
	}
}
