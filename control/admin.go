package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// AdminUsername is the administrator created at first start.
const AdminUsername = "admin"

// maxUsernameBytes bounds a username.
const maxUsernameBytes = 64

// UserView is a user as the API shows it.
type UserView struct {
	ID       string         `json:"id"`
	Username string         `json:"username"`
	Admin    bool           `json:"admin"`
	Disabled bool           `json:"disabled"`
	Policy   PolicyOverride `json:"policy"`
	Created  time.Time      `json:"created_at"`
}

func viewUser(u *User) UserView {
	return UserView{ID: u.ID, Username: u.Username, Admin: u.Admin, Disabled: u.Disabled, Policy: u.Policy, Created: u.Created}
}

// EnsureAdmin creates the administrator with the password unless a user named AdminUsername
// exists. It reports whether it created one. Several replicas may call it at once: one creates,
// the others find it.
func (s *Service) EnsureAdmin(ctx context.Context, password string) (bool, error) {
	if _, err := s.store.UserByName(ctx, AdminUsername); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("find admin: %w", err)
	}
	if err := checkPassword(password); err != nil {
		return false, fmt.Errorf("admin password: %w", err)
	}
	_, err := s.createUser(ctx, AdminUsername, password, PolicyOverride{}, true)
	if errors.Is(err, ErrConflict) {
		// Another replica created it, unless an account whose name looks like it holds its
		// skeleton: then there is no administrator to start with, which must not pass silently.
		if _, err := s.store.UserByName(ctx, AdminUsername); err != nil {
			return false, fmt.Errorf("create admin: %w", s.nameConflict(ctx, AdminUsername))
		}
		return false, nil
	}
	return err == nil, err
}

// nameConflict is the answer to creating the user name that the store refused as taken: taken
// by that very name, or by a name that looks like it (UsernameSkeleton).
func (s *Service) nameConflict(ctx context.Context, name string) error {
	if _, err := s.store.UserByName(ctx, name); errors.Is(err, ErrNotFound) {
		return errorf(http.StatusConflict, CodeConflict,
			"the username %q looks like an existing username (its letters are confusable with theirs, as Cyrillic \"а\" is with Latin \"a\"): choose another", name)
	}
	return errorf(http.StatusConflict, CodeConflict, "the username %q is taken (usernames are compared case-insensitively)", name)
}

func checkPassword(pw string) error {
	if len([]rune(pw)) < minPasswordChars || len(pw) > maxPasswordBytes {
		return invalid("a password has %d characters to %d bytes", minPasswordChars, maxPasswordBytes)
	}
	return nil
}

func (s *Service) createUser(ctx context.Context, username, password string, policy PolicyOverride, admin bool) (*User, error) {
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{ID: newID(now), Username: username, PasswordHash: hash, Admin: admin, Policy: policy, Created: now}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("create user %s: %w", username, err)
	}
	u.Created = u.Created.UTC().Truncate(time.Microsecond)
	return u, nil
}

// NewUser is what an administrator gives to create an account.
type NewUser struct {
	Username string          `json:"username"`
	Password string          `json:"password"`
	Policy   *PolicyOverride `json:"policy,omitempty"`
}

// CreateUser adds an account (administrators only).
func (s *Service) CreateUser(ctx context.Context, p *Principal, nu NewUser, addr string) (*UserView, error) {
	if !p.User.Admin {
		return nil, errForbidden
	}
	name, err := canonicalUsername(nu.Username)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(nu.Password); err != nil {
		return nil, err
	}
	var pol PolicyOverride
	if nu.Policy != nil {
		if err := checkOverride(*nu.Policy); err != nil {
			return nil, err
		}
		pol = *nu.Policy
	}
	u, err := s.createUser(ctx, name, nu.Password, pol, false)
	if errors.Is(err, ErrConflict) {
		return nil, s.nameConflict(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "user.create", RemoteAddr: addr, Details: map[string]string{"user_id": u.ID, "username": u.Username}})
	v := viewUser(u)
	return &v, nil
}

// ListUsers returns a page of accounts ordered by username, after the username after
// (administrators only).
func (s *Service) ListUsers(ctx context.Context, p *Principal, after string, limit int) ([]UserView, error) {
	if !p.User.Admin {
		return nil, errForbidden
	}
	us, err := s.store.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]UserView, len(us))
	for i := range us {
		out[i] = viewUser(&us[i])
	}
	return out, nil
}

