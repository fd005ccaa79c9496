package control

import (
	"encoding/json"
	"fmt"
	"time"
)

// The rules every Store calls before and while it changes anything, written once so that
// SQLite and PostgreSQL cannot disagree: which lifecycle moves are allowed, what a transition
// changes (fields, usage, audit entry), what a new record needs, and the limits of list and
// claim calls. The contract suite (control/storetest) holds every store to them.

// CanTransition reports whether the lifecycle allows an upload in state from to move to state to.
// An active upload may stay in its state (to record a new deadline or multipart id); a
// completed, failed or expired upload may only be deleted; a deleted upload is final.
func CanTransition(from, to UploadState) bool {
	switch from {
	case StatePending:
		return to.Valid()
	case StateUploading:
		return to.Valid() && to != StatePending
	case StateCompleted, StateFailed, StateExpired:
		return to == StateDeleted
	}
	return false
}

// CheckTransition reports whether TransitionUpload may be asked to move an upload from any of
// from to to with c: from not empty, every move allowed by CanTransition, c.At set. It wraps
// ErrInvalid.
func CheckTransition(from []UploadState, to UploadState, c Change) error {
	if len(from) == 0 {
		return fmt.Errorf("%w: transition to %q from no state", ErrInvalid, to)
	}
	for _, f := range from {
		if !CanTransition(f, to) {
			return fmt.Errorf("%w: no transition from %q to %q", ErrInvalid, f, to)
		}
	}
	if c.At.IsZero() {
		return fmt.Errorf("%w: transition needs a time", ErrInvalid)
	}
	if c.Audit != nil && c.Audit.Action == "" {
		return fmt.Errorf("%w: audit entry needs an action", ErrInvalid)
	}
	return nil
}

// ApplyChange returns u as TransitionUpload leaves it after moving to to with c: the state, the
// fields c sets, Updated (and Completed, when completing) at c.At, kept to the microsecond.
func ApplyChange(u Upload, to UploadState, c Change) Upload {
	at := c.At.UTC().Truncate(time.Microsecond)
	u.State = to
	u.Updated = at
	if to == StateCompleted {
		u.Completed = at
	}
	if c.MultipartID != "" {
		u.MultipartID = c.MultipartID
	}
	if !c.Expires.IsZero() {
		u.Expires = c.Expires.UTC().Truncate(time.Microsecond)
	}
	if c.ETag != "" {
		u.ETag = c.ETag
	}
	if c.FailReason != "" {
		u.FailReason = c.FailReason
	}
	if to == StateCompleted && u.MaxSize > 0 && c.Size > 0 {
		u.Size = c.Size
	}
	return u
}

// CheckTokenLimits reports whether an upload token's counts, with a new upload counted, are
// within lim's token limits. It wraps ErrTokenExhausted.
func CheckTokenLimits(files int, bytes int64, lim Limits) error {
	switch {
	case lim.TokenFiles > 0 && files > lim.TokenFiles:
		return fmt.Errorf("%w: max_files %d", ErrTokenExhausted, lim.TokenFiles)
	case lim.TokenBytes > 0 && bytes > lim.TokenBytes:
		return fmt.Errorf("%w: max_total_bytes %d", ErrTokenExhausted, lim.TokenBytes)
	}
	return nil
}

// UsageDelta is how an upload moving from cur to next (as TransitionUpload leaves it) changes
// its owner's Usage. An active upload holds Held() bytes and one pending slot; completing it
// frees the slot and turns what it held into the file's size (the same, unless the size was
// not declared); failing or expiring it frees both; deleting a completed upload frees the
// file's bytes.
func UsageDelta(cur, next *Upload) (bytes int64, pending int) {
	switch {
	case cur.State.Active() && next.State == StateCompleted:
		return next.Size - cur.Held(), -1
	case cur.State.Active() && !next.State.Active():
		return -cur.Held(), -1
	case cur.State == StateCompleted && next.State == StateDeleted:
		return -cur.Size, 0
	}
	return 0, 0
}

// TokenDelta is how an upload moving from cur to next changes what its upload token counts
// (UploadToken.Files and Bytes): an active or completed upload is one file holding Held() or its
// size; one that fails or expires frees both. Deleting a file later gives the token nothing
// back: the token bounds what was uploaded through it.
func TokenDelta(cur, next *Upload) (files int, bytes int64) {
	switch {
	case cur.State.Active() && next.State == StateCompleted:
		return 0, next.Size - cur.Held()
	case cur.State.Active() && !next.State.Active():
		return -1, -cur.Held()
	}
	return 0, 0
}

