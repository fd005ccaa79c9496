package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// AppEvent is an application event: what became of an upload, as the control plane delivers
// it to the application's webhook or queue. ID is the same on every delivery attempt of the
// event (the webhook-id header), so an application applies each event once by remembering
// the IDs it has applied.
type AppEvent struct {
	ID   string `json:"id"`
	Type string `json:"type"` // upload.completed, upload.failed, upload.expired, file.deleted
	// Time is when the upload's transition happened.
	Time time.Time `json:"timestamp"`
	// Sequence numbers the events of one upload from 1: a receiver that sees a lower number
	// after a higher one for the same upload is seeing a late delivery.
	Sequence int64        `json:"sequence"`
	Data     AppEventData `json:"data"`
}

// The application event types.
const (
	EventUploadCompleted = "upload.completed"
	EventUploadFailed    = "upload.failed"
	EventUploadExpired   = "upload.expired"
	EventFileDeleted     = "file.deleted"
)

// AppEventData is what an event is about.
type AppEventData struct {
	UploadID string `json:"upload_id"`
	UserID   string `json:"user_id"`
	Subject  string `json:"subject,omitempty"`
	// File is set for upload.completed and file.deleted.
	File *EventFile `json:"file,omitempty"`
	// Upload is set for upload.failed and upload.expired.
	Upload *EventUpload `json:"upload,omitempty"`
	// Reason is mismatch, aborted or refused for upload.failed, expired for upload.expired;
	// Detail says more, for people.
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// EventFile is the file record an event carries.
type EventFile struct {
	File
	Subject  string            `json:"subject,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Deleted  *time.Time        `json:"deleted_at,omitempty"`
}

// EventUpload is the record of an upload that ended without a file.
type EventUpload struct {
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

// ErrEventSignature is wrapped by VerifyAppEvent's errors for a delivery that is not genuine
// or not fresh: a missing or wrong signature, or a timestamp more than five minutes from now.
var ErrEventSignature = errors.New("presign: application event signature")

// VerifyAppEvent checks a delivery the Standard Webhooks way and decodes its event: the
// webhook-signature header must hold an HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>"
// by secret (the whsec_… value the control plane gave when the endpoint was registered), and
// webhook-timestamp must lie within five minutes of now, which bounds replays. The body must be
// the exact bytes received.
//
// header may come from an HTTP request or from a broker message's headers (NATS headers
// convert with http.Header(msg.Header)); keys are matched in any case.
func VerifyAppEvent(secret string, header http.Header, body []byte) (*AppEvent, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("presign: application event secret: %w", err)
	}
	canon := make(http.Header, len(header))
	for k, v := range header {
		canon[http.CanonicalHeaderKey(k)] = v
	}
	if err := wh.Verify(body, canon); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEventSignature, err)
	}
	var e AppEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, fmt.Errorf("presign: application event body: %w", err)
	}
	if e.ID != canon.Get("Webhook-Id") {
		return nil, fmt.Errorf("%w: the body's id %q is not the signed webhook-id", ErrEventSignature, e.ID)
	}
	return &e, nil
}

// maxEventBody bounds what AppEventHandler reads of a request: events are a few KiB.
const maxEventBody = 1 << 20

// AppEventHandler returns an http.Handler for the application's webhook endpoint: it verifies
// each POST with VerifyAppEvent and calls apply with the event. It answers 204 when apply
// returns nil, which tells presign the event is delivered; 500 when apply fails, so presign
// delivers the event again later; 401 for a delivery that fails verification; 405 and 413 for
// other methods and oversized bodies. apply should be idempotent by event ID: an event whose
// answer was lost is delivered again.
func AppEventHandler(secret string, apply func(context.Context, *AppEvent) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
		if err != nil {
			http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		e, err := VerifyAppEvent(secret, r.Header, body)
		if err != nil {
			http.Error(w, "unverified event", http.StatusUnauthorized)
			return
		}
		if err := apply(r.Context(), e); err != nil {
			http.Error(w, "not applied", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
