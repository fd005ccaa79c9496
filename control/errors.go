package control

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Error is a refusal the client can act on: an HTTP status, a stable machine-readable code and a
// message that names the rule that refused. The API writes it as {"error": Code, "message":
// Message}. Service methods return *Error for every refusal; any other error is a fault of the
// service or of what it depends on.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, tells the client when trying again may succeed (rate limits).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The error codes of the API. Each has one HTTP status; docs/control-plane.md lists them.
const (
	CodeInvalidRequest     = "invalid_request"      // 400: malformed JSON, missing or bad field
	CodeUnauthenticated    = "unauthenticated"      // 401: no, unknown, expired or revoked token
	CodeInvalidCredentials = "invalid_credentials"  // 401: wrong username or password
	CodeAccountDisabled    = "account_disabled"     // 403: the user is disabled
	CodeForbidden          = "forbidden"            // 403: an admin-only operation
	CodeNotFound           = "not_found"            // 404: no such thing that is the caller's
	CodeStateConflict      = "state_conflict"       // 409: the upload is not in a state that allows it
	CodeNotUploaded        = "not_uploaded"         // 409: complete called before the object arrived
	CodeConflict           = "conflict"             // 409: a unique name is taken
	CodeTooManyAPIKeys     = "too_many_api_keys"    // 409: MaxAPIKeysPerUser active keys already
	CodeTooLarge           = "object_too_large"     // 413: size above max_object_bytes
	CodeTypeNotAllowed     = "content_type_refused" // 415: type outside allowed_content_types
	CodeObjectMismatch     = "object_mismatch"      // 422: stored object differs from its ticket
	CodeQuotaExceeded      = "quota_exceeded"       // 403: quota_bytes would be exceeded
	CodeTokenExhausted     = "token_exhausted"      // 403: the upload token's max_files or max_total_bytes would be exceeded
	CodeLimitsTooWide      = "limits_too_wide"      // 403: an upload token asked for limits wider than the policy
	CodeTooManyPending     = "too_many_pending"     // 409: max_pending_uploads reached
	CodeTTLTooLong         = "ttl_too_long"         // 403: a share lifetime above url_ttl_seconds
	CodeRateLimited        = "rate_limited"         // 429: ticket rate limit
	CodeLoginThrottled     = "login_throttled"      // 429: too many logins (failed, in flight, or sessions opened)
	CodeEventsDisabled     = "events_disabled"      // 404: no webhook secret configured
	CodeBadSignature       = "bad_signature"        // 401: webhook signature or timestamp refused
	CodeStorageUnavailable = "storage_unavailable"  // 502: the object store failed
	CodeNotReady           = "not_ready"            // 503: a dependency is down
	CodeBusy               = "busy"                 // 503: too many password checks waiting
	CodeNotSupported       = "not_supported"        // 501: the object store cannot do it (revocation on plain S3)
	CodeStoreFull          = "insufficient_storage" // 507: the metadata store's or the object store's disk is full
	CodeUnavailable        = "unavailable"          // 503: the metadata store's database cannot be reached
	CodeRequestTimeout     = "request_timeout"      // 408: a request body too slow to arrive
	CodeInternal           = "internal"             // 500: anything else
)

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

func notFoundErr(what string) *Error {
	return errorf(http.StatusNotFound, CodeNotFound, "no such %s", what)
}

var errUnauthenticated = errorf(http.StatusUnauthorized, CodeUnauthenticated,
	"a valid bearer token is required (Authorization: Bearer <token>); it may have expired or been revoked")

var errForbidden = errorf(http.StatusForbidden, CodeForbidden, "this operation is for administrators")

// StorageError is a failure of the object store (network, 5xx, an unexpected answer). The API
// answers it with 502, so a client can tell "the storage is down" from "the control plane is".
type StorageError struct {
	Op  string
	Err error
}

func (e *StorageError) Error() string { return "object store: " + e.Op + ": " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// asError returns err as an *Error when it is one.
func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
