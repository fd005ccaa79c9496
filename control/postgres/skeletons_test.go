package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"presign/control"
	"presign/control/postgres"
)

// TestOpenGivesExistingUsersSkeletonsOldestFirst: users stored before usernames had skeletons
// get theirs when the store opens; of existing names that look alike (Latin ape, then Cyrillic
// аре), the oldest holds the skeleton and the others keep their account without one. Opening
// succeeds, every account is still found, and a new look-alike is refused.
func TestOpenGivesExistingUsersSkeletonsOldestFirst(t *testing.T) {
	ctx := context.Background()
	dsn := schemaDSN(t, "2")
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Back to version 6, with users as it stored them, inserted newest first so that the
	// table's own order is not the order of creation.
	for _, q := range []string{"ALTER TABLE uploads DROP COLUMN md5, DROP COLUMN crc32c",
		"ALTER TABLE files DROP COLUMN md5, DROP COLUMN crc32c", "DROP INDEX users_username_skeleton", "ALTER TABLE users DROP COLUMN username_skeleton",
		"DELETE FROM schema_version WHERE version > 6"} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"ape", "аре", "ops", "орѕ", "ορs", "zoe"}
	for i, name := range slices.Backward(names) {
		id := fmt.Sprintf("usr-%d", i)
		if _, err := db.Exec(ctx, "INSERT INTO users (id, username, password_hash, created) VALUES ($1, $2, 'h', $3)",
			id, name, time.Unix(1e9+int64(i), 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, "INSERT INTO usage (user_id) VALUES ($1)", id); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // the second open finds the collisions again and changes nothing
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open with look-alike users: %v", err)
		}
		for _, name := range names {
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
		rows, err := db.Query(ctx, "SELECT id FROM users WHERE username_skeleton IS NOT NULL ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		holders, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"usr-0", "usr-2", "usr-5"}; !slices.Equal(holders, want) {
			t.Errorf("users holding a skeleton: %v, want %v", holders, want)
		}
	}
}
