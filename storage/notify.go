package storage

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"

	"presign/events"
)

// EventLog is a durable log of storage events; events/outbox.Log implements it. Append must
// have made the entries durable when it returns nil.
type EventLog interface {
	Append(ctx context.Context, entries []events.Entry) error
}

// ReservedEventLog is an EventLog that holds room back for the events of deletes;
// events/outbox.Log implements it. A delete, which is how a full disk gets space back, asks Room
// before it removes anything and is refused with 507 when it reports false; its event is then
// appended with AppendReserved, which may use the room held back. So a delete on a full disk is
// either refused, changing nothing, or done with its event queued — never done without it.
type ReservedEventLog interface {
	EventLog
	// Room reports whether AppendReserved can be expected to find room for an event.
	Room() bool
	// AppendReserved is Append, which may use the room held back when the disk is full.
	AppendReserved(ctx context.Context, entries []events.Entry) error
}

// roomForRemoval refuses a delete, before it changes anything, when the event log can have no
// room for its event.
func (s *Server) roomForRemoval() error {
	if l, ok := s.cfg.Events.(ReservedEventLog); ok && !l.Room() {
		return fmt.Errorf("no room for a delete's event: %w", ErrStorageFull)
	}
	return nil
}

// emit records the event of a change that has just been committed, before the client is
// answered: when it fails the client gets a 500 and retries, so that an acknowledged change
// always has its event. The entry's sequence is the change's Sequencer, so the log orders
// the events of a key as the changes were made.
func (s *Server) emit(ctx context.Context, r *http.Request, req *request, name events.Name, key string, info ObjectInfo) error {
	return s.emitAs(ctx, r, req, events.NewID(), name, key, info)
}

// emitAs is emit with the event id given: a change that can be recorded twice (a replayed
// completion) gives both records the same id, which receivers apply once.
func (s *Server) emitAs(ctx context.Context, r *http.Request, req *request, id string, name events.Name, key string, info ObjectInfo) error {
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
	entry := events.Entry{Seq: info.Sequencer, ID: id, Key: req.bucket + "/" + key, Body: body}
	appendTo := s.cfg.Events.Append
	if l, ok := s.cfg.Events.(ReservedEventLog); ok && name == events.ObjectRemovedDelete {
		appendTo = l.AppendReserved
	}
	if err := appendTo(context.WithoutCancel(ctx), []events.Entry{entry}); err != nil {
		return fmt.Errorf("record %s event of %s/%s: %w", name, req.bucket, key, err)
	}
	return nil
}

// completionEventID is the event id of a multipart completion: the first 128 bits of a SHA-256
// of what identifies the completion, in the alphabet and length of events.NewID. A replayed
// completion, on this node or another, re-records its event under the first one's id, so when
// the first was already delivered (and has left the log, which can then no longer refuse the
// repeat) receivers still apply it once. The upload id is random, so the ids stay unique.
func completionEventID(bucket, key, uploadID string, seq uint64) string {
	h := sha256.New()
	for _, s := range []string{"CompleteMultipartUpload", bucket, key, uploadID} {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	h.Write(binary.BigEndian.AppendUint64(nil, seq))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:16])
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
