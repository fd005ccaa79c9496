package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"presign/control/appevents"
)

// Endpoint is where an application's events go: a webhook or a message broker (see
// appevents.Open for the URLs), registered through the API or configured by the administrator.
type Endpoint struct {
	ID string
	// OwnerID is the user who registered it; empty for a configured endpoint.
	OwnerID string
	// AllUsers endpoints receive the events of every user's uploads (registered by an
	// administrator, or configured); the others those of their owner's uploads.
	AllUsers bool
	URL      string
	Events   appevents.Mask
	// Secret signs the deliveries (whsec_…). The store keeps it as given: signing needs it.
	Secret string
	// Configured endpoints come from the administrator's flags: they connect to any address
	// and are changed only by the configuration.
	Configured bool
	Created    time.Time
}

// Validate reports whether e can be recorded: an id, a URL appevents accepts, a subscription
// to at least one type, a secret appevents can sign with (a broker may have none), a time; a
// registered endpoint has an owner. It wraps ErrInvalid.
func (e *Endpoint) Validate() error {
	switch {
	case e.ID == "" || e.Created.IsZero():
		return fmt.Errorf("%w: endpoint needs an id and a created time", ErrInvalid)
	case e.Events&appevents.AllTypes == 0 || e.Events&^appevents.AllTypes != 0:
		return fmt.Errorf("%w: endpoint %s subscribes to no known event type", ErrInvalid, e.ID)
	case !e.Configured && e.OwnerID == "":
		return fmt.Errorf("%w: a registered endpoint needs its owner", ErrInvalid)
	}
	if _, err := appevents.CheckURL(e.URL); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if e.Secret == "" && isWebhook(e.URL) {
		return fmt.Errorf("%w: webhook endpoint %s needs a secret", ErrInvalid, e.ID)
	}
	if _, err := EndpointSecret(e.Secret); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// isWebhook reports whether an endpoint URL is an HTTP webhook rather than a broker.
func isWebhook(raw string) bool {
	return strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://")
}

// EndpointSecret reads a stored endpoint secret: "" (a broker endpoint that signs nothing) is
// the zero Secret.
func EndpointSecret(s string) (appevents.Secret, error) {
	if s == "" {
		return appevents.Secret{}, nil
	}
	return appevents.ParseSecret(s)
}

// ConfiguredEndpointID is the id of the configured endpoint with the URL: the same on every
// replica and across restarts, so the deliveries of a configured endpoint survive them.
func ConfiguredEndpointID(url string) string {
	h := sha256.Sum256([]byte(url))
	return "cfg_" + hex.EncodeToString(h[:10])
}

// DeliveryState is where one event's delivery to one endpoint is.
type DeliveryState string

// The delivery states.
const (
	// DeliveryPending: not delivered yet; attempted when due.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the endpoint took the event.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryDead: given up after the dead-letter time, or the endpoint was deleted; a
	// redelivery makes it pending again.
	DeliveryDead DeliveryState = "dead"
)

// Valid reports whether s is a delivery state.
func (s DeliveryState) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryDead
}

// DeliveryInfo is one event's delivery to one endpoint, as the API shows it.
type DeliveryInfo struct {
	ID         int64
	EndpointID string
	EventID    string
	Type       appevents.Type
	UploadID   string
	Sequence   int64
	State      DeliveryState
	Attempts   int
	Created    time.Time // when the event was written
	Since      time.Time // when this round of attempts began: Created, or the last redelivery
	NextAt     time.Time // the next attempt, while pending
	Finished   time.Time // delivered or given up; zero while pending
	// Log holds the latest attempts, oldest first (at most MaxAttemptLog).
	Log []DeliveryAttempt
}

// MaxAttemptLog is how many of a delivery's latest attempts DeliveryInfo.Log holds.
const MaxAttemptLog = 20

// DeliveryAttempt is one attempt at a delivery.
type DeliveryAttempt struct {
	At       time.Time
	Duration time.Duration
	Status   int    // the webhook's HTTP status; 0 for brokers and when there was no answer
	Error    string // "" when delivered
	Response string // the start of the answer's body
}

// DeliveryQuery selects an endpoint's deliveries, newest first.
type DeliveryQuery struct {
	EndpointID string
	State      DeliveryState // only this state when set
	Before     int64         // only deliveries with ID < Before when not zero (the cursor)
	Limit      int           // 1..MaxPage
}

