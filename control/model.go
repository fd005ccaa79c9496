package control

import (
	"time"

	"presign/control/appevents"
)

// The domain types of the control plane: what a Store keeps and the Service works with. The
// checks every Store applies to them, so that all stores decide alike, are in store_rules.go.

// UploadState is where an upload is in its lifecycle:
//
//	pending ──▶ uploading ──▶ completed ──▶ deleted
//	   │            │    ╲──▶ failed    ──▶ deleted
//	   │            ╰────╲──▶ expired   ──▶ deleted
//	   ╰──────────────────▶ (completed | failed | expired | deleted)
//
// pending and uploading are the active states: an active upload holds its declared size against
// its owner's quota and counts as one pending upload.
type UploadState string

// The upload states.
const (
	// StatePending: a ticket was issued and no byte is known to have arrived.
	StatePending UploadState = "pending"
	// StateUploading: a multipart upload was created in storage; parts may be arriving.
	StateUploading UploadState = "uploading"
	// StateCompleted: the object is in storage and matches its ticket; a File exists.
	StateCompleted UploadState = "completed"
	// StateFailed: the object did not match its ticket, or the upload was aborted.
	StateFailed UploadState = "failed"
	// StateExpired: the ticket ran out before the object arrived.
	StateExpired UploadState = "expired"
	// StateDeleted: the object (and for a completed upload, its File) was removed.
	StateDeleted UploadState = "deleted"
)

// Valid reports whether s is one of the upload states.
func (s UploadState) Valid() bool {
	switch s {
	case StatePending, StateUploading, StateCompleted, StateFailed, StateExpired, StateDeleted:
		return true
	}
	return false
}

// Active reports whether an upload in state s is still in flight (pending or uploading), and so
// holds its declared size against the owner's quota and counts toward the pending limit.
func (s UploadState) Active() bool { return s == StatePending || s == StateUploading }

// Policy is what a user may do: the defaults for everyone, stored once, which a user's
// PolicyOverride may change field by field. The JSON names are the API's.
// Zero limits mean "no limit" to the store (see Limits); what they mean to users is the
// service's decision.
type Policy struct {
	MaxObjectBytes      int64    `json:"max_object_bytes"`
	AllowedContentTypes []string `json:"allowed_content_types"`
	QuotaBytes          int64    `json:"quota_bytes"`
	MaxPendingUploads   int      `json:"max_pending_uploads"`
	URLTTLSeconds       int      `json:"url_ttl_seconds"`
}

// PolicyOverride is a user's own policy: each field that is set (non-nil) replaces the default's.
// It is stored as JSON exactly as given.
type PolicyOverride struct {
	MaxObjectBytes      *int64   `json:"max_object_bytes,omitempty"`
	AllowedContentTypes []string `json:"allowed_content_types,omitempty"`
	QuotaBytes          *int64   `json:"quota_bytes,omitempty"`
	MaxPendingUploads   *int     `json:"max_pending_uploads,omitempty"`
	URLTTLSeconds       *int     `json:"url_ttl_seconds,omitempty"`
}

// User is an account. The store keeps the password hash as the service produced it (an argon2id
// PHC string) and never looks inside.
type User struct {
	ID           string // chosen by the service (e.g. a ULID); immutable
	Username     string // unique
	PasswordHash string
	Admin        bool
	Disabled     bool
	Policy       PolicyOverride
	Created      time.Time
}

// UserUpdate changes a user. Nil fields are left as they are.
type UserUpdate struct {
	Disabled *bool
	Policy   *PolicyOverride
}

// TokenKind tells a login session from an API key. Both authenticate as Bearer tokens.
type TokenKind string

// The token kinds.
const (
	TokenSession TokenKind = "session"
	TokenAPIKey  TokenKind = "apikey"
)

// Token is a session or an API key. Only the hash of the secret is stored: the service hashes
// (SHA-256) the random secret it gave out and looks it up with TokenByHash.
type Token struct {
	ID       string // public identifier, safe to show and to revoke by; never the secret
	Hash     []byte // SHA-256 of the secret; unique
	Kind     TokenKind
	UserID   string
	Name     string // the owner's label for an API key; empty for sessions
	Created  time.Time
	Expires  time.Time // required: every token expires
	Revoked  time.Time // zero while not revoked
	LastUsed time.Time // zero until TouchToken
}

// Active reports whether t may authenticate a request at now: not revoked and not expired.
// Whether its owner is disabled is a separate question.
func (t *Token) Active(now time.Time) bool {
	return t.Revoked.IsZero() && now.Before(t.Expires)
}

