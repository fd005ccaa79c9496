package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"presign/control"
)

const uploadCols = "id, user_id, object_key, filename, content_type, size, sha256, state, multipart_id, " +
	"part_size, part_count, nonce, expires, created, updated, completed, etag, fail_reason, max_size, token_id, subject, metadata, md5, crc32c"

const insertUpload = "INSERT INTO uploads (" + uploadCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

// CreateUpload records u if the owner's usage with u added stays within lim. The insert and the
// usage change run in one savepoint of the writer's transaction: being the only writer, nothing
// can change the usage row between the check and the insert.
func (s *Store) CreateUpload(ctx context.Context, u *control.Upload, lim control.Limits) error {
	if err := u.Validate(); err != nil {
		return err
	}
	updated := u.Updated
	if updated.IsZero() {
		updated = u.Created
	}
	err := s.w.do(ctx, func(t *tx) error {
		_, err := t.exec(insertUpload, u.ID, u.UserID, u.Key, u.Filename, u.ContentType, u.Size, u.SHA256,
			string(u.State), u.MultipartID, u.PartSize, u.PartCount, u.Nonce, micros(u.Expires),
			micros(u.Created), micros(updated), nil, "", "", u.MaxSize, u.TokenID, u.Subject, control.EncodeMetadata(u.Metadata), u.MD5, u.CRC32C)
		switch {
		case isUnique(err):
			return control.ErrConflict
		case isForeignKey(err):
			return fmt.Errorf("user %s: %w", u.UserID, control.ErrNotFound)
		case err != nil:
			return err
		}
		var use control.Usage
		if err := t.queryRow("UPDATE usage SET bytes = bytes + ?, pending = pending + 1 WHERE user_id = ? RETURNING bytes, pending",
			u.Held(), u.UserID).Scan(&use.Bytes, &use.Pending); err != nil {
			return notFound(err)
		}
		if err := checkLimits(use, lim); err != nil {
			return err
		}
		if u.TokenID == "" {
			return nil
		}
		var files int
		var bytes int64
		if err := t.queryRow("UPDATE upload_tokens SET files = files + 1, bytes = bytes + ? WHERE id = ? RETURNING files, bytes",
			u.Held(), u.TokenID).Scan(&files, &bytes); err != nil {
			return fmt.Errorf("upload token %s: %w", u.TokenID, notFound(err))
		}
		return control.CheckTokenLimits(files, bytes, lim)
	})
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
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
	u, err := scanUpload(s.queryRow(ctx, "SELECT "+uploadCols+" FROM uploads WHERE id = ?", id))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, notFound(err))
	}
	return u, nil
}

// UploadByKey returns the upload of the object key.
func (s *Store) UploadByKey(ctx context.Context, key string) (*control.Upload, error) {
	u, err := scanUpload(s.queryRow(ctx, "SELECT "+uploadCols+" FROM uploads WHERE object_key = ?", key))
	if err != nil {
		return nil, fmt.Errorf("upload of %q: %w", key, notFound(err))
	}
	return u, nil
}

// TransitionUpload is the compare-and-set on an upload's state, with its side effects on usage,
// files and the audit log, in one savepoint.
func (s *Store) TransitionUpload(ctx context.Context, id string, from []control.UploadState, to control.UploadState, c control.Change) (*control.Upload, error) {
	if err := control.CheckTransition(from, to, c); err != nil {
		return nil, err
	}
	u, err := s.transitionUpload(ctx, id, from, to, c)
	if to == control.StateDeleted && errors.Is(err, control.ErrStoreFull) && s.reserve.Release() {
		// A delete is how a full disk is emptied: it may use the space held back for it.
		u, err = s.transitionUpload(ctx, id, from, to, c)
	}
	return u, err
}

