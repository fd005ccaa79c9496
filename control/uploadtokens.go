package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Upload tokens: what an application's server mints (with its API key) for one browser. A
// token can only upload — create uploads, sign their parts, list their parts, complete and
// abort its own uploads — within limits no wider than its owner's policy, and it stamps the
// application's subject (its own user id) on every upload and file it makes. Only its hash is
// stored; it expires soon (15 minutes by default, at most a day) and can be revoked.

// uploadTokenPrefix starts every upload token's secret.
const uploadTokenPrefix = "psu_"

// UploadToken is an upload-only bearer token. Files and Bytes are what its uploads hold now
// (active uploads at their reservation, completed ones at their size), kept by the store in the
// same transactions as the uploads.
type UploadToken struct {
	ID      string
	Hash    []byte
	UserID  string
	Subject string
	Limits  UploadLimits
	Created time.Time
	Expires time.Time
	Revoked time.Time // zero while not revoked
	Files   int
	Bytes   int64
}

// Active reports whether t may authenticate a request at now.
func (t *UploadToken) Active(now time.Time) bool {
	return t.Revoked.IsZero() && now.Before(t.Expires)
}

// Validate reports whether t can be recorded as a new token. It wraps ErrInvalid.
func (t *UploadToken) Validate() error {
	if t.ID == "" || t.UserID == "" || len(t.Hash) == 0 || t.Created.IsZero() || t.Expires.IsZero() {
		return fmt.Errorf("%w: upload token needs id, user id, hash, created and expires", ErrInvalid)
	}
	return nil
}

// UploadTokenRequest asks for an upload token.
type UploadTokenRequest struct {
	Subject          string `json:"subject"`
	ExpiresInSeconds int64  `json:"expires_in_seconds,omitempty"`
	UploadLimits
}

// UploadTokenView is an upload token as the API shows it; Token (the secret) and
// CompanionEndpoint only when it was just minted.
type UploadTokenView struct {
	ID                string       `json:"id"`
	Token             string       `json:"token,omitempty"`
	Subject           string       `json:"subject"`
	Limits            UploadLimits `json:"limits"`
	Files             int          `json:"files"`
	Bytes             int64        `json:"bytes"`
	Created           time.Time    `json:"created_at"`
	Expires           time.Time    `json:"expires_at"`
	Revoked           *time.Time   `json:"revoked_at,omitempty"`
	CompanionEndpoint string       `json:"companion_endpoint,omitempty"`
}

func viewUploadToken(t *UploadToken) UploadTokenView {
	v := UploadTokenView{ID: t.ID, Subject: t.Subject, Limits: t.Limits, Files: t.Files, Bytes: t.Bytes,
		Created: t.Created, Expires: t.Expires}
	if !t.Revoked.IsZero() {
		r := t.Revoked
		v.Revoked = &r
	}
	return v
}

// MintUploadToken makes an upload token for the caller (a session or an API key; an upload
// token cannot mint another). base is the control plane's URL as the caller reached it, from
// which the companion_endpoint is made.
func (s *Service) MintUploadToken(ctx context.Context, p *Principal, req UploadTokenRequest, base, addr string) (*UploadTokenView, error) {
	if p.UploadToken != nil {
		return nil, errUploadOnly
	}
	ttl := time.Duration(req.ExpiresInSeconds) * time.Second
	if ttl == 0 {
		ttl = DefaultUploadTokenTTL
	}
	if ttl < minUploadTokenTTL || ttl > MaxUploadTokenTTL {
		return nil, invalid("expires_in_seconds must be %d to %d", int(minUploadTokenTTL/time.Second), int(MaxUploadTokenTTL/time.Second))
	}
	if err := checkSubject(req.Subject); err != nil {
		return nil, err
	}
	pol, err := s.effectivePolicy(ctx, p.User)
	if err != nil {
		return nil, err
	}
	lim, err := narrowLimits(req.UploadLimits, pol)
	if err != nil {
		return nil, err
	}
	now := s.now()
	secret := newSecret(uploadTokenPrefix)
	t := &UploadToken{ID: newID(now), Hash: secretHash(secret), UserID: p.User.ID, Subject: req.Subject, Limits: lim,
		Created: now, Expires: now.Add(ttl)}
	if err := s.store.CreateUploadToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create upload token: %w", err)
	}
	if err := s.audit(ctx, AuditEntry{At: now, UserID: p.User.ID, Action: "upload_token.create", RemoteAddr: addr,
		Details: map[string]string{"token_id": t.ID, "subject": t.Subject, "expires": t.Expires.UTC().Format(time.RFC3339),
			"max_file_bytes": strconv.FormatInt(lim.MaxFileBytes, 10), "max_total_bytes": strconv.FormatInt(lim.MaxTotalBytes, 10),
			"max_files": strconv.Itoa(lim.MaxFiles), "key_prefix": lim.KeyPrefix}}); err != nil {
		return nil, err
	}
	t.Created, t.Expires = t.Created.UTC().Truncate(time.Microsecond), t.Expires.UTC().Truncate(time.Microsecond)
	v := viewUploadToken(t)
	v.Token = secret
	v.CompanionEndpoint = strings.TrimSuffix(base, "/") + "/v1/companion/" + secret
	return &v, nil
}

