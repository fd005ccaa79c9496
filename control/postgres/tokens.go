package postgres

import (
	"context"
	"errors"
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
	_, err := s.db.Exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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

// CreateTokenWithin adds t if its user has fewer than max active tokens of its kind. The
// user's row is locked first, so concurrent calls for one user count one after another.
func (s *Store) CreateTokenWithin(ctx context.Context, t *control.Token, max int) error {
	if err := t.Validate(); err != nil {
		return err
	}
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		err := tx.QueryRow(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", t.UserID).Scan(&n)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE user_id = $1 AND kind = $2 AND revoked IS NULL AND expires > $3`,
			t.UserID, string(t.Kind), ts(t.Created)).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%w: at most %d", control.ErrTooManyTokens, max)
		}
		_, err = tx.Exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			t.ID, t.Hash, string(t.Kind), t.UserID, t.Name, ts(t.Created), ts(t.Expires), nullTS(t.Revoked), nullTS(t.LastUsed))
		if isUnique(err) {
			return control.ErrConflict
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
	t, err := scanToken(s.db.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("token by hash: %w", notFound(err))
	}
	return t, nil
}

// tokenUser reads a token and its user in one query (control.TokenUserStore).
const tokenUser = `SELECT t.id, t.hash, t.kind, t.user_id, t.name, t.created, t.expires, t.revoked, t.last_used,
	u.id, u.username, u.password_hash, u.admin, u.disabled, u.policy, u.created
	FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`

// TokenUser returns the token whose secret hashes to hash and its user, in one round trip.
func (s *Store) TokenUser(ctx context.Context, hash []byte) (*control.Token, *control.User, error) {
	var tr tokenRow
	var ur userRow
	if err := s.db.QueryRow(ctx, tokenUser, hash).Scan(append(tr.dest(), ur.dest()...)...); err != nil {
		return nil, nil, fmt.Errorf("token and user by hash: %w", notFound(err))
	}
	u, err := ur.user()
	if err != nil {
		return nil, nil, err
	}
	return tr.token(), u, nil
}

// ListTokens returns the user's tokens of the kind, newest first.
func (s *Store) ListTokens(ctx context.Context, userID string, kind control.TokenKind) ([]control.Token, error) {
	rows, err := s.db.Query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE user_id = $1 AND kind = $2
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
	if err := oneRow(s.db.Exec(ctx, "UPDATE tokens SET last_used = $1 WHERE id = $2", ts(at), id)); err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}

// RevokeToken revokes one of the user's tokens; an earlier revocation time is kept.
func (s *Store) RevokeToken(ctx context.Context, userID, id string, at time.Time) error {
	if err := oneRow(s.db.Exec(ctx, "UPDATE tokens SET revoked = coalesce(revoked, $1) WHERE id = $2 AND user_id = $3",
		ts(at), id, userID)); err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return nil
}

// RevokeUserTokens revokes all of the user's unrevoked tokens of the kind ("" for all).
func (s *Store) RevokeUserTokens(ctx context.Context, userID string, kind control.TokenKind, at time.Time) (int, error) {
	tag, err := s.db.Exec(ctx, "UPDATE tokens SET revoked = $1 WHERE user_id = $2 AND revoked IS NULL AND ($3 = '' OR kind = $3)",
		ts(at), userID, string(kind))
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of %s: %w", userID, err)
	}
	return int(tag.RowsAffected()), nil
}

func scanToken(r pgx.Row) (*control.Token, error) {
	var tr tokenRow
	if err := r.Scan(tr.dest()...); err != nil {
		return nil, err
	}
	return tr.token(), nil
}

// tokenRow receives the tokenCols of a row.
type tokenRow struct {
	t                 control.Token
	kind              string
	created, expires  time.Time
	revoked, lastUsed *time.Time
}

func (r *tokenRow) dest() []any {
	return []any{&r.t.ID, &r.t.Hash, &r.kind, &r.t.UserID, &r.t.Name, &r.created, &r.expires, &r.revoked, &r.lastUsed}
}

func (r *tokenRow) token() *control.Token {
	t := r.t
	t.Kind = control.TokenKind(r.kind)
	t.Created, t.Expires = r.created.UTC(), r.expires.UTC()
	t.Revoked, t.LastUsed = fromNullTS(r.revoked), fromNullTS(r.lastUsed)
	return &t
}
