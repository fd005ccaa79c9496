package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/control"
)

const fileCols = "id, user_id, object_key, filename, content_type, size, sha256, etag, created, subject, metadata, md5, crc32c"

// File returns the live file with the id.
func (s *Store) File(ctx context.Context, id string) (*control.File, error) {
	f, err := scanFile(s.db.QueryRow(ctx, "SELECT "+fileCols+" FROM files WHERE id = $1 AND deleted IS NULL", id))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", id, notFound(err))
	}
	return f, nil
}

// ListFiles returns a page of the user's live files, newest first. The cursor is the id of the
// last file of the previous page; its (created, id) bounds the next page, so a cursor stays
// valid even after its file is deleted.
func (s *Store) ListFiles(ctx context.Context, userID, after string, limit int) (control.FilePage, error) {
	var page control.FilePage
	if err := control.CheckLimit(limit); err != nil {
		return page, err
	}
	var rows pgx.Rows
	var err error
	if after == "" {
		rows, err = s.db.Query(ctx, "SELECT "+fileCols+` FROM files WHERE user_id = $1 AND deleted IS NULL
			ORDER BY created DESC, id DESC LIMIT $2`, userID, limit+1)
	} else {
		var created time.Time
		var cursorID string
		err = s.db.QueryRow(ctx, "SELECT created, id FROM files WHERE id = $1 AND user_id = $2", after, userID).
			Scan(&created, &cursorID)
		if errors.Is(err, pgx.ErrNoRows) {
			return page, fmt.Errorf("list files: %w: unknown cursor", control.ErrInvalid)
		}
		if err != nil {
			return page, fmt.Errorf("list files: %w", err)
		}
		rows, err = s.db.Query(ctx, "SELECT "+fileCols+` FROM files
			WHERE user_id = $1 AND deleted IS NULL AND (created, id) < ($2, $3)
			ORDER BY created DESC, id DESC LIMIT $4`, userID, created, cursorID, limit+1)
	}
	if err != nil {
		return page, fmt.Errorf("list files: %w", err)
	}
	if page.Files, err = collect(rows, scanFile); err != nil {
		return page, fmt.Errorf("list files: %w", err)
	}
	if len(page.Files) > limit {
		page.Files = page.Files[:limit]
		page.Next = page.Files[limit-1].ID
	}
	return page, nil
}

func scanFile(r pgx.Row) (*control.File, error) {
	var f control.File
	var meta string
	if err := r.Scan(&f.ID, &f.UserID, &f.Key, &f.Filename, &f.ContentType, &f.Size, &f.SHA256, &f.ETag, &f.Created, &f.Subject, &meta, &f.MD5, &f.CRC32C); err != nil {
		return nil, err
	}
	f.Created = f.Created.UTC()
	var err error
	if f.Metadata, err = control.DecodeMetadata(meta); err != nil {
		return nil, err
	}
	return &f, nil
}
