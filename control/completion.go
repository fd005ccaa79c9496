package control

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"presign/control/appevents"
)

// Where the service learned what became of an upload: the label of its metrics and audit.
const (
	sourceEvent      = "event"
	sourceClient     = "client"
	sourceReconciler = "reconciler"
)

// verifyObject compares the stored object with its upload's ticket: no stored header that
// downloads would replay (replayedMismatch), size, content type, and the declared checksums the
// store reports (checksumMismatch). It returns the object's description and, when they differ,
// why; ErrNoObject when nothing is stored.
func (s *Service) verifyObject(ctx context.Context, u *Upload) (ObjectInfo, string, error) {
	info, err := s.objects.Head(ctx, u.Key)
	if err != nil {
		return info, "", err
	}
	// Headers first: a store may report the size of the bytes a stored Content-Encoding
	// decodes to (fake-gcs-server does), and the header is the cause to name.
	if why := replayedMismatch(info.Replayed); why != "" {
		return info, why, nil
	}
	switch {
	case u.MaxSize > 0:
		if why := sizeWithin(info.Size, u.MaxSize); why != "" {
			return info, why, nil
		}
	case info.Size != u.Size:
		return info, fmt.Sprintf("size: stored %d bytes, declared %d", info.Size, u.Size), nil
	}
	switch {
	case !strings.EqualFold(strings.TrimSpace(info.ContentType), u.ContentType):
		return info, fmt.Sprintf("content type: stored %q, declared %q", info.ContentType, u.ContentType), nil
	case u.SHA256 != "" && u.PartCount == 0 && info.SHA256 != "":
		sum, _ := hex.DecodeString(u.SHA256)
		if info.SHA256 != base64.StdEncoding.EncodeToString(sum) {
			return info, "checksum: stored sha256 differs from the declared one", nil
		}
	}
	return info, s.checksumMismatch(u, info), nil
}

// settle looks at the object of an active upload and moves the upload to completed when the
// object matches its ticket, or to failed (deleting the object) when it does not. Every path
// that learns of an upload's end goes through here; the transitions are compare-and-set, so of
// concurrent settles (event, client, reconciler, other replicas) one changes the upload and the
// others see the result. It returns the upload as it is afterwards, and ErrNoObject (with the
// upload unchanged) when no object is stored yet.
func (s *Service) settle(ctx context.Context, u *Upload, source string) (*Upload, error) {
	info, mismatch, err := s.verifyObject(ctx, u)
	if err != nil {
		return u, err
	}
	active := []UploadState{StatePending, StateUploading}
	if mismatch != "" {
		nu, err := s.transition(ctx, u.ID, active, StateFailed,
			Change{At: s.now(), FailReason: "the object does not match its ticket: " + mismatch, Reason: appevents.ReasonMismatch,
				Audit: &AuditEntry{UserID: u.UserID, Action: "upload.fail", UploadID: u.ID, Key: u.Key,
					Details: map[string]string{"source": source, "reason": mismatch}}})
		if errors.Is(err, ErrStateConflict) {
			return s.store.Upload(ctx, u.ID)
		}
		if err != nil {
			return u, fmt.Errorf("fail upload: %w", err)
		}
		if err := s.objects.Delete(ctx, u.Key); err != nil {
			s.log.WarnContext(ctx, "deleting a mismatching object; it stays until deleted by hand", "upload", u.ID, "err", err)
		}
		s.metrics.completions.WithLabelValues(source, string(StateFailed)).Inc()
		return nu, nil
	}
	nu, err := s.transition(ctx, u.ID, active, StateCompleted, Change{At: s.now(), ETag: info.ETag, Size: info.Size,
		Audit: &AuditEntry{UserID: u.UserID, Action: "upload.complete", UploadID: u.ID, Key: u.Key,
			Details: map[string]string{"source": source}}})
	if errors.Is(err, ErrStateConflict) {
		return s.store.Upload(ctx, u.ID)
	}
	if err != nil {
		return u, fmt.Errorf("complete upload: %w", err)
	}
	s.metrics.completions.WithLabelValues(source, string(StateCompleted)).Inc()
	return nu, nil
}

// CompleteUpload is the client's word that its upload is done. The service does not take the
// word: it checks the object store (HEAD: size, type, checksum) and completes or fails the
// upload by what it finds. For a multipart upload it first assembles the parts the client lists
// (or, when it lists none, those the store holds). Completing a completed upload returns its
// file again.
func (s *Service) CompleteUpload(ctx context.Context, p *Principal, id string, parts []Part) (*FileView, error) {
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.completeUpload(ctx, u, parts)
}

