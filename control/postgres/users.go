package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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
	err = s.db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO users ("+userCols+", username_skeleton) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			u.ID, u.Username, u.PasswordHash, u.Admin, u.Disabled, string(pol), ts(u.Created),
			control.UsernameSkeleton(u.Username)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("user %q: %w", u.Username, control.ErrConflict)
			}
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO usage (user_id) VALUES ($1)", u.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// User returns the user with the id.
func (s *Store) User(ctx context.Context, id string) (*control.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", id, notFound(err))
	}
	return u, nil
}

// UserByName returns the user with the username.
func (s *Store) UserByName(ctx context.Context, username string) (*control.User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE username = $1", username))
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", username, notFound(err))
	}
	return u, nil
}

// ListUsers returns a page of users ordered by username (byte order).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]control.User, error) {
	if err := control.CheckLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users WHERE username > $1
		ORDER BY username LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UpdateUser applies upd and returns the changed user.
func (s *Store) UpdateUser(ctx context.Context, id string, upd control.UserUpdate) (*control.User, error) {
	var pol *string
	if upd.Policy != nil {
		b, err := json.Marshal(upd.Policy)
		if err != nil {
			return nil, fmt.Errorf("update user %s: %w", id, err)
		}
		p := string(b)
		pol = &p
	}
	u, err := scanUser(s.db.QueryRow(ctx, `UPDATE users SET disabled = coalesce($1, disabled),
		policy = coalesce($2::jsonb, policy) WHERE id = $3 RETURNING `+userCols, upd.Disabled, pol, id))
	if err != nil {
		return nil, fmt.Errorf("update user %s: %w", id, notFound(err))
	}
	return u, nil
}

// DefaultPolicy returns the stored defaults, or ErrNotFound.
func (s *Store) DefaultPolicy(ctx context.Context) (control.Policy, error) {
	var doc []byte
	var p control.Policy
	if err := s.db.QueryRow(ctx, "SELECT doc FROM default_policy WHERE id = 1").Scan(&doc); err != nil {
		return p, fmt.Errorf("default policy: %w", notFound(err))
	}
	if err := json.Unmarshal(doc, &p); err != nil {
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
	if _, err := s.db.Exec(ctx, `INSERT INTO default_policy (id, doc) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc`, string(doc)); err != nil {
		return fmt.Errorf("set default policy: %w", err)
	}
	return nil
}

func scanUser(r pgx.Row) (*control.User, error) {
	var ur userRow
	if err := r.Scan(ur.dest()...); err != nil {
		return nil, err
	}
	return ur.user()
}

// userRow receives the userCols of a row.
type userRow struct {
	u       control.User
	pol     []byte
	created time.Time
}

func (r *userRow) dest() []any {
	return []any{&r.u.ID, &r.u.Username, &r.u.PasswordHash, &r.u.Admin, &r.u.Disabled, &r.pol, &r.created}
}

func (r *userRow) user() (*control.User, error) {
	u := r.u
	if err := json.Unmarshal(r.pol, &u.Policy); err != nil {
		return nil, fmt.Errorf("user %s policy: %w", u.ID, err)
	}
	u.Created = r.created.UTC()
	return &u, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}

// fillSkeletons gives the users that have no username skeleton theirs, oldest first, inside
// the migration's transaction: those created before migration 7, or by a version before it
// still running beside this one. A user whose skeleton an older user holds keeps none, and so
// keeps its account (see the migration); the older user's skeleton still refuses any new
// look-alike.
func fillSkeletons(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, "SELECT id, username FROM users WHERE username_skeleton IS NULL ORDER BY created, id")
	if err != nil {
		return fmt.Errorf("username skeletons: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (u [2]string, err error) {
		err = r.Scan(&u[0], &u[1])
		return
	})
	if err != nil {
		return fmt.Errorf("username skeletons: %w", err)
	}
	for _, u := range users {
		if _, err := tx.Exec(ctx, `UPDATE users SET username_skeleton = $1 WHERE id = $2
			AND NOT EXISTS (SELECT 1 FROM users WHERE username_skeleton = $1)`, control.UsernameSkeleton(u[1]), u[0]); err != nil {
			return fmt.Errorf("username skeleton of %s: %w", u[0], err)
		}
	}
	return nil
}
