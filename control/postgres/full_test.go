package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"presign/control"
	"presign/control/postgres"
	"presign/internal/testenv"
	"presign/internal/testenv/pgspace"
)

// TestFullDiskIsErrStoreFull puts the store's tables in a tablespace on a small filesystem and
// fills it: the change that does not fit fails with control.ErrStoreFull (SQLSTATE 53100,
// which the API answers with 507), reads keep working, and once space is freed the same Store
// takes changes again.
func TestFullDiskIsErrStoreFull(t *testing.T) {
	space, dir := pgspace.Tablespace(t, testDSN(), "4m")
	dsn := withParams(schemaDSN(t, "4"), map[string]string{"default_tablespace": space})
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	user := func(i int) *control.User {
		return &control.User{ID: fmt.Sprintf("usr-%d", i), Username: fmt.Sprintf("user-%d", i), PasswordHash: "h", Created: time.Now()}
	}
	if err := s.CreateUser(ctx, user(0)); err != nil {
		t.Fatal(err)
	}
	ballast := testenv.FillDisk(t, dir)
	var full error
	n := 1
	for ; n < 5000 && full == nil; n++ {
		full = s.CreateUser(ctx, user(n))
	}
	if !errors.Is(full, control.ErrStoreFull) {
		t.Fatalf("user %d on a full disk: %v, want control.ErrStoreFull", n, full)
	}
	if _, err := s.User(ctx, "usr-0"); err != nil {
		t.Fatalf("read on a full disk: %v", err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, user(n)); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	t.Logf("%d users fitted on the full disk", n-2)
}
