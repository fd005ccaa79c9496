package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"presign/control"
)

const userCols = "id, username, password_hash, admin, disabled, policy, created"

// CreateUser adds u with zero usage, and its username skeleton, whose unique index refuses a
// name that looks like a taken one.
func (s *Store) CreateUser(ctx context.Context, u *control.User) error {
	if err := u.Validate(); err != nil {
		return err
	}
	pol, err := json.Marshal(u.Policy)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	err = s.w.do(ctx, func(t *tx) error {
		if _, err := t.exec("INSERT INTO users ("+userCols+", username_skeleton) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			u.ID, u.Username, u.PasswordHash, u.Admin, u.Disabled, string(pol), micros(u.Created),
			control.UsernameSkeleton(u.Username)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("user %q: %w", u.Username, control.ErrConflict)
			}
			return err
		}
		_, err := t.exec("INSERT INTO usage (user_id) VALUES (?)", u.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// User returns the user with the id.
func (s *Store) User(ctx context.Context, id string) (*control.User, error) {
	u, err := scanUser(s.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", id, notFound(err))
	}
	return u, nil
}

// UserByName returns the user with the username.
func (s *Store) UserByName(ctx context.Context, username string) (*control.User, error) {
	u, err := scanUser(s.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", username, notFound(err))
	}
	return u, nil
}

// ListUsers returns a page of users ordered by username.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]control.User, error) {
	if err := control.CheckLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, "SELECT "+userCols+" FROM users WHERE username > ? ORDER BY username LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []control.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UpdateUser applies upd and returns the changed user.
func (s *Store) UpdateUser(ctx context.Context, id string, upd control.UserUpdate) (*control.User, error) {
	var disabled, pol any
	if upd.Disabled != nil {
		disabled = *upd.Disabled
	}
	if upd.Policy != nil {
		b, err := json.Marshal(upd.Policy)
		if err != nil {
			return nil, fmt.Errorf("update user %s: %w", id, err)
		}
		pol = string(b)
	}
	var u *control.User
	err := s.w.do(ctx, func(t *tx) error {
		res, err := t.exec("UPDATE users SET disabled = coalesce(?, disabled), policy = coalesce(?, policy) WHERE id = ?",
			disabled, pol, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return control.ErrNotFound
		}
		u, err = scanUser(t.queryRow("SELECT "+userCols+" FROM users WHERE id = ?", id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", id, err)
	}
	return u, nil
}

// DefaultPolicy returns the stored defaults, or ErrNotFound.
func (s *Store) DefaultPolicy(ctx context.Context) (control.Policy, error) {
	var doc string
	var p control.Policy
	if err := s.queryRow(ctx, "SELECT doc FROM default_policy WHERE id = 1").Scan(&doc); err != nil {
		return p, fmt.Errorf("default policy: %w", notFound(err))
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, fmt.Errorf("default policy: %w", err)
	}
	return p, nil
}

// SetDefaultPolicy replaces the defaults.
func (s *Store) SetDefaultPolicy(ctx context.Context, p control.Policy) error {
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("set default policy: %w", err)
	}
	err = s.w.do(ctx, func(t *tx) error {
		_, err := t.exec("INSERT INTO default_policy (id, doc) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", string(doc))
		return err
	})
	if err != nil {
		return fmt.Errorf("set default policy: %w", err)
	}
	return nil
}

func scanUser(r rowScanner) (*control.User, error) {
	var u control.User
	var pol string
	var created int64
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &u.Admin, &u.Disabled, &pol, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(pol), &u.Policy); err != nil {
		return nil, fmt.Errorf("user %s policy: %w", u.ID, err)
	}
	u.Created = fromMicros(created)
	return &u, nil
}

// fillSkeletons gives the users that have no username skeleton theirs, oldest first, inside
// the migration's transaction: those created before migration 7, or by a version before it.
// A user whose skeleton an older user holds keeps none, and so keeps its account (see the
// migration); the older user's skeleton still refuses any new look-alike.
func fillSkeletons(ctx context.Context, conn *sql.Conn) error {
	rows, err := conn.QueryContext(ctx, "SELECT id, username FROM users WHERE username_skeleton IS NULL ORDER BY created, id")
	if err != nil {
		return fmt.Errorf("username skeletons: %w", err)
	}
	var users [][2]string
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return fmt.Errorf("username skeletons: %w", err)
		}
		users = append(users, [2]string{id, name})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("username skeletons: %w", err)
	}
	for _, u := range users {
		if _, err := conn.ExecContext(ctx, `UPDATE users SET username_skeleton = ?1 WHERE id = ?2
			AND NOT EXISTS (SELECT 1 FROM users WHERE username_skeleton = ?1)`, control.UsernameSkeleton(u[1]), u[0]); err != nil {
			return fmt.Errorf("username skeleton of %s: %w", u[0], err)
		}
	}
	return nil
}
