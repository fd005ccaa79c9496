package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"presign/control/appevents"
)

// WebhookRequest registers an endpoint for application events.
type WebhookRequest struct {
	// URL is a webhook (https://, http://) or a broker (nats://, amqp://, amqps://, kafka://).
	URL string `json:"url"`
	// Events are the types to receive; none means all of them.
	Events []string `json:"events,omitempty"`
	// Secret signs the deliveries (whsec_ and 24 to 64 bytes in base64); presign makes one
	// when it is empty.
	Secret string `json:"secret,omitempty"`
	// AllUsers, for administrators only, receives the events of every user's uploads.
	AllUsers bool `json:"all_users,omitempty"`
}

// WebhookView is an endpoint as the API shows it: its URL without credentials, and its secret
// only in the answer that created it.
type WebhookView struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	Events     []string  `json:"events"`
	AllUsers   bool      `json:"all_users"`
	Configured bool      `json:"configured"`
	Secret     string    `json:"secret,omitempty"`
	Created    time.Time `json:"created_at"`
}

func viewEndpoint(e *Endpoint) WebhookView {
	v := WebhookView{ID: e.ID, URL: appevents.Redact(e.URL), Events: []string{}, AllUsers: e.AllUsers,
		Configured: e.Configured, Created: e.Created}
	for _, t := range e.Events.Types() {
		v.Events = append(v.Events, string(t))
	}
	return v
}

// DeliveryView is one event's delivery to an endpoint, with its latest attempts.
type DeliveryView struct {
	ID       int64         `json:"id"`
	EventID  string        `json:"event_id"`
	Type     string        `json:"type"`
	UploadID string        `json:"upload_id"`
	Sequence int64         `json:"sequence"`
	State    DeliveryState `json:"state"`
	Attempts int           `json:"attempts"`
	Created  time.Time     `json:"created_at"`
	NextAt   *time.Time    `json:"next_attempt_at,omitempty"`
	Finished *time.Time    `json:"finished_at,omitempty"`
	Log      []AttemptView `json:"attempt_log"`
	Endpoint string        `json:"webhook_id"`
}

