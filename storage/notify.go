package storage

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"presign/events"
	"presign/events/outbox"
)

// EventLog is a durable log of storage events; events/outbox.Log implements it. Append must
// have made the entries durable when it returns nil.
type EventLog interface {
	Append(ctx context.Context, entries []outbox.Entry) error
}

// emit records the event of a change that has just been committed, before the client is
// answered: when it fails the client gets a 500 and retries, so that an acknowledged change
// always has its event. The entry's sequence is the change's Sequencer, so the log orders
// the events of a key as the changes were made.
func (s *Server) emit(ctx context.Context, r *http.Request, req *request, name events.Name, key string, info ObjectInfo) error {
	if s.cfg.Events == nil {
		return nil
	}
	principal := ""
	if req.auth != nil {
		principal = req.auth.AccessKeyID
	}
	if req.principal != "" {
		principal = req.principal
	}
	rec := events.NewRecord(events.ObjectEvent{
		Name: name, Time: s.now(), Region: s.cfg.Region,
		Bucket: req.bucket, Key: key, Size: info.Size, ETag: info.ETag,
		ContentType: info.Meta.ContentType, UserMetadata: info.Meta.User, Sequencer: info.Sequencer,
		RequestID: req.id, HostID: s.hostID, SourceIP: clientIP(r), Principal: principal,
	})
	body, err := events.Marshal(rec)
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	entry := outbox.Entry{Seq: info.Sequencer, ID: events.NewID(), Key: req.bucket + "/" + key, Body: body}
	if err := s.cfg.Events.Append(context.WithoutCancel(ctx), []outbox.Entry{entry}); err != nil {
		return fmt.Errorf("record %s event of %s/%s: %w", name, req.bucket, key, err)
	}
	return nil
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
