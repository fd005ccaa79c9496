package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
	"presign/control/postgres"
	"presign/control/storetest"
	"presign/internal/testenv"
)

// defaultDSN is the PostgreSQL the tests use unless PRESIGN_TEST_POSTGRES names another.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test"

// testDSN returns the DSN of the test database.
func testDSN() string {
	if dsn := os.Getenv("PRESIGN_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// withParams adds run-time and pool parameters to a URL or key=value DSN.
func withParams(dsn string, params map[string]string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			for k, v := range params {
				q.Set(k, v)
			}
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	for k, v := range params {
		dsn += " " + k + "=" + v
	}
	return dsn
}

// fresh creates a schema of its own for t (so that runs never disturb each other) and drops it
// at cleanup; every open is another Store whose search_path is that schema. Under CI=true an
// unreachable database fails the test; elsewhere it skips it.
func fresh(t testing.TB) func() control.Store {
	return freshPool(t, "8")
}

// freshPool is fresh with pools of maxConns connections.
func freshPool(t testing.TB, maxConns string) func() control.Store {
	dsn := schemaDSN(t, maxConns)
	return func() control.Store {
		t.Helper()
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// schemaDSN creates the schema and returns the DSN that uses it.
func schemaDSN(t testing.TB, maxConns string) string {
	ctx := context.Background()
	dsn := testDSN()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		testenv.Missing(t, "PostgreSQL unreachable at %s (set PRESIGN_TEST_POSTGRES): %v", dsn, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "presign_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	return withParams(dsn, map[string]string{"search_path": schema, "pool_max_conns": maxConns})
}

func TestContract(t *testing.T) {
	storetest.Run(t, fresh)
}

func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	ctx := context.Background()
	dsn := schemaDSN(t, "2")
	stores := make([]*postgres.Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	u := &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Now()}
	if err := stores[0].CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for i, s := range stores {
		if _, err := s.UserByName(ctx, "alice"); err != nil {
			t.Fatalf("store %d: UserByName: %v", i, err)
		}
	}
}

func BenchmarkCreateUpload(b *testing.B) {
	// The pool has the default size (16), as a replica would run it.
	storetest.BenchmarkCreateUpload(b, func(t testing.TB) func() control.Store { return freshPool(t, "16") })
}

func BenchmarkTicketWrites(b *testing.B) {
	storetest.BenchmarkTicketWrites(b, func(t testing.TB) func() control.Store { return freshPool(t, "16") })
}

// BenchmarkAuthenticateReads compares the two reads that authenticate a request, token then
// user, with the one joined read of TokenUser, from 64 goroutines as concurrent requests would.
func BenchmarkAuthenticateReads(b *testing.B) {
	s := freshPool(b, "16")().(*postgres.Store)
	ctx := context.Background()
	u := &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Now()}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	hash := make([]byte, 32)
	rand.Read(hash)
	tk := &control.Token{ID: "tok-1", Hash: hash, Kind: control.TokenSession, UserID: u.ID, Created: time.Now(), Expires: time.Now().Add(time.Hour)}
	if err := s.CreateToken(ctx, tk); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		read func() error
	}{
		{"token then user", func() error {
			t, err := s.TokenByHash(ctx, hash)
			if err != nil {
				return err
			}
			_, err = s.User(ctx, t.UserID)
			return err
		}},
		{"joined", func() error {
			_, _, err := s.TokenUser(ctx, hash)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := bc.read(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