// TransitionAudit is the audit entry of a transition with c, its time filled in, or nil.
func TransitionAudit(c Change) *AuditEntry {
	if c.Audit == nil {
		return nil
	}
	e := *c.Audit
	if e.At.IsZero() {
		e.At = c.At
	}
	return &e
}

// Validate reports whether u can be recorded as a new upload: identifiers present, size not
// negative, state active, times set, metadata within CheckMetadata's rules. It wraps ErrInvalid.
func (u *Upload) Validate() error {
	switch {
	case u.ID == "" || u.UserID == "" || u.Key == "":
		return fmt.Errorf("%w: upload needs id, user id and key", ErrInvalid)
	case u.Size < 0 || u.PartSize < 0 || u.PartCount < 0 || u.MaxSize < 0:
		return fmt.Errorf("%w: upload size and parts must not be negative", ErrInvalid)
	case u.MaxSize > 0 && u.Size != 0:
		return fmt.Errorf("%w: an upload with a maximum has no size until it completes", ErrInvalid)
	case !u.State.Active():
		return fmt.Errorf("%w: a new upload is pending or uploading, not %q", ErrInvalid, u.State)
	case u.Created.IsZero() || u.Expires.IsZero():
		return fmt.Errorf("%w: upload needs created and expires times", ErrInvalid)
	}
	return CheckMetadata(u.Metadata)
}

// Validate reports whether u can be recorded as a new user. It wraps ErrInvalid.
func (u *User) Validate() error {
	if u.ID == "" || u.Username == "" || u.PasswordHash == "" || u.Created.IsZero() {
		return fmt.Errorf("%w: user needs id, username, password hash and created time", ErrInvalid)
	}
	return nil
}

// Validate reports whether t can be recorded as a new token. It wraps ErrInvalid.
func (t *Token) Validate() error {
	switch {
	case t.ID == "" || t.UserID == "" || len(t.Hash) == 0:
		return fmt.Errorf("%w: token needs id, user id and hash", ErrInvalid)
	case t.Kind != TokenSession && t.Kind != TokenAPIKey:
		return fmt.Errorf("%w: unknown token kind %q", ErrInvalid, t.Kind)
	case t.Created.IsZero() || t.Expires.IsZero():
		return fmt.Errorf("%w: token needs created and expires times", ErrInvalid)
	}
	return nil
}

// AuditDetails checks an audit entry and encodes its details as stores keep them (a JSON
// object).
func AuditDetails(e AuditEntry) (string, error) {
	if e.At.IsZero() || e.Action == "" {
		return "", fmt.Errorf("%w: audit entry needs a time and an action", ErrInvalid)
	}
	if len(e.Details) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(e.Details)
	if err != nil {
		return "", fmt.Errorf("audit details: %w", err)
	}
	return string(b), nil
}

// MaxPage is the largest page a Store's list methods return.
const MaxPage = 1000

// CheckLimit reports whether n is a page size the list methods accept (1..MaxPage). It wraps
// ErrInvalid.
func CheckLimit(n int) error {
	if n < 1 || n > MaxPage {
		return fmt.Errorf("%w: page size %d is not in 1..%d", ErrInvalid, n, MaxPage)
	}
	return nil
}

// CheckClaim reports whether ClaimOverdue's page size and lease are acceptable. It wraps
// ErrInvalid.
func CheckClaim(limit int, lease time.Duration) error {
	if err := CheckLimit(limit); err != nil {
		return err
	}
	if lease <= 0 {
		return fmt.Errorf("%w: lease must be positive", ErrInvalid)
	}
	return nil
}

// RateWindow returns how a Store keys a fixed rate-limit window: its length and the start of
// the window of that length containing now, in microseconds since the epoch (windows before
// 1970 start at the lower multiple too). It wraps ErrInvalid for a window under 1µs.
func RateWindow(w time.Duration, now time.Time) (length, start int64, err error) {
	length = w.Microseconds()
	if length <= 0 {
		return 0, 0, fmt.Errorf("%w: rate window must be at least 1µs", ErrInvalid)
	}
	t := now.UnixMicro()
	start = t - t%length
	if t < 0 && t%length != 0 {
		start -= length
	}
	return length, start, nil
}
