package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"presign/control"
	"presign/control/sqlite"
)

func TestOpenRefusesWhatIsNotADatabaseFile(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("this is not a database, just 64 bytes of text to fill a header.."), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", filepath.Join(dir, "a?b.db"), "file:" + filepath.Join(dir, "x.db"), dir, junk,
		filepath.Join(dir, "missing", "x.db")} {
		s, err := sqlite.Open(context.Background(), path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.db")
	u := &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Unix(1e9, 0)}
	for i := range 3 {
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		if i == 0 {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.UserByName(ctx, "alice"); err != nil {
			t.Fatalf("Open #%d: UserByName: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestStoresOpeningTogetherMigrateOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.db")
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			s, err := sqlite.Open(ctx, path)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Fatalf("Open: %v", err)
		}
	}
}

// TestDatabaseFilesAreOwnerOnly: the database holds password and token hashes, so the file
// and its -wal and -shm are 0600 whatever the umask lets through, for a new file and for one
// an earlier version left 0644.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		prep func(path string)
	}{
		{"new file", func(string) {}},
		{"existing 0644 file", func(path string) {
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				if err := os.Chmod(f, 0o644); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "control.db")
			tc.prep(path)
			s, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateUser(ctx, &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Unix(1e9, 0)}); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				if m := fi.Mode().Perm(); m != 0o600 {
					t.Errorf("%s has mode %v, want 0600", filepath.Base(f), m)
				}
			}
		})
	}
}

// TestMigration5LowerCasesUsernamesWithoutCollisions: usernames become their lower-case form,
// except where two differ only by case: the one already in lower case, else the oldest, gets
// it, and the others keep their name (and their account).
func TestMigration5LowerCasesUsernamesWithoutCollisions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// Names as an earlier version stored them; ids in creation order.
	for i, name := range []string{"Alice", "ALICE", "bob", "BOB", "Carol", "Ärger"} {
		u := &control.User{ID: fmt.Sprintf("usr-%d", i), Username: name, PasswordHash: "h", Created: time.Unix(1e9, 0)}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// Back to version 4: undo the later migrations too, so that reopening replays them all.
	for _, q := range []string{
		"DELETE FROM schema_version WHERE version >= 5",
		"ALTER TABLE uploads DROP COLUMN metadata",
		"ALTER TABLE files DROP COLUMN metadata",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen runs migration 5: %v", err)
	}
	defer s.Close()
	for id, want := range map[string]string{"usr-0": "alice", "usr-1": "ALICE", "usr-2": "bob", "usr-3": "BOB", "usr-4": "carol", "usr-5": "Ärger"} {
		u, err := s.User(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != want {
			t.Errorf("%s is %q after the migration, want %q", id, u.Username, want)
		}
	}
}
