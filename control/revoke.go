package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"presign/extension"
)

// Revoking URLs before they expire is an extension of presign's storage nodes (see
// docs/revocation.md): every URL the service signs for such a node carries, signed, the id of
// its upload (X-Presign-Id; a file keeps its upload's id) and of its owner (X-Presign-User).
// A ticket revocation withdraws every URL of one upload or file signed until now (the PUT, its
// parts, its downloads and share links): the file stays downloadable through URLs signed
// afterwards, so GET /v1/files/{id}/download keeps working. A user revocation withdraws every
// URL of the user signed until now. The service tells the storage through an Objects that implements Revoker.

const (
	// revocationLife is how long a node keeps a revocation: the longest any presigned URL
	// can live, so every URL it withdraws has expired by the time it is forgotten.
	revocationLife = 7 * 24 * time.Hour
)

// Revocation withdraws presigned URLs signed before Before: those of the upload ID, or, when
// User is set, those of the user. Until is when the storage may forget it.
type Revocation struct {
	ID     string
	User   string
	Before time.Time
	Until  time.Time
}

// Revoker is an Objects that can withdraw presigned URLs before they expire. Revoke returns
// once every revocation is recorded durably where the storage checks it; it is idempotent.
type Revoker interface {
	Revoke(ctx context.Context, rs []Revocation) error
}

// revocable adds to the query of a URL what lets it be revoked, on storage that can.
func revocable(q url.Values, uploadID, userID string, ext bool) {
	if ext {
		q.Set(extension.ID, uploadID)
		q.Set(extension.User, userID)
	}
}

// RevokeResult reports a revocation.
type RevokeResult struct {
	ID        string    `json:"id,omitempty"`
	User      string    `json:"user_id,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
}

// revoker returns the storage's Revoker, or an error saying why URLs cannot be revoked.
func (s *Service) revoker(ctx context.Context) (Revoker, error) {
	ext, err := s.extensions(ctx)
	if err != nil {
		return nil, err
	}
	if p := s.urlSigner(); p != nil {
		return nil, notOnProvider(p, "cannot revoke one signed URL before it expires (only every URL of its key or credential at once); URLs end at their expiry, the policy's TTL")
	}
	r, ok := s.objects.(Revoker)
	if !ext || !ok {
		return nil, errorf(http.StatusNotImplemented, CodeNotSupported,
			"the object store cannot revoke presigned URLs before they expire (it needs presign storage nodes); URLs end at their expiry")
	}
	return r, nil
}

// RevokeUpload withdraws every URL of the caller's upload or file signed until now (an admin may
// name anyone's). The upload's state does not change: new URLs signed afterwards (a download,
// part URLs) work, and an upload whose PUT URL was withdrawn simply expires.
func (s *Service) RevokeUpload(ctx context.Context, p *Principal, id, addr string) (*RevokeResult, error) {
	u, err := s.store.Upload(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && u.UserID != p.User.ID && !p.User.Admin) {
		return nil, notFoundErr("upload")
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	now := s.now()
	if err := s.revoke(ctx, Revocation{ID: u.ID, Before: now, Until: now.Add(revocationLife)}); err != nil {
		return nil, err
	}
	// The revocation has taken effect; like other after-the-fact entries, its audit entry is
	// best effort (a failure is logged by audit).
	s.audit(ctx, AuditEntry{At: now, UserID: p.User.ID, Action: "urls.revoke", UploadID: u.ID, Key: u.Key, RemoteAddr: addr})
	return &RevokeResult{ID: u.ID, RevokedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// RevokeUserURLs withdraws every URL signed so far for the user: the caller's own, or, for an
// admin, anyone's.
func (s *Service) RevokeUserURLs(ctx context.Context, p *Principal, userID, addr string) (*RevokeResult, error) {
	if userID != p.User.ID && !p.User.Admin {
		return nil, notFoundErr("user")
	}
	if _, err := s.store.User(ctx, userID); errors.Is(err, ErrNotFound) {
		return nil, notFoundErr("user")
	} else if err != nil {
		return nil, fmt.Errorf("user %s: %w", userID, err)
	}
	now := s.now()
	if err := s.revokeUser(ctx, userID, now); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEntry{At: now, UserID: p.User.ID, Action: "urls.revoke_user", RemoteAddr: addr,
		Details: map[string]string{"user": userID}})
	return &RevokeResult{User: userID, RevokedAt: now.UTC().Truncate(time.Microsecond)}, nil
}

// revokeUser withdraws the user's URLs signed before now.
func (s *Service) revokeUser(ctx context.Context, userID string, now time.Time) error {
	return s.revoke(ctx, Revocation{User: userID, Before: now, Until: now.Add(revocationLife)})
}

func (s *Service) revoke(ctx context.Context, r Revocation) error {
	rv, err := s.revoker(ctx)
	if err != nil {
		return err
	}
	if err := rv.Revoke(ctx, []Revocation{r}); err != nil {
		return errorf(http.StatusBadGateway, CodeStorageUnavailable, "the storage did not record the revocation: %v", err)
	}
	s.metrics.revocations.Inc()
	return nil
}
