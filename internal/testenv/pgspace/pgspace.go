// Package pgspace gives a test a PostgreSQL tablespace on a small filesystem of its own, so
// that the test can fill the disk under a database other tests share without filling theirs.
package pgspace

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"presign/internal/testenv"
)

// Tablespace mounts a tmpfs of the size (e.g. "4m") owned by the user the PostgreSQL server
// at dsn runs as, and creates a tablespace on it; it returns the tablespace's name and the
// tmpfs's directory (a ballast file there fills the tablespace: testenv.FillDisk). At t's end
// the tablespace is dropped and the tmpfs unmounted, so what the test put in the tablespace
// must be dropped by a cleanup registered after this call. It ends t through testenv.Missing
// when the server is not on this machine or cannot be told to (a superuser is needed), or
// when mounting is not allowed.
func Tablespace(t testing.TB, dsn, size string) (name, dir string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		testenv.Missing(t, "PostgreSQL unreachable at %s (set PRESIGN_TEST_POSTGRES): %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	var data string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&data); err != nil {
		testenv.Missing(t, "cannot ask PostgreSQL where its data is (a superuser is needed): %v", err)
	}
	fi, err := os.Stat(filepath.Join(data, "PG_VERSION"))
	if err != nil {
		testenv.Missing(t, "PostgreSQL at %s does not run on this machine (no %s): %v", dsn, data, err)
	}
	uid, gid, ok := owner(fi)
	if !ok {
		testenv.Missing(t, "no owner of %s on this system", data)
	}
	dir = testenv.TmpfsFor(t, size, uid, gid)
	b := make([]byte, 6)
	rand.Read(b)
	name = "presign_test_" + hex.EncodeToString(b)
	// CREATE TABLESPACE takes no parameters; the name and directory are the test's own.
	if _, err := conn.Exec(ctx, "CREATE TABLESPACE "+name+" LOCATION '"+dir+"'"); err != nil {
		t.Fatalf("create tablespace: %v", err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, "DROP TABLESPACE "+name); err != nil {
			t.Errorf("drop tablespace %s: %v", name, err)
		}
	})
	return name, dir
}