// UserChange is what an administrator may change of an account.
type UserChange struct {
	Disabled *bool           `json:"disabled,omitempty"`
	Policy   *PolicyOverride `json:"policy,omitempty"`
}

// UpdateUser changes an account (administrators only). Disabling revokes the user's sessions
// and API keys too, so that re-enabling does not bring back old secrets.
func (s *Service) UpdateUser(ctx context.Context, p *Principal, id string, c UserChange, addr string) (*UserView, error) {
	if !p.User.Admin {
		return nil, errForbidden
	}
	if c.Policy != nil {
		if err := checkOverride(*c.Policy); err != nil {
			return nil, err
		}
	}
	target, err := s.store.User(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFoundErr("user")
	}
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if c.Disabled != nil && *c.Disabled && target.Admin {
		return nil, invalid("an administrator cannot be disabled")
	}
	u, err := s.store.UpdateUser(ctx, id, UserUpdate(c))
	if err != nil {
		return nil, fmt.Errorf("update user: %w", err)
	}
	if c.Disabled != nil && *c.Disabled {
		if _, err := s.store.RevokeUserTokens(ctx, id, "", s.now()); err != nil {
			return nil, fmt.Errorf("revoke tokens of disabled user: %w", err)
		}
		// Their outstanding URLs go too, where the storage can withdraw them (on plain S3 they
		// end at their expiry). The account is disabled whatever the storage answers; when it
		// cannot record the revocation, that is logged and POST /v1/users/{id}/revoke-urls
		// does it later.
		var nse *Error
		if err := s.revokeUser(ctx, id, s.now()); err != nil && !(errors.As(err, &nse) && nse.Code == CodeNotSupported) {
			s.log.ErrorContext(ctx, "disabled user's URLs not revoked; call revoke-urls when the storage is back", "user", id, "err", err)
		}
	}
	d := map[string]string{"user_id": id}
	if c.Disabled != nil {
		d["disabled"] = fmt.Sprint(*c.Disabled)
	}
	if c.Policy != nil {
		d["policy"] = "changed"
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "user.update", RemoteAddr: addr, Details: d})
	v := viewUser(u)
	return &v, nil
}

// DefaultPolicy returns the policy every user starts from.
func (s *Service) DefaultPolicy(ctx context.Context) (Policy, error) {
	return s.defaultPolicy(ctx)
}

// SetDefaultPolicy replaces the defaults (administrators only).
func (s *Service) SetDefaultPolicy(ctx context.Context, p *Principal, pol Policy, addr string) error {
	if !p.User.Admin {
		return errForbidden
	}
	if err := checkPolicy(pol); err != nil {
		return err
	}
	if pol.AllowedContentTypes == nil {
		pol.AllowedContentTypes = []string{}
	}
	if err := s.store.SetDefaultPolicy(ctx, pol); err != nil {
		return fmt.Errorf("set default policy: %w", err)
	}
	s.audit(ctx, AuditEntry{UserID: p.User.ID, Action: "policy.update", RemoteAddr: addr})
	return nil
}

// Me is what a user may know of their own account.
type Me struct {
	UserView
	Effective Policy `json:"effective_policy"`
	Usage     struct {
		Bytes   int64 `json:"bytes"`
		Pending int   `json:"pending_uploads"`
	} `json:"usage"`
}

// Whoami returns the caller's account, effective policy and usage.
func (s *Service) Whoami(ctx context.Context, p *Principal) (*Me, error) {
	pol, err := s.effectivePolicy(ctx, p.User)
	if err != nil {
		return nil, err
	}
	use, err := s.store.Usage(ctx, p.User.ID)
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	m := &Me{UserView: viewUser(p.User), Effective: pol}
	m.Usage.Bytes, m.Usage.Pending = use.Bytes, use.Pending
	return m, nil
}

// AuditLog returns audit entries newest first (administrators only).
func (s *Service) AuditLog(ctx context.Context, p *Principal, q AuditQuery) ([]AuditEntry, error) {
	if !p.User.Admin {
		return nil, errForbidden
	}
	es, err := s.store.ListAudit(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return es, nil
}
