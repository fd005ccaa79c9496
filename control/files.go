package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// FileView is a file as the API shows it.
type FileView struct {
	ID          string            `json:"id"`
	Key         string            `json:"key"`
	Filename    string            `json:"filename"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256,omitempty"`
	MD5         string            `json:"md5,omitempty"`
	CRC32C      string            `json:"crc32c,omitempty"`
	ETag        string            `json:"etag"`
	Subject     string            `json:"subject,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created_at"`
}

func viewFile(f *File) FileView {
	return FileView{ID: f.ID, Key: f.Key, Filename: f.Filename, ContentType: f.ContentType, Size: f.Size,
		SHA256: f.SHA256, MD5: f.MD5, CRC32C: f.CRC32C, ETag: f.ETag, Subject: f.Subject, Metadata: f.Metadata, Created: f.Created}
}

// UploadView is an upload as the API shows it.
type UploadView struct {
	ID          string            `json:"id"`
	Key         string            `json:"key"`
	Filename    string            `json:"filename"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256,omitempty"`
	MD5         string            `json:"md5,omitempty"`
	CRC32C      string            `json:"crc32c,omitempty"`
	State       UploadState       `json:"state"`
	Multipart   bool              `json:"multipart"`
	PartSize    int64             `json:"part_size,omitempty"`
	PartCount   int               `json:"part_count,omitempty"`
	Expires     time.Time         `json:"expires_at"`
	Created     time.Time         `json:"created_at"`
	Updated     time.Time         `json:"updated_at"`
	Completed   *time.Time        `json:"completed_at,omitempty"`
	FailReason  string            `json:"fail_reason,omitempty"`
	MaxSize     int64             `json:"max_size,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

func viewUpload(u *Upload) UploadView {
	v := UploadView{ID: u.ID, Key: u.Key, Filename: u.Filename, ContentType: u.ContentType, Size: u.Size, SHA256: u.SHA256, MD5: u.MD5, CRC32C: u.CRC32C,
		State: u.State, Multipart: u.PartCount > 0 || u.ClientChunked(), PartSize: u.PartSize, PartCount: u.PartCount,
		Expires: u.Expires, Created: u.Created, Updated: u.Updated, FailReason: u.FailReason, MaxSize: u.MaxSize, Subject: u.Subject,
		Metadata: u.Metadata}
	if !u.Completed.IsZero() {
		v.Completed = &u.Completed
	}
	return v
}

// Upload returns the caller's upload.
func (s *Service) Upload(ctx context.Context, p *Principal, id string) (*UploadView, error) {
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	v := viewUpload(u)
	return &v, nil
}

// FileList is one page of files, newest first.
type FileList struct {
	Files []FileView `json:"files"`
	// Next is the cursor of the next page (pass it as ?after=), empty on the last page.
	Next string `json:"next,omitempty"`
}

// ListFiles returns a page of the caller's files.
func (s *Service) ListFiles(ctx context.Context, p *Principal, after string, limit int) (*FileList, error) {
	page, err := s.store.ListFiles(ctx, p.User.ID, after, limit)
	if errors.Is(err, ErrInvalid) {
		return nil, invalid("after is not a cursor of your file list")
	}
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	out := &FileList{Files: make([]FileView, len(page.Files)), Next: page.Next}
	for i := range page.Files {
		out.Files[i] = viewFile(&page.Files[i])
	}
	return out, nil
}

// ownFile returns the file if it is the caller's; another user's file does not exist.
func (s *Service) ownFile(ctx context.Context, p *Principal, id string) (*File, error) {
	f, err := s.store.File(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && f.UserID != p.User.ID) {
		return nil, notFoundErr("file")
	}
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", id, err)
	}
	return f, nil
}

// File returns the caller's file.
func (s *Service) File(ctx context.Context, p *Principal, id string) (*FileView, error) {
	f, err := s.ownFile(ctx, p, id)
	if err != nil {
		return nil, err
	}
	v := viewFile(f)
	return &v, nil
}

// Download is a presigned GET of a file.
type Download struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires_at"`
}

// DownloadURL signs a GET of the caller's file for the policy's TTL. The store answers it with
// Content-Disposition: attachment and the original file name (RFC 6266, filename* for names
// that are not plain ASCII). The audit entry is durable before the URL is returned, except on a
// full database, where the URL is still issued and the entry is logged instead.
func (s *Service) DownloadURL(ctx context.Context, p *Principal, id, addr string) (*Download, error) {
	return s.ShareURL(ctx, p, id, 0, addr)
}

