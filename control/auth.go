package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
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

// newToken creates a session or API key for the user. within, when positive, is how many
// active tokens of the kind the user may have, this one included (Store.CreateTokenWithin).
func (s *Service) newToken(ctx context.Context, userID string, kind TokenKind, name string, ttl time.Duration, within int) (*Session, error) {
	prefix := sessionPrefix
	if kind == TokenAPIKey {
		prefix = apiKeyPrefix
	}
	now := s.now()
	secret := newSecret(prefix)
	t := &Token{ID: newID(now), Hash: secretHash(secret), Kind: kind, UserID: userID, Name: name,
		Created: now, Expires: now.Add(ttl)}
	create := func() error { return s.store.CreateToken(ctx, t) }
	if within > 0 {
		create = func() error { return s.store.CreateTokenWithin(ctx, t, within) }
	}
	if err := create(); err != nil {
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