func (s *Store) transitionUpload(ctx context.Context, id string, from []control.UploadState, to control.UploadState, c control.Change) (*control.Upload, error) {
	var out *control.Upload
	err := s.w.do(ctx, func(t *tx) error {
		cur, err := scanUpload(t.queryRow("SELECT "+uploadCols+" FROM uploads WHERE id = ?", id))
		if err != nil {
			return notFound(err)
		}
		if !slices.Contains(from, cur.State) {
			return fmt.Errorf("%w: it is %s", control.ErrStateConflict, cur.State)
		}
		next := control.ApplyChange(*cur, to, c)
		var seq int64
		if err := t.queryRow("SELECT event_seq FROM uploads WHERE id = ?", id).Scan(&seq); err != nil {
			return err
		}
		if seq, err = t.emitEvent(cur, &next, seq, c.Reason); err != nil {
			return err
		}
		if _, err := t.exec(`UPDATE uploads SET state = ?, multipart_id = ?, expires = ?, updated = ?, completed = ?,
			etag = ?, fail_reason = ?, size = ?, lease_until = 0, event_seq = ? WHERE id = ?`,
			string(next.State), next.MultipartID, micros(next.Expires), micros(next.Updated),
			nullMicros(next.Completed), next.ETag, next.FailReason, next.Size, seq, id); err != nil {
			return err
		}
		switch {
		case to == control.StateCompleted:
			if _, err := t.exec(`INSERT INTO files (`+fileCols+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, next.ID, next.UserID, next.Key, next.Filename, next.ContentType,
				next.Size, next.SHA256, next.ETag, micros(next.Completed), next.Subject, control.EncodeMetadata(next.Metadata),
				next.MD5, next.CRC32C); err != nil {
				return err
			}
		case cur.State == control.StateCompleted && to == control.StateDeleted:
			if _, err := t.exec("UPDATE files SET deleted = ? WHERE id = ?", micros(c.At), id); err != nil {
				return err
			}
		}
		if db, dp := control.UsageDelta(cur, &next); db != 0 || dp != 0 {
			if _, err := t.exec("UPDATE usage SET bytes = bytes + ?, pending = pending + ? WHERE user_id = ?",
				db, dp, cur.UserID); err != nil {
				return err
			}
		}
		if tf, tb := control.TokenDelta(cur, &next); cur.TokenID != "" && (tf != 0 || tb != 0) {
			// A pruned token has no row left to count in; nothing refers to its counts then.
			if _, err := t.exec("UPDATE upload_tokens SET files = files + ?, bytes = bytes + ? WHERE id = ?",
				tf, tb, cur.TokenID); err != nil {
				return err
			}
		}
		if e := control.TransitionAudit(c); e != nil {
			if err := t.appendAudit(*e); err != nil {
				return err
			}
		}
		out = &next
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upload %s to %s: %w", id, to, err)
	}
	return out, nil
}

// ClaimOverdue leases overdue active uploads. Being the only writer (and SQLite's file lock
// serialising writers of other Stores), the select and the lease update cannot interleave with
// another claim.
func (s *Store) ClaimOverdue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]control.Upload, error) {
	if err := control.CheckClaim(limit, lease); err != nil {
		return nil, err
	}
	var out []control.Upload
	err := s.w.do(ctx, func(t *tx) error {
		out = out[:0]
		rows, err := t.query(`UPDATE uploads SET lease_until = ? WHERE id IN (
				SELECT id FROM uploads WHERE state IN ('pending', 'uploading') AND expires < ? AND lease_until < ?
				ORDER BY expires LIMIT ?)
			RETURNING `+uploadCols, micros(now.Add(lease)), micros(now), micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUpload(rows)
			if err != nil {
				return err
			}
			out = append(out, *u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim overdue uploads: %w", err)
	}
	slices.SortFunc(out, func(a, b control.Upload) int { return a.Expires.Compare(b.Expires) })
	return out, nil
}

// Usage returns what counts against the user's quota.
func (s *Store) Usage(ctx context.Context, userID string) (control.Usage, error) {
	var u control.Usage
	if err := s.queryRow(ctx, "SELECT bytes, pending FROM usage WHERE user_id = ?", userID).Scan(&u.Bytes, &u.Pending); err != nil {
		return u, fmt.Errorf("usage of %s: %w", userID, notFound(err))
	}
	return u, nil
}

func scanUpload(r rowScanner) (*control.Upload, error) {
	var u control.Upload
	var state string
	var expires, created, updated int64
	var completed sql.NullInt64
	var meta string
	if err := r.Scan(&u.ID, &u.UserID, &u.Key, &u.Filename, &u.ContentType, &u.Size, &u.SHA256, &state,
		&u.MultipartID, &u.PartSize, &u.PartCount, &u.Nonce, &expires, &created, &updated, &completed,
		&u.ETag, &u.FailReason, &u.MaxSize, &u.TokenID, &u.Subject, &meta, &u.MD5, &u.CRC32C); err != nil {
		return nil, err
	}
	var err error
	if u.Metadata, err = control.DecodeMetadata(meta); err != nil {
		return nil, err
	}
	u.State = control.UploadState(state)
	u.Expires, u.Created, u.Updated = fromMicros(expires), fromMicros(created), fromMicros(updated)
	u.Completed = fromNullMicros(completed)
	return &u, nil
}
