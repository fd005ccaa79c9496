package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
)

const uploadTokenCols = "id, hash, user_id, subject, limits, created, expires, revoked, files, bytes"

// CreateUploadToken adds t.
func (s *Store) CreateUploadToken(ctx context.Context, t *control.UploadToken) error {
	if err := t.Validate(); err != nil {
		return err
	}
	lim, err := json.Marshal(t.Limits)
	if err != nil {
		return fmt.Errorf("create upload token %s: %w", t.ID, err)
	}
	_, err = s.db.Exec(ctx, "INSERT INTO upload_tokens ("+uploadTokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		t.ID, t.Hash, t.UserID, t.Subject, string(lim), ts(t.Created), ts(t.Expires), nullTS(t.Revoked), t.Files, t.Bytes)
	switch {
	case isUnique(err):
		err = control.ErrConflict
	case isForeignKey(err):
		err = fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create upload token %s: %w", t.ID, err)
	}
	return nil
}

// uploadTokenUser reads an upload token and its user in one query.
const uploadTokenUser = `SELECT t.id, t.hash, t.user_id, t.subject, t.limits, t.created, t.expires, t.revoked, t.files, t.bytes,
	u.id, u.username, u.password_hash, u.admin, u.disabled, u.policy, u.created
	FROM upload_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = $1`

// UploadTokenUser returns the upload token whose secret hashes to hash and its user, in one
// round trip.
func (s *Store) UploadTokenUser(ctx context.Context, hash []byte) (*control.UploadToken, *control.User, error) {
	var tr uploadTokenRow
	var ur userRow
	if err := s.db.QueryRow(ctx, uploadTokenUser, hash).Scan(append(tr.dest(), ur.dest()...)...); err != nil {
		return nil, nil, fmt.Errorf("upload token and user by hash: %w", notFound(err))
	}
	t, err := tr.token()
	if err != nil {
		return nil, nil, err
	}
	u, err := ur.user()
	if err != nil {
		return nil, nil, err
	}
	return t, u, nil
}

// ListUploadTokens returns the user's upload tokens, newest first.
func (s *Store) ListUploadTokens(ctx context.Context, userID string) ([]control.UploadToken, error) {
	rows, err := s.db.Query(ctx, `SELECT `+uploadTokenCols+` FROM upload_tokens WHERE user_id = $1
		ORDER BY created DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list upload tokens: %w", err)
	}
	out, err := collect(rows, scanUploadToken)
	if err != nil {
		return nil, fmt.Errorf("list upload tokens: %w", err)
	}
	return out, nil
}

// RevokeUploadToken revokes one of the user's upload tokens; an earlier revocation time is kept.
func (s *Store) RevokeUploadToken(ctx context.Context, userID, id string, at time.Time) error {
	if err := oneRow(s.db.Exec(ctx, "UPDATE upload_tokens SET revoked = coalesce(revoked, $1) WHERE id = $2 AND user_id = $3",
		ts(at), id, userID)); err != nil {
		return fmt.Errorf("revoke upload token %s: %w", id, err)
	}
	return nil
}

func scanUploadToken(r pgx.Row) (*control.UploadToken, error) {
	var tr uploadTokenRow
	if err := r.Scan(tr.dest()...); err != nil {
		return nil, err
	}
	return tr.token()
}

// uploadTokenRow receives the uploadTokenCols of a row.
type uploadTokenRow struct {
	t                control.UploadToken
	lim              []byte
	created, expires time.Time
	revoked          *time.Time
}

func (r *uploadTokenRow) dest() []any {
	return []any{&r.t.ID, &r.t.Hash, &r.t.UserID, &r.t.Subject, &r.lim, &r.created, &r.expires, &r.revoked, &r.t.Files, &r.t.Bytes}
}

func (r *uploadTokenRow) token() (*control.UploadToken, error) {
	t := r.t
	if err := json.Unmarshal(r.lim, &t.Limits); err != nil {
		return nil, fmt.Errorf("upload token %s limits: %w", t.ID, err)
	}
	t.Created, t.Expires, t.Revoked = r.created.UTC(), r.expires.UTC(), fromNullTS(r.revoked)
	return &t, nil
}
