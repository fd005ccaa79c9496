package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"presign/control"
)

const uploadCols = "id, user_id, object_key, filename, content_type, size, sha256, state, multipart_id, " +
	"part_size, part_count, nonce, expires, created, updated, completed, etag, fail_reason, max_size, token_id, subject, metadata, md5, crc32c"

// createUpload adds the upload and its usage in one statement, so in one implicit transaction
// and one round trip. The UPDATE admits the upload only if the usage row, with it counted,
// stays within the limits; under READ COMMITTED a concurrent ticket of the same user makes it
// wait for the row lock and re-check against the newest row, so concurrent tickets can never
// together pass a limit. The INSERT runs only if the UPDATE admitted; a unique or foreign-key
// violation there fails the statement and so undoes the UPDATE too.
//
// An upload of an upload token also counts in the token's row ($24: its id), within the token's
// limits ($25 files, $26 bytes). The usage UPDATE has then already run when the token's is
// refused (the sub-statements of a WITH all take effect), so CreateUpload runs the statement
// in a transaction it rolls back when nothing was inserted.
const createUpload = `WITH admitted AS (
	UPDATE usage SET bytes = bytes + $22, pending = pending + 1
	WHERE user_id = $2 AND ($23::bigint <= 0 OR bytes + $22::bigint <= $23::bigint)
		AND ($27::bigint <= 0 OR pending + 1 <= $27::bigint)
	RETURNING 1
), counted AS (
	UPDATE upload_tokens SET files = files + 1, bytes = bytes + $22
	WHERE id = $24 AND ($25::bigint <= 0 OR files + 1 <= $25::bigint) AND ($26::bigint <= 0 OR bytes + $22::bigint <= $26::bigint)
	RETURNING 1
)
INSERT INTO uploads (` + uploadCols + `)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $28, $29, $30 FROM admitted
WHERE $24 = '' OR EXISTS (SELECT 1 FROM counted)`

