package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"presign/control"
)

const tokenCols = "id, hash, kind, user_id, name, created, expires, revoked, last_used"

// CreateToken adds t.
func (s *Store) CreateToken(ctx context.Context, t *control.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	err := s.w.do(ctx, func(x *tx) error {
		_, err := x.exec("INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Hash, string(t.Kind), t.UserID, t.Name, micros(t.Created), micros(t.Expires),
			nullMicros(t.Revoked), nullMicros(t.LastUsed))
		switch {
		case isUnique(err):
			return control.ErrConflict
		case isForeignKey(err):
			return fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// CreateTokenWithin adds t if its user has fewer than max active tokens of its kind. The
// single writer makes the count and the insert one step.
func (s *Store) CreateTokenWithin(ctx context.Context, t *control.Token, max int) error {
	if err := t.Validate(); err != nil {
		return err
	}
	err := s.w.do(ctx, func(x *tx) error {
		var n int
		if err := x.queryRow(`SELECT count(*) FROM tokens WHERE user_id = ? AND kind = ? AND revoked IS NULL AND expires > ?`,
			t.UserID, string(t.Kind), micros(t.Created)).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: at most %d", control.ErrTooManyTokens, max)
		}
		_, err := x.exec("INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Hash, string(t.Kind), t.UserID, t.Name, micros(t.Created), micros(t.Expires),
			nullMicros(t.Revoked), nullMicros(t.LastUsed))
		switch {
		case isUnique(err):
			return control.ErrConflict
		case isForeignKey(err):
			return fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*control.Token, error) {
	t, err := scanToken(s.queryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
	if err != nil {
		return nil, fmt.Errorf("token by hash: %w", notFound(err))
	}
	return t, nil
}

// ListTokens returns the user's tokens of the kind, newest first.
func (s *Store) ListTokens(ctx context.Context, userID string, kind control.TokenKind) ([]control.Token, error) {
	rows, err := s.query(ctx, "SELECT "+tokenCols+" FROM tokens WHERE user_id = ? AND kind = ? ORDER BY created DESC, id DESC",
		userID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []control.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TouchToken records the token's last use.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	err := s.w.do(ctx, func(t *tx) error {
		return affected(t.exec("UPDATE tokens SET last_used = ? WHERE id = ?", micros(at), id))
	})
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}

// RevokeToken revokes one of the user's tokens; an earlier revocation time is kept.
func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	err := s.w.do(ctx, func(t *tx) error {
		return affected(t.exec("UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ? AND user_id = ?",
			micros(at), id, userID))
	})
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// RevokeUserTokens revokes all of the user's unrevoked tokens of the kind ("" for all).
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, kind control.TokenKind, at time.Time) (int, error) {
	var n int64
	err := s.w.do(ctx, func(t *tx) error {
		res, err := t.exec("UPDATE tokens SET revoked = ? WHERE user_id = ? AND revoked IS NULL AND (? = '' OR kind = ?)",
			micros(at), userID, string(kind), string(kind))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", userID, err)
	}
	return int(n), nil
}

func scanToken(r rowScanner) (*control.Token, error) {
	var t control.Token
	var kind string
	var created, expires int64
	var revoked, lastUsed sql.NullInt64
	if err := r.Scan(&t.ID, &t.Hash, &kind, &t.UserID, &t.Name, &created, &expires, &revoked, &lastUsed); err != nil {
		return nil, err
	}
	t.Kind = control.TokenKind(kind)
	t.Created, t.Expires = fromMicros(created), fromMicros(expires)
	t.Revoked, t.LastUsed = fromNullMicros(revoked), fromNullMicros(lastUsed)
	return &t, nil
}

// affected turns the result of an UPDATE or DELETE of one identified row into an error:
// control.ErrNotFound when no row matched.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return control.ErrNotFound
	}
	return nil
}
