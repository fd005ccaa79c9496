package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"presign/events"
)

// EventResult says what a webhook delivery did.
type EventResult struct {
	ID string `json:"event_id"`
	// Duplicate is true when the event id was seen before: the delivery changed nothing new.
	Duplicate bool `json:"duplicate"`
	// Records is the number of records in the delivery about this service's uploads.
	Records int `json:"records"`
}

// HandleEvents applies one webhook delivery of the storage node. The delivery must be signed
// with one of the configured secrets within the tolerance (events.Verify); anything else is
// refused (401). Each record is a hint, never the truth: the object is checked with HEAD
// before an upload changes state.
//
// The event is applied and then its id is recorded, so a delivery that fails halfway is
// retried whole by the sender; applying is idempotent (compare-and-set transitions), so a
// duplicate — a retry, or a replay inside the tolerance — changes nothing and is answered
// 200 with Duplicate set, as the sender's contract asks.
func (s *Service) HandleEvents(ctx context.Context, header http.Header, body []byte) (*EventResult, error) {
	if len(s.cfg.EventSecrets) == 0 {
		return nil, errorf(http.StatusNotFound, CodeEventsDisabled, "this control plane has no webhook secret; storage events are not accepted")
	}
	now := s.now()
	id, err := events.Verify(header, body, s.cfg.EventSecrets, now, s.cfg.EventTolerance)
	if err != nil {
		reason := "forged"
		if errors.Is(err, events.ErrStaleTimestamp) || errors.Is(err, events.ErrFutureTimestamp) {
			reason = "stale"
		}
		s.metrics.events.WithLabelValues(reason).Inc()
		return nil, errorf(http.StatusUnauthorized, CodeBadSignature, "delivery refused: %v", err)
	}
	msg, err := events.Parse(body)
	if err != nil {
		s.metrics.events.WithLabelValues("malformed").Inc()
		return nil, invalid("delivery body: %v", err)
	}
	res := &EventResult{ID: id}
	for _, rec := range msg.Records {
		n, err := s.applyRecord(ctx, rec)
		if err != nil {
			s.metrics.events.WithLabelValues("failed").Inc()
			return nil, fmt.Errorf("event %s: %w", id, err)
		}
		res.Records += n
	}
	first, err := s.store.MarkEventSeen(ctx, id, now)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", id, err)
	}
	res.Duplicate = !first
	if res.Duplicate {
		s.metrics.events.WithLabelValues("duplicate").Inc()
	} else {
		s.metrics.events.WithLabelValues("applied").Inc()
	}
	return res, nil
}

// applyRecord applies one event record and reports whether it was about one of the uploads.
func (s *Service) applyRecord(ctx context.Context, rec events.Record) (int, error) {
	if rec.S3.Bucket.Name != s.cfg.Bucket {
		return 0, nil
	}
	key, err := rec.S3.Object.DecodedKey()
	if err != nil || !strings.HasPrefix(key, "u/") {
		return 0, nil
	}
	u, err := s.store.UploadByKey(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	name := string(rec.EventName)
	switch {
	case strings.HasPrefix(name, "s3:ObjectCreated:"):
		return 1, s.objectCreated(ctx, u, rec)
	case strings.HasPrefix(name, "s3:ObjectRemoved:"):
		return 1, s.objectRemoved(ctx, u)
	}
	return 0, nil
}

func (s *Service) objectCreated(ctx context.Context, u *Upload, rec events.Record) error {
	switch {
	case u.State.Active():
		_, err := s.settle(ctx, u, sourceEvent)
		if errors.Is(err, ErrNoObject) {
			// The object is gone again already; the reconciler settles the upload at its deadline.
			return nil
		}
		return err
	case u.State == StateCompleted:
		if etag := strings.Trim(rec.S3.Object.ETag, `"`); etag != "" && etag != u.ETag {
			s.log.WarnContext(ctx, "the object of a completed upload was overwritten", "upload", u.ID, "key", u.Key)
			s.audit(ctx, AuditEntry{UserID: u.UserID, Action: "object.overwritten", UploadID: u.ID, Key: u.Key})
		}
		return nil
	}
	// The upload ended (failed, expired, deleted) before this object arrived: nothing refers to
	// it, so it must not stay and count nowhere.
	if err := s.objects.Delete(ctx, u.Key); err != nil {
		return err
	}
	s.audit(ctx, AuditEntry{UserID: u.UserID, Action: "object.stray_deleted", UploadID: u.ID, Key: u.Key,
		Details: map[string]string{"state": string(u.State)}})
	return nil
}

// objectRemoved marks a completed upload's file deleted when its object was removed from the
// store behind the service's back. When the service deleted it itself the upload is already
// deleted and the transition finds nothing to do.
func (s *Service) objectRemoved(ctx context.Context, u *Upload) error {
	if u.State != StateCompleted {
		return nil
	}
	if _, err := s.objects.Head(ctx, u.Key); err == nil {
		return nil // re-created since; the removal is old news
	} else if !errors.Is(err, ErrNoObject) {
		return err
	}
	_, err := s.transition(ctx, u.ID, []UploadState{StateCompleted}, StateDeleted,
		Change{At: s.now(), FailReason: "the object was removed from storage"})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	return err
}
