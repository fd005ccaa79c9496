package control

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns. Implementations wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no such record (or, for a file, it was deleted).
	ErrNotFound = errors.New("control: not found")
	// ErrConflict: a unique value is taken (username, token hash, upload id or key).
	ErrConflict = errors.New("control: already exists")
	// ErrStateConflict: the upload was not in one of the states the transition expected; some
	// other actor (storage event, client, reconciler, another replica) changed it first.
	ErrStateConflict = errors.New("control: upload state changed")
	// ErrQuotaExceeded: the new upload's declared size would take the owner past Limits.QuotaBytes.
	ErrQuotaExceeded = errors.New("control: storage quota exceeded")
	// ErrTooManyPending: the owner already has Limits.MaxPending active uploads.
	ErrTooManyPending = errors.New("control: too many pending uploads")
	// ErrTokenExhausted: the new upload would take its upload token past Limits.TokenFiles or
	// Limits.TokenBytes.
	ErrTokenExhausted = errors.New("control: upload token limit reached")
	// ErrTooManyTokens: the user already has the most active tokens of the kind allowed.
	ErrTooManyTokens = errors.New("control: too many active tokens")
	// ErrInvalid: the arguments break the store's rules (missing id, illegal transition, bad
	// cursor); nothing was changed.
	ErrInvalid = errors.New("control: invalid argument")
	// ErrStoreFull: the store's disk (or database) has no space left for the change; nothing
	// was changed, and the same call may succeed once space is freed.
	ErrStoreFull = errors.New("control: store full")
	// ErrStoreUnavailable: the store cannot reach its database (refused, reset, timed out, the
	// server shutting down or out of connections); the change may or may not have been made,
	// and the same call may succeed once the database is back.
	ErrStoreUnavailable = errors.New("control: store unavailable")
)

// Store keeps the control plane's state. It is the only state a control-plane replica has, so
// several replicas may share one Store's database: every check-then-change below is atomic
// across Store instances on the same database, not only within one.
//
// Implementations must be safe for concurrent use. A method that returns nil has made its change
// durable. Times are kept to the microsecond and returned in UTC. If ctx ends while a change is
// in flight, the change may or may not have been made.
type Store interface {
	UserStore
	TokenStore
	UploadTokenStore
	UploadStore
	LogStore
	AppEventStore

	// Prune removes what is kept only for a while and ended before before: tokens that expired,
	// seen event ids, and rate-limit windows. It returns how many rows it removed. Uploads,
	// files and the audit log are never pruned.
	Prune(ctx context.Context, before time.Time) (int64, error)
	// Close releases the store. Changes in flight finish first; later calls fail.
	Close() error
}

// UserStore keeps accounts and the default policy.
type UserStore interface {
	// CreateUser adds u, with zero usage. ErrConflict if its id or username is taken, or if a
	// user's username has the same UsernameSkeleton (looks like it), which the store checks
	// atomically; ErrInvalid if id, username or password hash is empty.
	CreateUser(ctx context.Context, u *User) error
	// User returns the user with the id. ErrNotFound.
	User(ctx context.Context, id string) (*User, error)
	// UserByName returns the user with the username (exact match). ErrNotFound.
	UserByName(ctx context.Context, username string) (*User, error)
	// ListUsers returns up to limit users ordered by username, starting after the username
	// after ("" for the first page). limit is 1..1000.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// UpdateUser applies upd and returns the user as changed. ErrNotFound.
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)

	// DefaultPolicy returns the stored defaults. ErrNotFound while none were ever stored: the
	// service then uses its built-in defaults, so starting a replica never writes.
	DefaultPolicy(ctx context.Context) (Policy, error)
	// SetDefaultPolicy replaces the defaults.
	SetDefaultPolicy(ctx context.Context, p Policy) error
}

// TokenStore keeps sessions and API keys, by the hash of their secret.
type TokenStore interface {
	// CreateToken adds t. ErrConflict if its id or hash is taken; ErrNotFound if its user does
	// not exist; ErrInvalid if a field is missing.
	CreateToken(ctx context.Context, t *Token) error
	// CreateTokenWithin is CreateToken when the user has fewer than max active tokens (neither
	// revoked nor expired at t.Created) of t's kind, checked atomically with the insert:
	// concurrent calls (on any replica) never together exceed max. ErrTooManyTokens, and the
	// errors of CreateToken.
	CreateTokenWithin(ctx context.Context, t *Token, max int) error
	// TokenByHash returns the token whose secret hashes to hash, revoked or expired ones
	// included (check Token.Active). ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// ListTokens returns the user's tokens of the kind, newest first, revoked and expired ones
	// included until Prune removes them.
	ListTokens(ctx context.Context, userID string, kind TokenKind) ([]Token, error)
	// TouchToken records that the token was used at at. It is a write: call it sparingly (e.g.
	// when LastUsed is more than a minute old). ErrNotFound.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// RevokeToken revokes the user's token with the id at at. Revoking a revoked token is not an
	// error. ErrNotFound if the user has no such token (another user's token counts as none).
	RevokeToken(ctx context.Context, userID, id string, at time.Time) error
	// RevokeUserTokens revokes every unrevoked token of the user of the kind ("" for every
	// kind) at at, and returns how many it revoked.
	RevokeUserTokens(ctx context.Context, userID string, kind TokenKind, at time.Time) (int, error)
}

