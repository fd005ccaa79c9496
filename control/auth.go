package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Principal is who a request acts as: an active token of an enabled user. Exactly one of Token
// (a session or API key) and UploadToken is set.
type Principal struct {
	User        *User
	Token       *Token
	UploadToken *UploadToken
}

// Bearer-secret prefixes.
const (
	sessionPrefix = "pss_"
	apiKeyPrefix  = "psk_"
)

// API key lifetimes.
const (
	DefaultAPIKeyTTL = 90 * 24 * time.Hour
	MaxAPIKeyTTL     = 366 * 24 * time.Hour
)

// touchEvery is how stale a token's LastUsed may get before a request records a new one: a
// write per request would double the store's load for a timestamp nobody needs to the second.
const touchEvery = time.Minute

// Authenticate returns the principal of a bearer secret. Every call reads the token and its user
// from the store, with no cache: a revoked token or a disabled user is refused on the very next
// request, on every replica.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if strings.HasPrefix(secret, uploadTokenPrefix) {
		return s.authenticateUploadToken(ctx, secret)
	}
	if !strings.HasPrefix(secret, sessionPrefix) && !strings.HasPrefix(secret, apiKeyPrefix) {
		return nil, errUnauthenticated
	}
	now := s.now()
	t, u, err := s.tokenUser(ctx, secretHash(secret))
	if errors.Is(err, ErrNotFound) {
		return nil, errUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !t.Active(now) {
		return nil, errUnauthenticated
	}
	if u.Disabled {
		return nil, errorf(http.StatusForbidden, CodeAccountDisabled, "the account %q is disabled", u.Username)
	}
	if now.Sub(t.LastUsed) > touchEvery {
		if err := s.store.TouchToken(ctx, t.ID, now); err != nil {
			s.log.WarnContext(ctx, "recording token use failed", "token", t.ID, "err", err)
		}
	}
	return &Principal{User: u, Token: t}, nil
}

// tokenUser reads the token with the hash and its user, at once when the store can.
func (s *Service) tokenUser(ctx context.Context, hash []byte) (*Token, *User, error) {
	if tu, ok := s.store.(TokenUserStore); ok {
		return tu.TokenUser(ctx, hash)
	}
	t, err := s.store.TokenByHash(ctx, hash)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return nil, nil, err
	}
	return t, u, nil
}

// Session is a new login session or API key: the secret is shown once, here, and only its
// hash is stored.
type Session struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Expires time.Time `json:"expires_at"`
}

func (s *Service) newToken(ctx context.Context, userID string, kind TokenKind, name string, ttl time.Duration) (*Session, error) {
	prefix := sessionPrefix
	if kind == TokenAPIKey {
		prefix = apiKeyPrefix
	}
	now := s.now()
	secret := newSecret(prefix)
	t := &Token{ID: newID(now), Hash: secretHash(secret), Kind: kind, UserID: userID, Name: name,
		Created: now, Expires: now.Add(ttl)}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("create %s: %w", kind, err)
	}
	return &Session{Token: secret, ID: t.ID, Expires: t.Expires.UTC().Truncate(time.Microsecond)}, nil
}

// Logout revokes the token the request was made with.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.Token == nil {
		return errUploadOnly
	}
	if err := s.store.RevokeToken(ctx, p.User.ID, p.Token.ID, s.now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// APIKey describes an API key; Key is set only when it was just created.
type APIKey struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Key      string     `json:"key,omitempty"`
	Created  time.Time  `json:"created_at"`
	Expires  time.Time  `json:"expires_at"`
	Revoked  *time.Time `json:"revoked_at,omitempty"`
	LastUsed *time.Time `json:"last_used_at,omitempty"`
}

// CreateAPIKey makes an API key for the caller, valid for ttl (DefaultAPIKeyTTL when zero).
func (s *Service) CreateAPIKey(ctx context.Context, p *Principal, name string, ttl time.Duration, addr string) (*APIKey, error) {
	if name == "" || len(name) > 100 || !utf8.ValidString(name) {
		return nil, invalid("name is required: 1 to 100 bytes of UTF-8")
	}
	if ttl == 0 {
		ttl = DefaultAPIKeyTTL
	}
	if ttl < time.Minute || ttl > MaxAPIKeyTTL {
		return nil, invalid("expires_in_seconds must be %d to %d", int(time.Minute/time.Second), int(MaxAPIKeyTTL/time.Second))
	}
	sess, err := s.newToken(ctx, p.User.ID, TokenAPIKey, name, ttl)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "apikey.create", RemoteAddr: addr, Details: map[string]string{"key_id": sess.ID}})
	return &APIKey{ID: sess.ID, Name: name, Key: sess.Token, Created: s.now().UTC().Truncate(time.Microsecond), Expires: sess.Expires}, nil
}

// ListAPIKeys returns the caller's API keys, newest first, without their secrets.
func (s *Service) ListAPIKeys(ctx context.Context, p *Principal) ([]APIKey, error) {
	ts, err := s.store.ListTokens(ctx, p.User.ID, TokenAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]APIKey, 0, len(ts))
	for _, t := range ts {
		k := APIKey{ID: t.ID, Name: t.Name, Created: t.Created, Expires: t.Expires}
		if !t.Revoked.IsZero() {
			k.Revoked = &t.Revoked
		}
		if !t.LastUsed.IsZero() {
			k.LastUsed = &t.LastUsed
		}
		out = append(out, k)
	}
	return out, nil
}

// RevokeAPIKey revokes one of the caller's API keys.
func (s *Service) RevokeAPIKey(ctx context.Context, p *Principal, id, addr string) error {
	ts, err := s.store.ListTokens(ctx, p.User.ID, TokenAPIKey)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	found := false
	for _, t := range ts {
		found = found || t.ID == id
	}
	if !found {
		return notFoundErr("API key")
	}
	if err := s.store.RevokeToken(ctx, p.User.ID, id, s.now()); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "apikey.revoke", RemoteAddr: addr, Details: map[string]string{"key_id": id}})
	return nil
}