// CreateUpload records u if the owner's usage with u added stays within lim.
func (s *Store) CreateUpload(ctx context.Context, u *control.Upload, lim control.Limits) error {
	if err := u.Validate(); err != nil {
		return err
	}
	updated := u.Updated
	if updated.IsZero() {
		updated = u.Created
	}
	args := []any{u.ID, u.UserID, u.Key, u.Filename, u.ContentType, u.Size, u.SHA256,
		string(u.State), u.MultipartID, u.PartSize, u.PartCount, u.Nonce, ts(u.Expires), ts(u.Created), ts(updated),
		nil, "", "", u.MaxSize, u.TokenID, u.Subject, u.Held(), lim.QuotaBytes, u.TokenID, lim.TokenFiles, lim.TokenBytes, lim.MaxPending,
		control.EncodeMetadata(u.Metadata), u.MD5, u.CRC32C}
	var err error
	if u.TokenID == "" {
		var tag pgconn.CommandTag
		tag, err = s.db.Exec(ctx, createUpload, args...)
		if err == nil && tag.RowsAffected() == 0 {
			err = s.refusal(ctx, u, lim)
		}
	} else {
		err = s.db.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, createUpload, args...)
			if err == nil && tag.RowsAffected() == 0 {
				return errRefused
			}
			return err
		})
		if errors.Is(err, errRefused) {
			err = s.refusal(ctx, u, lim)
		}
	}
	if isUnique(err) {
		err = control.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// errRefused rolls back a token upload's transaction that admitted nothing.
var errRefused = errors.New("refused")

// refusal tells why createUpload admitted nothing: no such user, or which limit. It reads the
// usage after the fact, so under a race the reason given can be the other limit; the refusal
// itself was decided atomically.
func (s *Store) refusal(ctx context.Context, u *control.Upload, lim control.Limits) error {
	var use control.Usage
	err := s.db.QueryRow(ctx, "SELECT bytes, pending FROM usage WHERE user_id = $1", u.UserID).Scan(&use.Bytes, &use.Pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("user %s: %w", u.UserID, control.ErrNotFound)
	}
	if err != nil {
		return err
	}
	use.Bytes += u.Held()
	use.Pending++
	if err := checkLimits(use, lim); err != nil {
		return err
	}
	if u.TokenID != "" {
		var files int
		var bytes int64
		err := s.db.QueryRow(ctx, "SELECT files, bytes FROM upload_tokens WHERE id = $1", u.TokenID).Scan(&files, &bytes)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("upload token %s: %w", u.TokenID, control.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := control.CheckTokenLimits(files+1, bytes+u.Held(), lim); err != nil {
			return err
		}
	}
	if lim.MaxPending > 0 && lim.QuotaBytes <= 0 {
		return fmt.Errorf("%w: limit %d", control.ErrTooManyPending, lim.MaxPending)
	}
	return fmt.Errorf("%w: quota %d bytes", control.ErrQuotaExceeded, lim.QuotaBytes)
}

// checkLimits reports whether usage, with the new upload counted, is within lim.
func checkLimits(use control.Usage, lim control.Limits) error {
	switch {
	case lim.MaxPending > 0 && use.Pending > lim.MaxPending:
		return fmt.Errorf("%w: limit %d", control.ErrTooManyPending, lim.MaxPending)
	case lim.QuotaBytes > 0 && use.Bytes > lim.QuotaBytes:
		return fmt.Errorf("%w: quota %d bytes", control.ErrQuotaExceeded, lim.QuotaBytes)
	}
	return nil
}

// Upload returns the upload with the id.
func (s *Store) Upload(ctx context.Context, id string) (*control.Upload, error) {
	u, err := scanUpload(s.db.QueryRow(ctx, "SELECT "+uploadCols+" FROM uploads WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, notFound(err))
	}
	return u, nil
}

// UploadByKey returns the upload of the object key.
func (s *Store) UploadByKey(ctx context.Context, key string) (*control.Upload, error) {
	u, err := scanUpload(s.db.QueryRow(ctx, "SELECT "+uploadCols+" FROM uploads WHERE object_key = $1", key))
	if err != nil {
		return nil, fmt.Errorf("upload of %q: %w", key, notFound(err))
	}
	return u, nil
}

// TransitionUpload locks the upload's row (SELECT ... FOR UPDATE), so that of concurrent
// transitions on any replica one at a time sees the current state, and applies the change with
// its side effects on usage, files and the audit log in the same transaction.
func (s *Store) TransitionUpload(ctx context.Context, id string, from []control.UploadState, to control.UploadState, c control.Change) (*control.Upload, error) {
	if err := control.CheckTransition(from, to, c); err != nil {
		return nil, err
	}
	var out *control.Upload
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var seq int64
		cur, err := scanUpload(seqRow{tx.QueryRow(ctx, "SELECT "+uploadCols+", event_seq FROM uploads WHERE id = $1 FOR UPDATE", id), &seq})
		if err != nil {
			return notFound(err)
		}
		if !slices.Contains(from, cur.State) {
			return fmt.Errorf("%w: it is %s", control.ErrStateConflict, cur.State)
		}
		next := control.ApplyChange(*cur, to, c)
		b := &pgx.Batch{}
		if seq, err = queueEvent(b, cur, &next, seq, c.Reason); err != nil {
			return err
		}
		b.Queue(`UPDATE uploads SET state = $1, multipart_id = $2, expires = $3, updated = $4, completed = $5,
			etag = $6, fail_reason = $7, size = $8, lease_until = '-infinity', event_seq = $9 WHERE id = $10`,
			string(next.State), next.MultipartID, next.Expires, next.Updated, nullTS(next.Completed),
			next.ETag, next.FailReason, next.Size, seq, id)
		switch {
		case to == control.StateCompleted:
			b.Queue(`INSERT INTO files (`+fileCols+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, next.ID, next.UserID, next.Key, next.Filename,
				next.ContentType, next.Size, next.SHA256, next.ETag, next.Completed, next.Subject, control.EncodeMetadata(next.Metadata),
				next.MD5, next.CRC32C)
		case cur.State == control.StateCompleted && to == control.StateDeleted:
			b.Queue("UPDATE files SET deleted = $1 WHERE id = $2", ts(c.At), id)
		}
		if db, dp := control.UsageDelta(cur, &next); db != 0 || dp != 0 {
			b.Queue("UPDATE usage SET bytes = bytes + $1, pending = pending + $2 WHERE user_id = $3", db, dp, cur.UserID)
		}
		if tf, tb := control.TokenDelta(cur, &next); cur.TokenID != "" && (tf != 0 || tb != 0) {
			// A pruned token has no row left to count in; nothing refers to its counts then.
			b.Queue("UPDATE upload_tokens SET files = files + $1, bytes = bytes + $2 WHERE id = $3", tf, tb, cur.TokenID)
		}
		if e := control.TransitionAudit(c); e != nil {
			if err := queueAudit(b, *e); err != nil {
				return err
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		out = &next
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", id, to, err)
	}
	return out, nil
}

// ClaimOverdue leases overdue active uploads. SKIP LOCKED passes over rows another replica is
// claiming or transitioning right now; for rows it locks, PostgreSQL re-checks the WHERE clause
// against the newest version, so a lease committed meanwhile excludes the row.
func (s *Store) ClaimOverdue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]control.Upload, error) {
	if err := control.CheckClaim(limit, lease); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `UPDATE uploads SET lease_until = $1 WHERE id IN (
			SELECT id FROM uploads WHERE state IN ('pending', 'uploading') AND expires < $2 AND lease_until < $2
			ORDER BY expires LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+uploadCols, ts(now.Add(lease)), ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim overdue uploads: %w", err)
	}
	out, err := collect(rows, scanUpload)
	if err != nil {
		return nil, fmt.Errorf("claim overdue uploads: %w", err)
	}
	slices.SortFunc(out, func(a, b control.Upload) int { return a.Expires.Compare(b.Expires) })
	return out, nil
}

// Usage returns what counts against the user's quota.
func (s *Store) Usage(ctx context.Context, userID string) (control.Usage, error) {
	var u control.Usage
	if err := s.db.QueryRow(ctx, "SELECT bytes, pending FROM usage WHERE user_id = $1", userID).Scan(&u.Bytes, &u.Pending); err != nil {
		return u, fmt.Errorf("usage of %s: %w", userID, notFound(err))
	}
	return u, nil
}

// seqRow is an uploads row with its event_seq after the columns scanUpload reads.
type seqRow struct {
	pgx.Row
	seq *int64
}

func (r seqRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.seq)...) }

func scanUpload(r pgx.Row) (*control.Upload, error) {
	var u control.Upload
	var state string
	var completed *time.Time
	var meta string
	if err := r.Scan(&u.ID, &u.UserID, &u.Key, &u.Filename, &u.ContentType, &u.Size, &u.SHA256, &state,
		&u.MultipartID, &u.PartSize, &u.PartCount, &u.Nonce, &u.Expires, &u.Created, &u.Updated, &completed,
		&u.ETag, &u.FailReason, &u.MaxSize, &u.TokenID, &u.Subject, &meta, &u.MD5, &u.CRC32C); err != nil {
		return nil, err
	}
	var err error
	if u.Metadata, err = control.DecodeMetadata(meta); err != nil {
		return nil, err
	}
	u.State = control.UploadState(state)
	u.Expires, u.Created, u.Updated = u.Expires.UTC(), u.Created.UTC(), u.Updated.UTC()
	u.Completed = fromNullTS(completed)
	return &u, nil
}
