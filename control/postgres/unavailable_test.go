package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"presign/control"
	"presign/control/postgres"
	"presign/internal/testenv/faultproxy"
)

// TestUnreachableDatabaseIsErrStoreUnavailable reaches PostgreSQL through a proxy and cuts it
// the ways a database goes away: the port refused, every connection reset. Reads and writes
// then fail with control.ErrStoreUnavailable (which the API answers with 503) whatever the
// statement, and once the database is back the same Store works again.
func TestUnreachableDatabaseIsErrStoreUnavailable(t *testing.T) {
	u, err := url.Parse(schemaDSN(t, "4"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, u.Host)
	u.Host = proxy.Addr()
	ctx := context.Background()
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	alice := &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Now()}
	if err := s.CreateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"read one row", func() error { _, err := s.User(ctx, alice.ID); return err }},
		{"read rows", func() error { _, err := s.ListUsers(ctx, "", 10); return err }},
		{"write in a transaction", func() error {
			return s.CreateUser(ctx, &control.User{ID: "usr-2", Username: "bob", PasswordHash: "h", Created: time.Now()})
		}},
		{"write a batch", func() error {
			return s.AppendAudit(ctx, control.AuditEntry{At: time.Now(), UserID: alice.ID, Action: "test"})
		}},
	}
	for _, mode := range []faultproxy.Mode{faultproxy.Refuse, faultproxy.ResetEach} {
		if err := proxy.Set(mode); err != nil {
			t.Fatal(err)
		}
		for _, c := range calls {
			if err := c.call(); !errors.Is(err, control.ErrStoreUnavailable) {
				t.Errorf("%s with the database cut (mode %d): %v, want control.ErrStoreUnavailable", c.name, mode, err)
			}
		}
	}
	if err := proxy.Set(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if err := c.call(); err != nil && !errors.Is(err, control.ErrConflict) {
			t.Errorf("%s after the database came back: %v", c.name, err)
		}
	}
}