// AppEventStore keeps the application events' outbox: endpoints, and one delivery per event
// and subscribed endpoint, written in the same transaction as the upload transition the event
// tells of (see TransitionUpload), and claimed by the replicas' deliverers.
type AppEventStore interface {
	appevents.Outbox

	// CreateEndpoint records e (see Endpoint.Validate). ErrConflict if its id is taken.
	CreateEndpoint(ctx context.Context, e *Endpoint) error
	// Endpoint returns the endpoint with the id. ErrNotFound, also once deleted.
	Endpoint(ctx context.Context, id string) (*Endpoint, error)
	// ListEndpoints returns the endpoints the user registered, or every endpoint (configured
	// ones included) when ownerID is "", oldest first.
	ListEndpoints(ctx context.Context, ownerID string) ([]Endpoint, error)
	// DeleteEndpoint removes a registered endpoint at at: it gets no further deliveries, and
	// its pending ones become dead. ErrNotFound.
	DeleteEndpoint(ctx context.Context, id string, at time.Time) error
	// ConfigureEndpoints makes eps (each Configured) the configured endpoints: it adds them or
	// updates their URL, types and secret, and deletes (as DeleteEndpoint) the configured
	// endpoints not in eps.
	ConfigureEndpoints(ctx context.Context, eps []Endpoint, at time.Time) error

	// Deliveries returns the deliveries q selects, newest first, with their attempt logs.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]DeliveryInfo, error)
	// Redeliver makes the endpoint's delivery pending again, due at now, whatever its state:
	// a delivered event is sent again, a dead one gets a new round of attempts (its dead-letter
	// time counts from now). ErrNotFound, also for a deleted endpoint's delivery.
	Redeliver(ctx context.Context, endpointID string, id int64, now time.Time) (*DeliveryInfo, error)
	// PruneDeliveries removes deliveries that finished (delivered or dead) before before, their
	// attempts, and the events left without a delivery that were created before before. It
	// returns how many deliveries it removed.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// EventRecord is an application event as a store writes it with its transition.
type EventRecord struct {
	ID       string
	Type     appevents.Type
	UploadID string
	UserID   string
	Sequence int64
	At       time.Time
	Body     []byte // the envelope's JSON, signed and delivered as it is
}

// TransitionEvent is the application event an upload's transition from cur to next emits, as
// the seq-th event of the upload, or nil when it emits none: every ending (completed, failed,
// expired) emits one, and so does the deletion of a completed upload's file. reason and detail
// say why an upload failed (a failure without a reason is ReasonRefused); detail defaults to
// the upload's FailReason. Stores call it inside TransitionUpload's transaction, so the event
// exists exactly when the transition does.
func TransitionEvent(cur, next *Upload, reason appevents.Reason, seq int64) (*EventRecord, error) {
	var typ appevents.Type
	switch {
	case !cur.State.Active() && !(cur.State == StateCompleted && next.State == StateDeleted):
		return nil, nil
	case next.State == StateCompleted:
		typ = appevents.UploadCompleted
	case next.State == StateFailed:
		typ = appevents.UploadFailed
		if reason == "" {
			reason = appevents.ReasonRefused
		}
	case next.State == StateExpired:
		typ, reason = appevents.UploadExpired, appevents.ReasonExpired
	case next.State == StateDeleted && cur.State == StateCompleted:
		typ = appevents.FileDeleted
	default:
		return nil, nil // an active upload that stays active, or one deleted before it started
	}
	e := appevents.Event{ID: appevents.NewID(), Type: typ, Time: next.Updated, Sequence: seq,
		Data: appevents.Data{UploadID: next.ID, UserID: next.UserID, Subject: next.Subject}}
	switch typ {
	case appevents.UploadCompleted, appevents.FileDeleted:
		e.Data.File = &appevents.File{ID: next.ID, Key: next.Key, Filename: next.Filename, ContentType: next.ContentType,
			Size: next.Size, SHA256: next.SHA256, MD5: next.MD5, CRC32C: next.CRC32C, ETag: next.ETag, Subject: next.Subject, Metadata: next.Metadata, Created: next.Completed}
		if typ == appevents.FileDeleted {
			at := next.Updated
			e.Data.File.Deleted = &at
		}
	default:
		e.Data.Reason, e.Data.Detail = reason, next.FailReason
		e.Data.Upload = &appevents.Upload{ID: next.ID, Key: next.Key, Filename: next.Filename, ContentType: next.ContentType,
			Size: next.Size, SHA256: next.SHA256, MD5: next.MD5, CRC32C: next.CRC32C, State: string(next.State), Subject: next.Subject, Metadata: next.Metadata, Created: next.Created}
	}
	body, err := e.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &EventRecord{ID: e.ID, Type: typ, UploadID: next.ID, UserID: next.UserID, Sequence: seq, At: e.Time, Body: body}, nil
}

// OutcomeState is the state an attempt's outcome leaves its delivery in, and when the delivery
// finished (zero while it stays pending).
func OutcomeState(o appevents.Outcome) (DeliveryState, time.Time) {
	switch {
	case o.Attempted && o.Delivered:
		return DeliveryDelivered, o.At.Add(o.Duration)
	case o.Attempted && o.Dead:
		return DeliveryDead, o.At.Add(o.Duration)
	}
	return DeliveryPending, time.Time{}
}

// CheckDeliveryQuery reports whether Deliveries accepts q. It wraps ErrInvalid.
func CheckDeliveryQuery(q DeliveryQuery) error {
	if q.EndpointID == "" {
		return fmt.Errorf("%w: deliveries of no endpoint", ErrInvalid)
	}
	if q.State != "" && !q.State.Valid() {
		return fmt.Errorf("%w: unknown delivery state %q", ErrInvalid, q.State)
	}
	return CheckLimit(q.Limit)
}
