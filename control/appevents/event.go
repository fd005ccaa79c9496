package appevents

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// Type is what happened to an upload. The application subscribes to types.
type Type string

// The event types: one ending per upload (completed, failed or expired), and the deletion of a
// completed upload's file.
const (
	// UploadCompleted: the object is in storage, verified against its ticket; Data.File is the
	// new file.
	UploadCompleted Type = "upload.completed"
	// UploadFailed: the upload ended without a file; Data.Reason says why.
	UploadFailed Type = "upload.failed"
	// UploadExpired: the ticket ran out before the object arrived.
	UploadExpired Type = "upload.expired"
	// FileDeleted: a completed upload's file was deleted; Data.File is the file as it was.
	FileDeleted Type = "file.deleted"
)

// Types lists every event type, in the order of their bits in a Mask.
var Types = []Type{UploadCompleted, UploadFailed, UploadExpired, FileDeleted}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool { return t.bit() != 0 }

func (t Type) bit() Mask {
	for i, x := range Types {
		if x == t {
			return 1 << i
		}
	}
	return 0
}

// Mask is a set of event types, as an endpoint subscribes to them; stores keep it as an integer
// so that matching an event to its endpoints is one bitwise AND in SQL.
type Mask int64

// AllTypes is the mask of every type.
var AllTypes = MaskOf(Types...)

// MaskOf returns the set of the types. Invalid types add nothing.
func MaskOf(ts ...Type) Mask {
	var m Mask
	for _, t := range ts {
		m |= t.bit()
	}
	return m
}

// ParseTypes checks names and returns their mask; no names means every type.
func ParseTypes(names []string) (Mask, error) {
	if len(names) == 0 {
		return AllTypes, nil
	}
	var m Mask
	for _, n := range names {
		b := Type(n).bit()
		if b == 0 {
			return 0, fmt.Errorf("unknown event type %q (want one of %v)", n, Types)
		}
		m |= b
	}
	return m, nil
}

// Has reports whether m contains t.
func (m Mask) Has(t Type) bool { b := t.bit(); return b != 0 && m&b != 0 }

// Types returns m's types, in the order of Types.
func (m Mask) Types() []Type {
	out := []Type{}
	for _, t := range Types {
		if m.Has(t) {
			out = append(out, t)
		}
	}
	return out
}

// Reason says why an upload failed or expired.
type Reason string

// The reasons.
const (
	// ReasonMismatch: the stored object did not match its ticket (size, type or checksum).
	ReasonMismatch Reason = "mismatch"
	// ReasonAborted: the client (or its application) aborted the upload.
	ReasonAborted Reason = "aborted"
	// ReasonRefused: the object store refused the upload (e.g. it would not start a multipart
	// upload).
	ReasonRefused Reason = "refused"
	// ReasonExpired: the ticket ran out before the object arrived.
	ReasonExpired Reason = "expired"
)

// Event is the envelope every sink delivers, as JSON: the body of a webhook's POST and of a
// broker's message. Its ID is the Standard Webhooks message id (header webhook-id), the same
// on every attempt, so a receiver applies each event once.
type Event struct {
	ID   string    `json:"id"`
	Type Type      `json:"type"`
	Time time.Time `json:"timestamp"`
	// Sequence numbers the events of one upload from 1, in the order of its transitions, so
	// a receiver can tell a late upload.completed from the file.deleted that followed it.
	Sequence int64 `json:"sequence"`
	Data     Data  `json:"data"`
}

// Data is what an event is about.
type Data struct {
	UploadID string `json:"upload_id"`
	UserID   string `json:"user_id"`
	// Subject is the application's own name for who uploaded (an upload token's subject);
	// omitted when none was given.
	Subject string `json:"subject,omitempty"`
	// File is the file record of upload.completed and file.deleted.
	File *File `json:"file,omitempty"`
	// Upload is the upload record of upload.failed and upload.expired.
	Upload *Upload `json:"upload,omitempty"`
	// Reason and Detail say why an upload failed or expired; Detail is for people.
	Reason Reason `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// File is a completed upload's file, with the control plane API's field names.
type File struct {
	ID          string            `json:"id"`
	Key         string            `json:"key"`
	Filename    string            `json:"filename"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256,omitempty"` // hex, when the uploader declared it
	MD5         string            `json:"md5,omitempty"`    // hex, when the uploader declared it
	CRC32C      string            `json:"crc32c,omitempty"` // hex (big-endian), when the uploader declared it
	ETag        string            `json:"etag"`
	Subject     string            `json:"subject,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created_at"`
	Deleted     *time.Time        `json:"deleted_at,omitempty"`
}

// Upload is an upload that ended without a file.
type Upload struct {
	ID          string            `json:"id"`
	Key         string            `json:"key"`
	Filename    string            `json:"filename"`
	ContentType string            `json:"content_type"`
	Size        int64             `json:"size"`
	SHA256      string            `json:"sha256,omitempty"`
	MD5         string            `json:"md5,omitempty"`
	CRC32C      string            `json:"crc32c,omitempty"`
	State       string            `json:"state"`
	Subject     string            `json:"subject,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	Created     time.Time         `json:"created_at"`
}

// Validate reports whether e can be delivered: an id, a known type, a time, a sequence from 1,
// an upload id, and the record its type carries.
func (e *Event) Validate() error {
	switch {
	case CheckID(e.ID) != nil:
		return CheckID(e.ID)
	case !e.Type.Valid():
		return fmt.Errorf("appevents: unknown event type %q", e.Type)
	case e.Time.IsZero() || e.Sequence < 1 || e.Data.UploadID == "":
		return fmt.Errorf("appevents: event %s needs a time, a sequence from 1 and an upload id", e.ID)
	case (e.Type == UploadCompleted || e.Type == FileDeleted) && e.Data.File == nil:
		return fmt.Errorf("appevents: %s event %s needs its file", e.Type, e.ID)
	case (e.Type == UploadFailed || e.Type == UploadExpired) && (e.Data.Upload == nil || e.Data.Reason == ""):
		return fmt.Errorf("appevents: %s event %s needs its upload and a reason", e.Type, e.ID)
	}
	return nil
}

// Marshal validates e and returns its JSON: the exact bytes that are stored, signed and
// delivered on every attempt.
func (e *Event) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	return json.Marshal(e)
}

// idPrefix marks an event id, so a log line or a support request tells it from other ids.
const idPrefix = "evt_"

// NewID returns a fresh event id: "evt_" and 26 characters of 128 random bits.
func NewID() string { return idPrefix + rand.Text() }

// CheckID reports whether id can be an event id: 1 to 128 bytes of [A-Za-z0-9_-]. The id is
// signed as "<id>.<timestamp>.<body>", and headers and message ids carry it, so the alphabet is
// kept narrow.
func CheckID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("appevents: event id of %d bytes (want 1 to 128)", len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("appevents: event id has a byte outside [A-Za-z0-9_-] at %d", i)
		}
	}
	return nil
}