// completeUpload is CompleteUpload of the caller's upload u.
func (s *Service) completeUpload(ctx context.Context, u *Upload, parts []Part) (*FileView, error) {
	id := u.ID
	var err error
	if u.State == StateUploading && u.MultipartID != "" {
		if err := s.completeMultipart(ctx, u, parts); err != nil {
			return nil, err
		}
	}
	wasActive := u.State.Active()
	if wasActive {
		if u, err = s.settle(ctx, u, sourceClient); errors.Is(err, ErrNoObject) {
			return nil, errorf(http.StatusConflict, CodeNotUploaded, "upload %s: the object has not arrived in storage yet", id)
		} else if err != nil {
			return nil, err
		}
	}
	switch u.State {
	case StateCompleted:
		f, err := s.store.File(ctx, u.ID)
		if err != nil {
			return nil, fmt.Errorf("file of completed upload: %w", err)
		}
		v := viewFile(f)
		return &v, nil
	case StateFailed:
		if !wasActive {
			return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s failed before: %s", id, u.FailReason)
		}
		return nil, errorf(http.StatusUnprocessableEntity, CodeObjectMismatch, "upload %s failed: %s", id, u.FailReason)
	}
	return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is %s", id, u.State)
}

// completeMultipart asks the store to assemble the upload's parts. A store that no longer knows
// the multipart upload may have completed it for another caller already; settle finds out.
func (s *Service) completeMultipart(ctx context.Context, u *Upload, given []Part) error {
	parts, err := s.assembleParts(ctx, u, given)
	if errors.Is(err, ErrNoMultipart) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.objects.CompleteMultipart(ctx, u.Key, u.MultipartID, parts)
	switch {
	case errors.Is(err, ErrNoMultipart):
		return nil
	case errors.Is(err, ErrBadParts):
		return errorf(http.StatusConflict, CodeNotUploaded, "upload %s: the store cannot assemble these parts (%v); upload the missing parts or send the ETags it returned", u.ID, err)
	}
	return err
}

// AbortUpload ends the caller's active upload: it becomes failed ("aborted"), its quota is
// freed, and whatever reached the store is discarded.
func (s *Service) AbortUpload(ctx context.Context, p *Principal, id, addr string) (*UploadView, error) {
	u, err := s.ownUpload(ctx, p, id)
	if err != nil {
		return nil, err
	}
	return s.abortUpload(ctx, p, u, addr)
}

// abortUpload is AbortUpload of the caller's upload u.
func (s *Service) abortUpload(ctx context.Context, p *Principal, u *Upload, addr string) (*UploadView, error) {
	id := u.ID
	if !u.State.Active() {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s is %s; only a pending or uploading upload can be aborted (delete a file with DELETE /v1/files/{id})", id, u.State)
	}
	nu, err := s.transition(ctx, u.ID, []UploadState{StatePending, StateUploading}, StateFailed,
		Change{At: s.now(), FailReason: "aborted by the client", Reason: appevents.ReasonAborted,
			Audit: &AuditEntry{UserID: p.User.ID, Action: "upload.abort", UploadID: u.ID, Key: u.Key, RemoteAddr: addr}})
	if errors.Is(err, ErrStateConflict) {
		return nil, errorf(http.StatusConflict, CodeStateConflict, "upload %s changed state meanwhile", id)
	}
	if err != nil {
		return nil, fmt.Errorf("abort upload: %w", err)
	}
	s.discard(ctx, nu)
	v := viewUpload(nu)
	return &v, nil
}

// discard removes what an ended upload may have left in the store: its multipart upload and
// parts, and an object that landed anyway. Failures are logged; nothing refers to the leftovers.
func (s *Service) discard(ctx context.Context, u *Upload) {
	ctx = context.WithoutCancel(ctx)
	if u.MultipartID != "" {
		if err := s.objects.AbortMultipart(ctx, u.Key, u.MultipartID); err != nil {
			s.log.WarnContext(ctx, "aborting a multipart upload", "upload", u.ID, "err", err)
		}
	}
	if err := s.objects.Delete(ctx, u.Key); err != nil {
		s.log.WarnContext(ctx, "deleting the object of an ended upload", "upload", u.ID, "err", err)
	}
}

// ownUpload returns the upload if it is the caller's; another user's upload does not exist,
// and for an upload token neither does any upload it did not create.
func (s *Service) ownUpload(ctx context.Context, p *Principal, id string) (*Upload, error) {
	u, err := s.store.Upload(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (u.UserID != p.User.ID || (p.UploadToken != nil && u.TokenID != p.UploadToken.ID))) {
		return nil, notFoundErr("upload")
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	return u, nil
}
