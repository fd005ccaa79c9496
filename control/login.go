package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Logins are throttled so that guessing is slow, hashing cannot be turned against the
// service, and an outsider cannot lock anyone out (docs/auth.md, "Login throttling"):
//
//   - Every attempt is counted before its password is checked, in three fixed windows of
//     LoginWindow: the username from this address (LoginFailuresPerUserAddress), this address
//     whatever the username (LoginFailuresPerAddress), and the username from anywhere
//     (LoginFailuresPerUser, high: only many addresses together reach it). Counting first is
//     what makes the limits exact under concurrency; a right password refunds its attempt, so
//     only failures stay counted.
//   - Password checks wait in a bounded queue (HashQueue); an address has at most
//     HashParallelism of them in the queue at once. Excess attempts are refused at once (429
//     for the address, 503 when the queue is full), with Retry-After, instead of queueing for
//     the whole burst.
//   - An address the user logged in from in the last weeks is spared the limit per username
//     (knownAddress), so that guessers with many addresses cannot lock her out of it.
//   - Successful logins open at most SessionsPerUser sessions per user an hour.

// loginLimit is one of the counters an attempt is checked against.
type loginLimit struct {
	key    string
	limit  int
	window time.Duration
	who    string
}

// Login checks a username and password and opens a session; addr is the client's address.
func (s *Service) Login(ctx context.Context, username, password, addr string) (*Session, error) {
	if username == "" || password == "" || len(password) > maxPasswordBytes || len(username) > maxUsernameBytes {
		return nil, invalid("username and password are required (a password of at most %d bytes)", maxPasswordBytes)
	}
	now := s.now()
	who, from := loginName(username), addressKey(addr)
	if !s.hashing.enter(from) {
		s.metrics.refusals.WithLabelValues("login_busy").Inc()
		e := errorf(http.StatusTooManyRequests, CodeLoginThrottled,
			"too many logins from your address are being checked at once; try again in a moment")
		e.RetryAfter = time.Second
		return nil, e
	}
	defer s.hashing.leave(from)
	limits := []loginLimit{
		{"login:pair:" + who + "|" + from, s.cfg.LoginFailuresPerUserAddress, s.cfg.LoginWindow, "this user from your address"},
		{"login:addr:" + from, s.cfg.LoginFailuresPerAddress, s.cfg.LoginWindow, "your address"},
	}
	known, err := s.knownAddress(ctx, who, from, now)
	if err != nil {
		return nil, err
	}
	if !known {
		limits = append(limits, loginLimit{"login:user:" + who, s.cfg.LoginFailuresPerUser, s.cfg.LoginWindow, "this user"})
	}
	counted, err := s.countAttempt(ctx, limits, now)
	if err != nil {
		return nil, err
	}
	u, ok, err := s.checkPassword(ctx, username, password)
	if err != nil || ok {
		// A right password, or no answer at all: the attempt is not held against anyone.
		s.refund(ctx, counted, now)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		e := AuditEntry{At: now, Action: "login.fail", RemoteAddr: addr, Details: map[string]string{"username": username}}
		if u != nil {
			e.UserID = u.ID
		}
		s.audit(ctx, e)
		return nil, errorf(http.StatusUnauthorized, CodeInvalidCredentials, "wrong username or password")
	}
	if u.Disabled {
		return nil, errorf(http.StatusForbidden, CodeAccountDisabled, "the account %q is disabled", u.Username)
	}
	if _, err := s.countAttempt(ctx, []loginLimit{{"login:sessions:" + u.ID, s.cfg.SessionsPerUser, time.Hour,
		"new sessions of this user"}}, now); err != nil {
		return nil, err
	}
	sess, err := s.newToken(ctx, u.ID, TokenSession, "", s.cfg.SessionTTL, 0)
	if err != nil {
		return nil, err
	}
	s.rememberAddress(ctx, who, from, now)
	s.audit(ctx, AuditEntry{At: now, UserID: u.ID, Action: "login", RemoteAddr: addr})
	return sess, nil
}

// knownAddressWindow is how long an address a user logged in from stays known to her logins:
// at least half of it after her last login from there, at most all of it.
const knownAddressWindow = 30 * 24 * time.Hour

// knownAddressKeys are the counters that remember a user's login from an address: the same
// window length, one window shifted by half of it, so that a login is remembered for at least
// half a window whenever in its window it fell (a counter is forgotten once its window ends).
func knownAddressKeys(who, from string, now time.Time) [2]struct {
	key string
	at  time.Time
} {
	k := "login:known:" + who + "|" + from
	return [2]struct {
		key string
		at  time.Time
	}{{k, now}, {k + "|shifted", now.Add(knownAddressWindow / 2)}}
}

