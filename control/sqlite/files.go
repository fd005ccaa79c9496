package sqlite

import (
	"context"
	"errors"
	"fmt"

	"presign/control"
)

const fileCols = "id, user_id, object_key, filename, content_type, size, sha256, etag, created, subject, metadata, md5, crc32c"

// File returns the live file with the id.
func (s *Store) File(ctx context.Context, id string) (*control.File, error) {
	f, err := scanFile(s.queryRow(ctx, "SELECT "+fileCols+" FROM files WHERE id = ? AND deleted IS NULL", id))
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
	var created int64
	var cursorID string
	if after != "" {
		if err := s.queryRow(ctx, "SELECT created, id FROM files WHERE id = ? AND user_id = ?", after, userID).
			Scan(&created, &cursorID); err != nil {
			if err = notFound(err); errors.Is(err, control.ErrNotFound) {
				return page, fmt.Errorf("list files: %w: unknown cursor", control.ErrInvalid)
			}
			return page, fmt.Errorf("list files: %w", err)
		}
	} else {
		created = 1<<63 - 1 // after every file
	}
	rows, err := s.query(ctx, "SELECT "+fileCols+` FROM files
		WHERE user_id = ? AND deleted IS NULL AND (created, id) < (?, ?)
		ORDER BY created DESC, id DESC LIMIT ?`, userID, created, cursorID, limit+1)
	if err != nil {
		return page, fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return page, fmt.Errorf("list files: %w", err)
		}
		page.Files = append(page.Files, *f)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list files: %w", err)
	}
	if len(page.Files) > limit {
		page.Files = page.Files[:limit]
		page.Next = page.Files[limit-1].ID
	}
	return page, nil
}

func scanFile(r rowScanner) (*control.File, error) {
	var f control.File
	var created int64
	var meta string
	if err := r.Scan(&f.ID, &f.UserID, &f.Key, &f.Filename, &f.ContentType, &f.Size, &f.SHA256, &f.ETag, &created, &f.Subject, &meta, &f.MD5, &f.CRC32C); err != nil {
		return nil, err
	}
	f.Created = fromMicros(created)
	var err error
	if f.Metadata, err = control.DecodeMetadata(meta); err != nil {
		return nil, err
	}
	return &f, nil
}