// ShareURL is DownloadURL with a chosen lifetime, for a link handed to someone else: ttl zero
// means the policy's TTL, and a ttl above it is refused (403 ttl_too_long), so a share never
// outlives what the policy allows.
func (s *Service) ShareURL(ctx context.Context, p *Principal, id string, ttl time.Duration, addr string) (*Download, error) {
	if ttl < 0 {
		return nil, invalid("ttl_seconds must be positive")
	}
	f, err := s.ownFile(ctx, p, id)
	if err != nil {
		return nil, err
	}
	pol, err := s.effectivePolicy(ctx, p.User)
	if err != nil {
		return nil, err
	}
	switch limit := pol.urlTTL(); {
	case ttl == 0:
		ttl = limit
	case ttl > limit:
		return nil, s.refuse("url_ttl_seconds", errorf(http.StatusForbidden, CodeTTLTooLong,
			"ttl_seconds %d exceeds url_ttl_seconds %d of your policy", int64(ttl/time.Second), int64(limit/time.Second)))
	}
	now := s.now()
	entry := AuditEntry{At: now, UserID: p.User.ID, Action: "file.download", UploadID: f.ID, Key: f.Key,
		RemoteAddr: addr, Details: map[string]string{"expires": now.Add(ttl).UTC().Format(time.RFC3339)}}
	if err := s.audit(ctx, entry); errors.Is(err, ErrStoreFull) {
		// Reading one's own file matters more than the audit row of the read: on a full
		// database the URL is still issued, and the entry goes to the log in its place.
		s.log.WarnContext(ctx, "download URL issued without its audit entry: the database is full",
			"user", entry.UserID, "file", entry.UploadID, "key", entry.Key, "remote_addr", addr, "expires", entry.Details["expires"])
	} else if err != nil {
		return nil, err
	}
	ext, err := s.extensions(ctx)
	if err != nil {
		return nil, err
	}
	var signed string
	if p := s.urlSigner(); p != nil {
		signed, err = p.SignDownload(f.Key, ContentDisposition(f.Filename), f.ContentType, now, ttl)
	} else {
		// private: a shared cache must not keep the file, which would outlive its deletion
		// and the revocation of its links. The signature covers it, so no holder can change it.
		q := url.Values{"response-content-disposition": {ContentDisposition(f.Filename)}, "response-cache-control": {"private"}}
		revocable(q, f.ID, f.UserID, ext)
		signed, err = s.presign(http.MethodGet, f.Key, q, nil, now, ttl)
	}
	if err != nil {
		return nil, err
	}
	s.metrics.downloads.Inc()
	return &Download{URL: signed, Expires: now.Add(ttl).UTC().Truncate(time.Microsecond)}, nil
}

// DeleteFile removes the caller's file: first the record (the upload moves to deleted, the
// file's bytes leave the quota, the audit entry is written), then the object from the store.
// The record goes first because it is the change that may not fit: on a full database the
// delete is refused (507) with nothing changed, and the file still reads back. Once the
// record is written the file is deleted for every caller; an object the store then fails to
// remove is left behind with no record, logged with its key, and the delete is answered as
// done, since it is: a retry would find no file.
func (s *Service) DeleteFile(ctx context.Context, p *Principal, id, addr string) error {
	f, err := s.ownFile(ctx, p, id)
	if err != nil {
		return err
	}
	entry := AuditEntry{UserID: p.User.ID, Action: "file.delete", UploadID: f.ID, Key: f.Key, RemoteAddr: addr}
	_, err = s.transition(ctx, f.ID, []UploadState{StateCompleted}, StateDeleted, Change{At: s.now(), Audit: &entry})
	if errors.Is(err, ErrStateConflict) {
		// Deleted meanwhile, by another call or by the store's ObjectRemoved event.
		return notFoundErr("file")
	}
	if err != nil {
		return fmt.Errorf("delete file: %w", err)
	}
	if err := s.objects.Delete(ctx, f.Key); err != nil {
		s.log.WarnContext(ctx, "file deleted, but its object is left in the store", "file", f.ID, "key", f.Key, "err", err)
	}
	return nil
}

// ContentDisposition returns an attachment disposition carrying name (RFC 6266): a quoted
// ASCII filename for every client, and filename* (RFC 8187, UTF-8) when the name has
// characters the quoted form cannot carry. Only the name's last path segment is carried, and
// bidirectional controls are dropped, for names recorded before tickets refused them.
func ContentDisposition(name string) string {
	name = strings.Map(func(r rune) rune {
		if isBidi(r) {
			return -1
		}
		return r
	}, lastSegment(name))
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r == '"' || r == '\\':
			ascii.WriteByte('_')
			plain = false
		case r < ' ' || r == 0x7f:
			ascii.WriteByte('_')
			plain = false
		case r >= utf8.RuneSelf:
			ascii.WriteByte('_')
			plain = false
		default:
			ascii.WriteRune(r)
		}
	}
	out := `attachment; filename="` + ascii.String() + `"`
	if plain {
		return out
	}
	return out + "; filename*=UTF-8''" + encodeRFC8187(name)
}

// encodeRFC8187 percent-encodes every byte that is not an attr-char.
func encodeRFC8187(s string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(attrChar, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