// TokenUserStore is a Store that can read a token and its user at once. The service
// authenticates every request with it when the Store has it: one round trip to a database
// server instead of two. It is an optional capability; a Store without it is asked twice.
type TokenUserStore interface {
	// TokenUser returns what TokenByHash(hash) and then User(token.UserID) would. ErrNotFound.
	TokenUser(ctx context.Context, hash []byte) (*Token, *User, error)
}

// UploadTokenStore keeps upload tokens, by the hash of their secret. What a token's uploads
// hold (UploadToken.Files and Bytes) is kept by CreateUpload and TransitionUpload.
type UploadTokenStore interface {
	// CreateUploadToken adds t. ErrConflict if its id or hash is taken; ErrNotFound if its user
	// does not exist; ErrInvalid if a field is missing.
	CreateUploadToken(ctx context.Context, t *UploadToken) error
	// UploadTokenUser returns the upload token whose secret hashes to hash, revoked or expired
	// ones included (check UploadToken.Active), and its user. ErrNotFound.
	UploadTokenUser(ctx context.Context, hash []byte) (*UploadToken, *User, error)
	// ListUploadTokens returns the user's upload tokens, newest first, until Prune removes them.
	ListUploadTokens(ctx context.Context, userID string) ([]UploadToken, error)
	// RevokeUploadToken revokes the user's upload token with the id at at (an earlier
	// revocation stands). ErrNotFound if the user has no such token.
	RevokeUploadToken(ctx context.Context, userID, id string, at time.Time) error
}

// UploadStore keeps uploads, their files, and the usage they add up to.
type UploadStore interface {
	// CreateUpload records u (see Upload.Validate) if the owner's usage with u added stays
	// within lim, checked and changed atomically with the insert: concurrent calls (on any
	// replica) can never together exceed lim. u holds Held() bytes. When u.TokenID is set, its
	// upload token counts u too, within lim's token limits, in the same transaction.
	// ErrQuotaExceeded, ErrTooManyPending (which is reported first when both apply),
	// ErrTokenExhausted, ErrConflict (id or key taken), ErrNotFound (no such user, or no such
	// token), ErrInvalid.
	CreateUpload(ctx context.Context, u *Upload, lim Limits) error
	// Upload returns the upload with the id. ErrNotFound.
	Upload(ctx context.Context, id string) (*Upload, error)
	// UploadByKey returns the upload of the object key. ErrNotFound.
	UploadByKey(ctx context.Context, key string) (*Upload, error)
	// TransitionUpload moves the upload from one of the states in from to the state to,
	// recording c, and returns it as changed. It is a compare-and-set: of several concurrent
	// calls that expect the same state, exactly one succeeds and the others get
	// ErrStateConflict, as does a call when the upload is in none of the from states.
	// In the same transaction it keeps Usage (UsageDelta) and the counts of the upload's token
	// (TokenDelta), creates the File when to is completed (with c.Size as its size when the
	// upload had a maximum instead), hides the File when a completed upload goes to deleted,
	// and writes the application event the transition emits (TransitionEvent, with c.Reason)
	// with its deliveries. It clears any ClaimOverdue lease.
	// ErrNotFound; ErrInvalid when c.At is zero or CanTransition(f, to) is false for some f
	// in from.
	TransitionUpload(ctx context.Context, id string, from []UploadState, to UploadState, c Change) (*Upload, error)
	// ClaimOverdue leases up to limit active uploads whose ticket expired before now and that
	// carry no unexpired lease, oldest deadline first, for lease: until now+lease no other
	// ClaimOverdue (on any replica) returns them. The reconciler then checks storage and
	// transitions each one; a transition ends the lease.
	ClaimOverdue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Upload, error)
	// Usage returns what counts against the user's quota. ErrNotFound.
	Usage(ctx context.Context, userID string) (Usage, error)

	// File returns the file with the id (the id of its upload). ErrNotFound, also when it was
	// deleted.
	File(ctx context.Context, id string) (*File, error)
	// ListFiles returns up to limit (1..1000) of the user's live files, newest first, starting
	// after the cursor after ("" for the first page; otherwise a FilePage.Next). The order is
	// stable: files added meanwhile never shift a later page. ErrInvalid for a cursor that is
	// not one of the user's files.
	ListFiles(ctx context.Context, userID, after string, limit int) (FilePage, error)
}

// LogStore keeps the shared bookkeeping that lets any replica answer any request: seen storage
// events, rate-limit counters, and the audit log.
type LogStore interface {
	// MarkEventSeen records the storage event id at at and reports whether this was its first
	// record. Delivery retries make duplicates normal; transitions are compare-and-set, so the
	// service may apply an event and then mark it, and a duplicate that slips between the two
	// changes nothing.
	MarkEventSeen(ctx context.Context, eventID string, at time.Time) (first bool, err error)
	// Hit counts one event for key in the fixed window of length window that contains now, and
	// returns the window's count including this one. Use one window length per key.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Hits returns the count of the window of length window that contains now, without adding
	// to it (e.g. to refuse a login before checking the password).
	Hits(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// Refund takes one event back from key's count in the window of length window that
	// contains now (the window a Hit with the same now counted in), never going below zero.
	// Counting before the work and refunding after it keeps a limit exact under concurrency:
	// e.g. a login is counted before its password is checked, and refunded when it was right.
	Refund(ctx context.Context, key string, window time.Duration, now time.Time) error
	// AppendAudit adds e (its ID is assigned; e.At is required).
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns the entries q selects, newest first.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}