// knownAddress reports whether the user logged in from the address recently. The limit per
// username, which many addresses together reach, is not applied there: it is what an outsider
// could use up to lock the account out, and from an address she uses she is held to the limit
// per user and address alone.
func (s *Service) knownAddress(ctx context.Context, who, from string, now time.Time) (bool, error) {
	if s.cfg.LoginFailuresPerUser < 0 {
		return false, nil
	}
	for _, c := range knownAddressKeys(who, from, now) {
		n, err := s.store.Hits(ctx, c.key, knownAddressWindow, c.at)
		if err != nil {
			return false, fmt.Errorf("login: %w", err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// rememberAddress records a successful login from the address (knownAddress). Failing to is
// logged, not the login's failure: it costs the user only the exemption.
func (s *Service) rememberAddress(ctx context.Context, who, from string, now time.Time) {
	if s.cfg.LoginFailuresPerUser < 0 {
		return // no limit per username to be spared
	}
	for _, c := range knownAddressKeys(who, from, now) {
		if _, err := s.store.Hit(context.WithoutCancel(ctx), c.key, knownAddressWindow, c.at); err != nil {
			s.log.WarnContext(ctx, "remembering a login's address failed", "err", err)
			return
		}
	}
}

// countAttempt counts one attempt against each limit in turn (a negative limit is off) and
// returns those counted. Past a limit it refunds what it counted and refuses with 429: an
// attempt refused by one limit does not use up the others.
func (s *Service) countAttempt(ctx context.Context, limits []loginLimit, now time.Time) ([]loginLimit, error) {
	var counted []loginLimit
	for _, l := range limits {
		if l.limit < 0 {
			continue
		}
		n, err := s.store.Hit(ctx, l.key, l.window, now)
		if err != nil {
			s.refund(ctx, counted, now)
			return nil, fmt.Errorf("login: %w", err)
		}
		counted = append(counted, l)
		if n > l.limit {
			s.refund(ctx, counted, now)
			s.metrics.refusals.WithLabelValues("login_throttle").Inc()
			e := errorf(http.StatusTooManyRequests, CodeLoginThrottled,
				"too many logins for %s: at most %d in %s; try again later", l.who, l.limit, l.window)
			e.RetryAfter = windowLeft(now, l.window)
			return nil, e
		}
	}
	return counted, nil
}

// refund takes back the attempt counted in limits. A refund that fails leaves the attempt
// counted, which errs on the side of the limit; it is logged.
func (s *Service) refund(ctx context.Context, limits []loginLimit, now time.Time) {
	for _, l := range limits {
		if err := s.store.Refund(context.WithoutCancel(ctx), l.key, l.window, now); err != nil {
			s.log.WarnContext(ctx, "refunding a login attempt failed", "err", err)
		}
	}
}

// checkPassword returns the user and whether password is theirs. A username nobody has is
// checked against a dummy hash, so that the answer takes as long and reveals nothing.
func (s *Service) checkPassword(ctx context.Context, username, password string) (*User, bool, error) {
	u, err := s.userByName(ctx, username)
	hash := s.dummyHash
	switch {
	case err == nil:
		hash = u.PasswordHash
	case errors.Is(err, ErrNotFound):
		u = nil
	default:
		return nil, false, fmt.Errorf("login: %w", err)
	}
	ok, err := s.hasher.verify(ctx, hash, password)
	if errors.Is(err, errHashBusy) {
		s.metrics.refusals.WithLabelValues("hash_queue").Inc()
		e := errorf(http.StatusServiceUnavailable, CodeBusy, "too many password checks are waiting; try again in a moment")
		e.RetryAfter = time.Second
		return nil, false, e
	}
	if err != nil && u != nil {
		return nil, false, fmt.Errorf("login of %s: %w", u.ID, err)
	}
	return u, ok && u != nil, nil
}

// loginName is the form of a username its login counters are kept under: the canonical one,
// so that "ALICE" and "alice" share their counters.
func loginName(username string) string {
	if c, err := canonicalUsername(username); err == nil {
		return c
	}
	return strings.ToLower(username)
}

// userByName finds the user a login names: by the canonical form of the name, else, for an
// account created before usernames were canonical and left as it was because its canonical
// form was taken (see migration 0005), by the exact name.
func (s *Service) userByName(ctx context.Context, username string) (*User, error) {
	c, err := canonicalUsername(username)
	if err == nil {
		u, err := s.store.UserByName(ctx, c)
		if err == nil || !errors.Is(err, ErrNotFound) || c == username {
			return u, err
		}
	}
	return s.store.UserByName(ctx, username)
}

// addressKey is the form of a client address its counters are kept under: the address, or
// for IPv6 its /64, which one host commonly holds whole.
func addressKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// windowLeft is the time until the fixed window of length w containing now ends.
func windowLeft(now time.Time, w time.Duration) time.Duration {
	return w - time.Duration(now.UnixMicro()%w.Microseconds())*time.Microsecond
}

// inFlight bounds the password checks of one address that are queued or running at once, in
// this process: one address cannot fill the hashing queue.
type inFlight struct {
	mu  sync.Mutex
	n   map[string]int
	max int
}

func newInFlight(max int) *inFlight {
	return &inFlight{n: map[string]int{}, max: max}
}

// enter reports whether key may start another check; if so, leave must follow.
func (f *inFlight) enter(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key] >= f.max {
		return false
	}
	f.n[key]++
	return true
}

func (f *inFlight) leave(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[key]--; f.n[key] <= 0 {
		delete(f.n, key)
	}
}