// ListUploadTokens returns the caller's upload tokens, newest first, without their secrets.
func (s *Service) ListUploadTokens(ctx context.Context, p *Principal) ([]UploadTokenView, error) {
	if p.UploadToken != nil {
		return nil, errUploadOnly
	}
	ts, err := s.store.ListUploadTokens(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("list upload tokens: %w", err)
	}
	out := make([]UploadTokenView, len(ts))
	for i := range ts {
		out[i] = viewUploadToken(&ts[i])
	}
	return out, nil
}

// RevokeUploadToken revokes one of the caller's upload tokens: from the next request on, on
// every replica, it authenticates nothing. Uploads it made keep their state; URLs it had
// signed live out their (short) lifetime, or are withdrawn with POST /v1/uploads/{id}/revoke.
func (s *Service) RevokeUploadToken(ctx context.Context, p *Principal, id, addr string) error {
	if p.UploadToken != nil {
		return errUploadOnly
	}
	err := s.store.RevokeUploadToken(ctx, p.User.ID, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return notFoundErr("upload token")
	}
	if err != nil {
		return fmt.Errorf("revoke upload token: %w", err)
	}
	return s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "upload_token.revoke", RemoteAddr: addr,
		Details: map[string]string{"token_id": id}})
}

// authenticateUploadToken returns the principal of an upload token's secret.
func (s *Service) authenticateUploadToken(ctx context.Context, secret string) (*Principal, error) {
	t, u, err := s.store.UploadTokenUser(ctx, secretHash(secret))
	if errors.Is(err, ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !t.Active(s.now()) {
		return nil, errUnauthenticated
	}
	if u.Disabled {
		return nil, errorf(http.StatusForbidden, CodeAccountDisabled, "the account %q is disabled", u.Username)
	}
	return &Principal{User: u, UploadToken: t}, nil
}

// errUploadOnly refuses an upload token anything but uploading.
var errUploadOnly = errorf(http.StatusForbidden, CodeForbidden,
	"an upload token can only upload: create, sign, list, complete and abort its own uploads")

// requestBase is the control plane's URL as the client reached it: https when the connection
// (or, behind a trusted proxy, X-Forwarded-Proto) says so, and the Host the client asked for
// (or, behind a trusted proxy, X-Forwarded-Host).
func (s *Service) requestBase(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if s.fromTrustedProxy(r) {
		if p := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "https" || p == "http" {
			scheme = p
		}
		if h := strings.TrimSpace(strings.Split(r.Header.Get("X-Forwarded-Host"), ",")[0]); h != "" {
			host = h
		}
	}
	return scheme + "://" + host
}

func (s *Service) handleMintUploadToken(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var in UploadTokenRequest
	if err := decode(r, &in, true); err != nil {
		return err
	}
	v, err := s.MintUploadToken(r.Context(), p, in, s.requestBase(r), s.clientAddr(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Service) handleListUploadTokens(w http.ResponseWriter, r *http.Request, p *Principal) error {
	ts, err := s.ListUploadTokens(r.Context(), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, struct {
		UploadTokens []UploadTokenView `json:"upload_tokens"`
	}{ts})
}

func (s *Service) handleRevokeUploadToken(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if err := s.RevokeUploadToken(r.Context(), p, r.PathValue("id"), s.clientAddr(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// fromTrustedProxy reports whether the request's TCP peer is one of the TrustedProxies.
func (s *Service) fromTrustedProxy(r *http.Request) bool {
	ip, err := netip.ParseAddr(remoteAddr(r))
	return err == nil && s.trustedProxy(ip)
}
