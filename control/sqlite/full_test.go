package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
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

// TestFullDiskFailsEveryChangeOfABatchAsErrStoreFull fills a small filesystem with changes
// from many goroutines at once, so that the writer commits them in shared transactions: when
// one change of a batch hits the full disk, SQLite rolls the whole transaction back, and every
// change of that batch must fail as control.ErrStoreFull (507), not as the lost savepoint.
func TestFullDiskFailsEveryChangeOfABatchAsErrStoreFull(t *testing.T) {
	dir := testenv.Tmpfs(t, "24m")
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
	const writers = 16
	errs := make(chan error, writers*100)
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for i := range 100 {
				// Some rows are bigger than SQLite's page cache, so that a change spills
				// to the file in the middle of a batch, not only at its commit.
				size := []int{4 << 10, 64 << 10, 3 << 20}[i%3]
				if err := exec(fmt.Sprintf("INSERT INTO fill VALUES (randomblob(%d))", size)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	refused := 0
	for err := range errs {
		if !errors.Is(err, control.ErrStoreFull) {
			t.Fatalf("a change on a full store: %v, want control.ErrStoreFull", err)
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("no change was refused: the disk was not full")
	}
}
