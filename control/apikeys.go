package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"
)

// API keys are explicit, long-lived credentials for scripts and servers, so making one asks
// more than holding a session (docs/control-plane.md, "API keys"): the password again, a
// session rather than another key, and room under the per-user cap.
const (
	// DefaultAPIKeyTTL and MaxAPIKeyTTL bound an API key's life: a key that must be replaced
	// every few months is one whose leak ends.
	DefaultAPIKeyTTL = 30 * 24 * time.Hour
	MaxAPIKeyTTL     = 90 * 24 * time.Hour
	// MaxAPIKeysPerUser is how many active (neither revoked nor expired) API keys a user may
	// hold.
	MaxAPIKeysPerUser = 50
)

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

// APIKeyList is a page of API keys.
type APIKeyList struct {
	APIKeys []APIKey `json:"api_keys"`
	// Next is the cursor of the next page (pass it as ?after=), empty on the last page.
	Next string `json:"next,omitempty"`
}

// CreateAPIKey makes an API key for the caller, valid for ttl (DefaultAPIKeyTTL when zero).
// The caller must be logged in with a session (a key cannot mint keys) and give its password.
func (s *Service) CreateAPIKey(ctx context.Context, p *Principal, name, password string, ttl time.Duration, addr string) (*APIKey, error) {
	if p.Token == nil || p.Token.Kind != TokenSession {
		return nil, errorf(http.StatusForbidden, CodeForbidden, "API keys are created from a login session, not with an API key or upload token")
	}
	if name == "" || len(name) > 100 || !utf8.ValidString(name) {
		return nil, invalid("name is required: 1 to 100 bytes of UTF-8")
	}
	if ttl == 0 {
		ttl = DefaultAPIKeyTTL
	}
	if ttl < time.Minute || ttl > MaxAPIKeyTTL {
		return nil, invalid("expires_in_seconds must be %d to %d", int(time.Minute/time.Second), int(MaxAPIKeyTTL/time.Second))
	}
	if err := s.confirmPassword(ctx, p.User, password, addr); err != nil {
		return nil, err
	}
	sess, err := s.newToken(ctx, p.User.ID, TokenAPIKey, name, ttl, MaxAPIKeysPerUser)
	if errors.Is(err, ErrTooManyTokens) {
		return nil, errorf(http.StatusConflict, CodeTooManyAPIKeys,
			"you have %d active API keys, the most a user may have; revoke one (DELETE /v1/apikeys/{id}) first", MaxAPIKeysPerUser)
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "apikey.create", RemoteAddr: addr, Details: map[string]string{"key_id": sess.ID}})
	return &APIKey{ID: sess.ID, Name: name, Key: sess.Token, Created: s.now().UTC().Truncate(time.Microsecond), Expires: sess.Expires}, nil
}

// confirmPassword checks that password is u's, as a login would: counted against the login
// limits of u from addr before it is checked, so a stolen session cannot be used to guess.
func (s *Service) confirmPassword(ctx context.Context, u *User, password, addr string) error {
	if password == "" || len(password) > maxPasswordBytes {
		return invalid("password is required: creating an API key needs your password again")
	}
	now := s.now()
	who, from := loginName(u.Username), addressKey(addr)
	counted, err := s.countAttempt(ctx, []loginLimit{
		{"login:pair:" + who + "|" + from, s.cfg.LoginFailuresPerUserAddress, s.cfg.LoginWindow, "this user from your address"},
		{"login:user:" + who, s.cfg.LoginFailuresPerUser, s.cfg.LoginWindow, "this user"},
	}, now)
	if err != nil {
		return err
	}
	ok, err := s.hasher.verify(ctx, u.PasswordHash, password)
	if err != nil || ok {
		s.refund(ctx, counted, now)
	}
	switch {
	case errors.Is(err, errHashBusy):
		e := errorf(http.StatusServiceUnavailable, CodeBusy, "too many password checks are waiting; try again in a moment")
		e.RetryAfter = time.Second
		return e
	case err != nil:
		return fmt.Errorf("password of %s: %w", u.ID, err)
	case !ok:
		s.audit(ctx, AuditEntry{At: now, UserID: u.ID, Action: "password.fail", RemoteAddr: addr})
		return errorf(http.StatusUnauthorized, CodeInvalidCredentials, "wrong password")
	}
	return nil
}

// ListAPIKeys returns a page of the caller's API keys, newest first, without their secrets:
// up to limit keys after the key with the id after ("" for the first page).
func (s *Service) ListAPIKeys(ctx context.Context, p *Principal, after string, limit int) (*APIKeyList, error) {
	if err := CheckLimit(limit); err != nil {
		return nil, invalid("limit must be 1 to %d", MaxPage)
	}
	ts, err := s.store.ListTokens(ctx, p.User.ID, TokenAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	if after != "" {
		i := slices.IndexFunc(ts, func(t Token) bool { return t.ID == after })
		if i < 0 {
			return nil, invalid("after must be the id of one of your API keys (the next of the previous page)")
		}
		ts = ts[i+1:]
	}
	out := &APIKeyList{APIKeys: make([]APIKey, 0, min(len(ts), limit))}
	for _, t := range ts[:min(len(ts), limit)] {
		k := APIKey{ID: t.ID, Name: t.Name, Created: t.Created, Expires: t.Expires}
		if !t.Revoked.IsZero() {
			k.Revoked = &t.Revoked
		}
		if !t.LastUsed.IsZero() {
			k.LastUsed = &t.LastUsed
		}
		out.APIKeys = append(out.APIKeys, k)
	}
	if len(ts) > limit {
		out.Next = out.APIKeys[len(out.APIKeys)-1].ID
	}
	return out, nil
}

// RevokeAPIKey revokes one of the caller's API keys.
func (s *Service) RevokeAPIKey(ctx context.Context, p *Principal, id, addr string) error {
	ts, err := s.store.ListTokens(ctx, p.User.ID, TokenAPIKey)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if !slices.ContainsFunc(ts, func(t Token) bool { return t.ID == id }) {
		return notFoundErr("API key")
	}
	if err := s.store.RevokeToken(ctx, p.User.ID, id, s.now()); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "apikey.revoke", RemoteAddr: addr, Details: map[string]string{"key_id": id}})
	return nil
}
