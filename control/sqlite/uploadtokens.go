package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

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
	err = s.w.do(ctx, func(x *tx) error {
		_, err := x.exec("INSERT INTO upload_tokens ("+uploadTokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Hash, t.UserID, t.Subject, string(lim), micros(t.Created), micros(t.Expires), nullMicros(t.Revoked), t.Files, t.Bytes)
		switch {
		case isUnique(err):
			return control.ErrConflict
		case isForeignKey(err):
			return fmt.Errorf("user %s: %w", t.UserID, control.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create upload token %s: %w", t.ID, err)
	}
	return nil
}

// uploadTokenUser reads an upload token and its user in one statement: every request of a
// browser uploading with a token starts with it.
const uploadTokenUser = `SELECT t.id, t.hash, t.user_id, t.subject, t.limits, t.created, t.expires, t.revoked, t.files, t.bytes,
	u.id, u.username, u.password_hash, u.admin, u.disabled, u.policy, u.created
	FROM upload_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`

// UploadTokenUser returns the upload token whose secret hashes to hash, and its user.
func (s *Store) UploadTokenUser(ctx context.Context, hash []byte) (*control.UploadToken, *control.User, error) {
	var t control.UploadToken
	var u control.User
	var lim, pol string
	var created, expires, userCreated int64
	var revoked sql.NullInt64
	if err := s.queryRow(ctx, uploadTokenUser, hash).Scan(&t.ID, &t.Hash, &t.UserID, &t.Subject, &lim, &created, &expires,
		&revoked, &t.Files, &t.Bytes, &u.ID, &u.Username, &u.PasswordHash, &u.Admin, &u.Disabled, &pol, &userCreated); err != nil {
		return nil, nil, fmt.Errorf("upload token and user by hash: %w", notFound(err))
	}
	if err := json.Unmarshal([]byte(lim), &t.Limits); err != nil {
		return nil, nil, fmt.Errorf("upload token %s limits: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(pol), &u.Policy); err != nil {
		return nil, nil, fmt.Errorf("user %s policy: %w", u.ID, err)
	}
	t.Created, t.Expires, t.Revoked = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	u.Created = fromMicros(userCreated)
	return &t, &u, nil
}

// ListUploadTokens returns the user's upload tokens, newest first.
func (s *Store) ListUploadTokens(ctx context.Context, userID string) ([]control.UploadToken, error) {
	rows, err := s.query(ctx, "SELECT "+uploadTokenCols+" FROM upload_tokens WHERE user_id = ? ORDER BY created DESC, id DESC", userID)
	if err != nil {
		return nil, fmt.Errorf("list upload tokens: %w", err)
	}
	defer rows.Close()
	var out []control.UploadToken
	for rows.Next() {
		t, err := scanUploadToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list upload tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list upload tokens: %w", err)
	}
	return out, nil
}

// RevokeUploadToken revokes one of the user's upload tokens; an earlier revocation time is kept.
func (s *Store) RevokeUploadToken(ctx context.Context, userID, id string, at time.Time) error {
	err := s.w.do(ctx, func(t *tx) error {
		return affected(t.exec("UPDATE upload_tokens SET revoked = coalesce(revoked, ?) WHERE id = ? AND user_id = ?",
			micros(at), id, userID))
	})
	if err != nil {
		return fmt.Errorf("revoke upload token %s: %w", id, err)
	}
	return nil
}

func scanUploadToken(r rowScanner) (*control.UploadToken, error) {
	var t control.UploadToken
	var lim string
	var created, expires int64
	var revoked sql.NullInt64
	if err := r.Scan(&t.ID, &t.Hash, &t.UserID, &t.Subject, &lim, &created, &expires, &revoked, &t.Files, &t.Bytes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(lim), &t.Limits); err != nil {
		return nil, fmt.Errorf("upload token %s limits: %w", t.ID, err)
	}
	t.Created, t.Expires, t.Revoked = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
	return &t, nil
}