// AttemptView is one delivery attempt.
type AttemptView struct {
	At         time.Time `json:"at"`
	DurationMS float64   `json:"duration_ms"`
	Status     int       `json:"status,omitempty"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
}

func viewDelivery(d *DeliveryInfo) DeliveryView {
	v := DeliveryView{ID: d.ID, EventID: d.EventID, Type: string(d.Type), UploadID: d.UploadID, Sequence: d.Sequence,
		State: d.State, Attempts: d.Attempts, Created: d.Created, Endpoint: d.EndpointID, Log: []AttemptView{}}
	if !d.NextAt.IsZero() {
		v.NextAt = &d.NextAt
	}
	if !d.Finished.IsZero() {
		v.Finished = &d.Finished
	}
	for _, a := range d.Log {
		v.Log = append(v.Log, AttemptView{At: a.At, DurationMS: float64(a.Duration.Microseconds()) / 1000,
			Status: a.Status, Error: a.Error, Response: a.Response})
	}
	return v
}

// endpointPrefix marks the id of an endpoint registered through the API.
const endpointPrefix = "whk_"

// MaxWebhooksPerUser bounds the endpoints one user registers: each is a fan-out of every
// ending of their uploads, and an attempt stream of its own.
const MaxWebhooksPerUser = 20

// CreateWebhook registers an endpoint for the caller's uploads (for everyone's, when an
// administrator asks). The URL must be one appevents accepts and, unless the configuration
// allows private addresses, resolve only to public ones; deliveries check again on every
// connection.
func (s *Service) CreateWebhook(ctx context.Context, p *Principal, in WebhookRequest, addr string) (*WebhookView, error) {
	if in.AllUsers && !p.User.Admin {
		return nil, errorf(http.StatusForbidden, CodeForbidden, "only administrators register webhooks for all users")
	}
	hosts, err := appevents.CheckURL(in.URL)
	if err != nil {
		return nil, invalid("url: %v", err)
	}
	mask, err := appevents.ParseTypes(in.Events)
	if err != nil {
		return nil, invalid("events: %v", err)
	}
	secret := appevents.NewSecret()
	if in.Secret != "" {
		if secret, err = appevents.ParseSecret(in.Secret); err != nil {
			return nil, invalid("secret: %v", err)
		}
	}
	for _, h := range hosts {
		if err := s.egress.CheckHost(ctx, s.resolver(), h); err != nil {
			return nil, invalid("url: %v (an administrator may allow private addresses)", err)
		}
	}
	mine, err := s.store.ListEndpoints(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	if len(mine) >= MaxWebhooksPerUser {
		return nil, errorf(http.StatusConflict, CodeConflict, "a user has at most %d webhooks; delete one first", MaxWebhooksPerUser)
	}
	e := &Endpoint{ID: endpointPrefix + newID(s.now()), OwnerID: p.User.ID, AllUsers: in.AllUsers, URL: in.URL,
		Events: mask, Secret: secret.Encode(), Created: s.now()}
	if err := s.store.CreateEndpoint(ctx, e); err != nil {
		return nil, fmt.Errorf("create webhook: %w", err)
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "webhook.create", RemoteAddr: addr,
		Details: map[string]string{"webhook_id": e.ID, "url": appevents.Redact(e.URL), "all_users": strconv.FormatBool(e.AllUsers)}})
	v := viewEndpoint(e)
	v.Secret = e.Secret
	return &v, nil
}

// ListWebhooks returns the caller's endpoints; an administrator's list has every endpoint,
// the configured ones included.
func (s *Service) ListWebhooks(ctx context.Context, p *Principal) ([]WebhookView, error) {
	owner := p.User.ID
	if p.User.Admin {
		owner = ""
	}
	es, err := s.store.ListEndpoints(ctx, owner)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	out := make([]WebhookView, 0, len(es))
	for i := range es {
		out = append(out, viewEndpoint(&es[i]))
	}
	return out, nil
}

// ownEndpoint returns the endpoint if the caller may see it: its owner, or an administrator.
// Another user's endpoint does not exist.
func (s *Service) ownEndpoint(ctx context.Context, p *Principal, id string) (*Endpoint, error) {
	e, err := s.store.Endpoint(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && e.OwnerID != p.User.ID && !p.User.Admin) {
		return nil, notFoundErr("webhook")
	}
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", id, err)
	}
	return e, nil
}

// Webhook returns one endpoint.
func (s *Service) Webhook(ctx context.Context, p *Principal, id string) (*WebhookView, error) {
	e, err := s.ownEndpoint(ctx, p, id)
	if err != nil {
		return nil, err
	}
	v := viewEndpoint(e)
	return &v, nil
}

// DeleteWebhook deletes an endpoint: it gets no further deliveries, and its pending ones become
// dead. A configured endpoint is deleted by removing it from the configuration.
func (s *Service) DeleteWebhook(ctx context.Context, p *Principal, id, addr string) error {
	e, err := s.ownEndpoint(ctx, p, id)
	if err != nil {
		return err
	}
	if e.Configured {
		return errorf(http.StatusConflict, CodeStateConflict, "webhook %s comes from the server's configuration (--app-webhook and the broker flags); remove it there", id)
	}
	if err := s.store.DeleteEndpoint(ctx, id, s.now()); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete webhook: %w", err)
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "webhook.delete", RemoteAddr: addr, Details: map[string]string{"webhook_id": id}})
	return nil
}

// DeliveryList is one page of an endpoint's deliveries, newest first.
type DeliveryList struct {
	Deliveries []DeliveryView `json:"deliveries"`
	// Next is the cursor of the next page (pass it as ?before=), empty on the last page.
	Next string `json:"next,omitempty"`
}

// Deliveries returns a page of the endpoint's deliveries with their latest attempts.
func (s *Service) Deliveries(ctx context.Context, p *Principal, id string, state DeliveryState, before int64, limit int) (*DeliveryList, error) {
	if _, err := s.ownEndpoint(ctx, p, id); err != nil {
		return nil, err
	}
	if state != "" && !state.Valid() {
		return nil, invalid("state must be pending, delivered or dead")
	}
	ds, err := s.store.Deliveries(ctx, DeliveryQuery{EndpointID: id, State: state, Before: before, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	out := &DeliveryList{Deliveries: make([]DeliveryView, 0, len(ds))}
	for i := range ds {
		out.Deliveries = append(out.Deliveries, viewDelivery(&ds[i]))
	}
	if len(ds) == limit {
		out.Next = strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	return out, nil
}

// Redeliver makes one of the endpoint's deliveries pending again, due now: a delivered event is
// sent again, a dead one gets a new round of attempts.
func (s *Service) Redeliver(ctx context.Context, p *Principal, id string, delivery int64, addr string) (*DeliveryView, error) {
	if _, err := s.ownEndpoint(ctx, p, id); err != nil {
		return nil, err
	}
	d, err := s.store.Redeliver(ctx, id, delivery, s.now())
	if errors.Is(err, ErrNotFound) {
		return nil, notFoundErr("delivery")
	}
	if err != nil {
		return nil, fmt.Errorf("redeliver: %w", err)
	}
	s.kickDeliverer()
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "webhook.redeliver", RemoteAddr: addr,
		Details: map[string]string{"webhook_id": id, "delivery_id": strconv.FormatInt(delivery, 10), "event_id": d.EventID}})
	v := viewDelivery(d)
	return &v, nil
}

func (s *Service) handleCreateWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in WebhookRequest
	if err := decode(r, &in, false); err != nil {
		return err
	}
	v, err := s.CreateWebhook(r.Context(), p, in, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Service) handleListWebhooks(w http.ResponseWriter, r *http.Request, p *Principal) error {
	vs, err := s.ListWebhooks(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		Webhooks []WebhookView `json:"webhooks"`
	}{vs})
}

func (s *Service) handleGetWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	v, err := s.Webhook(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Service) handleDeleteWebhook(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.DeleteWebhook(r.Context(), p, r.PathValue("id"), s.clientAddr(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleDeliveries(w http.ResponseWriter, r *http.Request, p *Principal) error {
	_, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return invalid("before must be a delivery id")
		}
	}
	l, err := s.Deliveries(r.Context(), p, r.PathValue("id"), DeliveryState(r.URL.Query().Get("state")), before, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func (s *Service) handleRedeliver(w http.ResponseWriter, r *http.Request, p *Principal) error {
	n, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil || n < 1 {
		return notFoundErr("delivery")
	}
	v, err := s.Redeliver(r.Context(), p, r.PathValue("id"), n, s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, v)
}