// Upload is one upload ticket and what became of it.
type Upload struct {
	ID          string // chosen by the service (e.g. a ULID)
	UserID      string
	Key         string // object key, u/<user-id>/<upload-id>/<safe filename>; unique
	Filename    string // as the client gave it, for Content-Disposition on download
	ContentType string
	Size        int64  // declared size in bytes; a completed object has exactly this size
	SHA256      string // declared SHA-256, hex; empty if none
	// MD5 and CRC32C are the declared checksums of the whole file, hex (32 and 8 digits; the
	// CRC32C big-endian, as GCS and S3 write it); empty when not declared.
	MD5, CRC32C string
	State       UploadState
	MultipartID string // the storage's multipart UploadId, once created
	PartSize    int64  // multipart plan; 0 for a single PUT
	PartCount   int
	Nonce       string    // the X-Presign-Once nonce of the single-use URL
	Expires     time.Time // ticket deadline: past it an active upload is overdue
	Created     time.Time
	Updated     time.Time // time of the last change; Created when zero on CreateUpload
	Completed   time.Time // zero unless completed
	ETag        string    // the object's ETag, once completed
	FailReason  string    // why it failed or expired
	// MaxSize, when positive, says the size was not declared: Size is 0 until the upload
	// completes with its object's size, which may be 1..MaxSize. Until it ends the upload holds
	// MaxSize of the quota (see Held).
	MaxSize int64
	TokenID string // the upload token that created it; empty for a session or API key
	Subject string // the upload token's subject, kept on the file
	// Metadata is the application's own, given with the ticket and kept on the file; nil
	// when none (see CheckMetadata).
	Metadata map[string]string
}

// Held is what an active upload holds against its owner's quota (and its token's bytes): its
// declared size, or its maximum when the size was not declared.
func (u *Upload) Held() int64 {
	if u.MaxSize > 0 {
		return u.MaxSize
	}
	return u.Size
}

// ClientChunked reports whether u is a multipart upload in the client's own parts (its size was
// not declared, so there is no plan): any part numbers 1..MaxParts, checked at completion.
func (u *Upload) ClientChunked() bool {
	return u.MaxSize > 0 && u.PartCount == 0 && u.MultipartID != ""
}

// Limits are checked atomically with the insertion of a new upload. A zero field is no limit.
type Limits struct {
	// QuotaBytes bounds Usage.Bytes after the new upload is counted.
	QuotaBytes int64
	// MaxPending bounds Usage.Pending after the new upload is counted.
	MaxPending int
	// TokenFiles and TokenBytes bound the uploads of the upload's token (Upload.TokenID) after
	// the new one is counted: how many are active or completed, and what they hold.
	TokenFiles int
	TokenBytes int64
}

// Usage is what counts against a user's quota.
type Usage struct {
	// Bytes is the sizes of the user's live (not deleted) files plus what their active uploads
	// hold (Upload.Held).
	Bytes int64
	// Pending is the number of the user's active (pending or uploading) uploads.
	Pending int
}

// Change is what a TransitionUpload records beside the new state. Zero fields leave the upload's
// value as it is.
type Change struct {
	At          time.Time // required: becomes Updated, and Completed when completing
	MultipartID string
	Expires     time.Time // a new ticket deadline, e.g. when part URLs are signed
	ETag        string
	FailReason  string
	// Size is the object's size, set when an upload whose size was not declared completes.
	Size int64
	// Audit, when set, is the entry the change leaves in the audit log, written in the same
	// transaction so that an upload's ending is never without its entry (its At defaults to
	// the change's).
	Audit *AuditEntry
	// Reason is why an upload failed, as its application event says (see TransitionEvent).
	Reason appevents.Reason
}

// File is the record of a completed upload, created with the transition to completed, exactly
// once. It shares the upload's ID. Deleting it is the upload's transition to deleted.
type File struct {
	ID          string // the upload's ID
	UserID      string
	Key         string
	Filename    string
	ContentType string
	Size        int64
	SHA256      string
	MD5, CRC32C string // the upload's declared checksums, hex; empty when not declared
	ETag        string
	Subject     string            // the upload token's subject, when one made it
	Metadata    map[string]string // the upload's metadata; nil when none
	Created     time.Time         // when the upload completed
}

// FilePage is one page of a user's files, newest first.
type FilePage struct {
	Files []File
	// Next is the cursor for the following page (pass it as after), or "" on the last page.
	Next string
}

// AuditEntry is one line of the audit log: who did what to which upload, from where. It never
// holds a secret: no password, token or URL signature.
type AuditEntry struct {
	ID         int64 // assigned by the store; increases with each append
	At         time.Time
	UserID     string // the actor; empty when unknown (e.g. a failed login for no such user)
	Action     string // e.g. "ticket.issue", "login.fail", "file.delete"
	UploadID   string
	Key        string
	RemoteAddr string
	Details    map[string]string
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	UserID string // only this actor's entries when not empty
	Before int64  // only entries with ID < Before when not zero (the cursor: last ID seen)
	Limit  int    // at most this many; 1..MaxPage
}
