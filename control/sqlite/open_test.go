package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	// Names as an earlier version stored them; ids in creation order.
	path := legacyDatabase(t, 4, "Alice", "ALICE", "bob", "BOB", "Carol", "Ärger")
	s, err := sqlite.Open(ctx, path)
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

// TestOpenGivesExistingUsersSkeletonsOldestFirst: users stored before usernames had skeletons
// get theirs when the store opens; of existing names that look alike (Latin ape, then Cyrillic
// аре), the oldest holds the skeleton and the others keep their account without one. Opening
// succeeds, every account is still found, and a new look-alike is refused.
func TestOpenGivesExistingUsersSkeletonsOldestFirst(t *testing.T) {
	ctx := context.Background()
	path := legacyDatabase(t, 6, "ape", "аре", "ops", "орѕ", "ορs", "zoe")
	for range 2 { // the second open finds the collisions again and changes nothing
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("open with look-alike users: %v", err)
		}
		for _, name := range []string{"ape", "аре", "ops", "орѕ", "ορs", "zoe"} {
			if _, err := s.UserByName(ctx, name); err != nil {
				t.Errorf("UserByName(%q): %v", name, err)
			}
		}
		for i, name := range []string{"арe", "оps", "zое"} {
			err := s.CreateUser(ctx, &control.User{ID: fmt.Sprintf("usr-new-%d", i), Username: name, PasswordHash: "h", Created: time.Unix(2e9, 0)})
			if !errors.Is(err, control.ErrConflict) {
				t.Errorf("CreateUser(%q) beside its existing look-alike: %v, want ErrConflict", name, err)
			}
		}
		s.Close()
		if got, want := skeletonHolders(t, path), []string{"usr-0", "usr-2", "usr-5"}; !slices.Equal(got, want) {
			t.Errorf("users holding a skeleton: %v, want %v", got, want)
		}
	}
}

// legacyDatabase creates a database at the schema version, as an earlier version of the store
// left it, holding users with the names, ids usr-0, usr-1... in creation order. The rows are
// inserted newest first, so that the table's own order is not the order of creation.
func legacyDatabase(t *testing.T, version int, names ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := openRaw(t, path)
	// Undo the later migrations, newest first, so that reopening replays them.
	undo := map[int][]string{
		8: {"ALTER TABLE uploads DROP COLUMN md5", "ALTER TABLE uploads DROP COLUMN crc32c",
			"ALTER TABLE files DROP COLUMN md5", "ALTER TABLE files DROP COLUMN crc32c"},
		7: {"DROP INDEX users_username_skeleton", "ALTER TABLE users DROP COLUMN username_skeleton"},
		6: {"ALTER TABLE uploads DROP COLUMN metadata", "ALTER TABLE files DROP COLUMN metadata"},
		5: nil,
	}
	for v := 8; v > version; v-- {
		for _, q := range undo[v] {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Exec("DELETE FROM schema_version WHERE version > ?", version); err != nil {
		t.Fatal(err)
	}
	for i, name := range slices.Backward(names) {
		id := fmt.Sprintf("usr-%d", i)
		if _, err := db.Exec("INSERT INTO users (id, username, password_hash, created) VALUES (?, ?, 'h', ?)", id, name, 1e15+i); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO usage (user_id) VALUES (?)", id); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// skeletonHolders returns the ids of the users that have a username skeleton.
func skeletonHolders(t *testing.T, path string) []string {
	t.Helper()
	rows, err := openRaw(t, path).Query("SELECT id FROM users WHERE username_skeleton IS NOT NULL ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// openRaw opens the database file with database/sql, closed at t's cleanup.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
