package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
)

const tokenCols = "id, hash, kind, user_id, name, created, expires, revoked, last_used"

// CreateToken adds t.
func (s *Store) CreateToken(ctx context.Context, t *control.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		t.ID, t.Hash, string(t.Kind), t.UserID, t.Name, ts(t.Created), ts(t.Expires), nullTS(t.Revoked), nullTS(t.LastUsed))
	switch {
	case isUnique(err):
		err = control.ErrConflict
	case isForeignKey(err):
		err = fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*control.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("token by hash: %w", notFound(err))
	}
	return t, nil
}

// ListTokens returns the user's tokens of the kind, newest first.
func (s *Store) ListTokens(ctx context.Context, userID string, kind control.TokenKind) ([]control.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 AND kind = $2
		ORDER BY created DESC, id DESC`, userID, string(kind))
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := collect(rows, scanToken)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TouchToken records the token's last use.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if err := oneRow(s.pool.Exec(ctx, "UPDATE tokens SET last_used = $1 WHERE id = $2", ts(at), id)); err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}

// RevokeToken revokes one of the user's tokens; an earlier revocation time is kept.
func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	if err := oneRow(s.pool.Exec(ctx, "UPDATE tokens SET revoked = coalesce(revoked, $1) WHERE id = $2 AND user_id = $3",
		ts(at), id, userID)); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// RevokeUserTokens revokes all of the user's unrevoked tokens of the kind ("" for all).
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, kind control.TokenKind, at time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "UPDATE tokens SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL AND ($3 = '' OR kind = $3)",
		ts(at), userID, string(kind))
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", userID, err)
	}
	return int(tag.RowsAffected()), nil
}

func scanToken(r pgx.Row) (*control.Token, error) {
	var t control.Token
	var kind string
	var created, expires time.Time
	var revoked, lastUsed *time.Time
	if err := r.Scan(&t.ID, &t.Hash, &kind, &t.UserID, &t.Name, &created, &expires, &revoked, &lastUsed); err != nil {
		return nil, err
	}
	t.Kind = control.TokenKind(kind)
	t.Created, t.Expires = created.UTC(), expires.UTC()
	t.Revoked, t.LastUsed = fromNullTS(revoked), fromNullTS(lastUsed)
	return &t, nil
}
