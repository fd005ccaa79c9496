// Package extension names presign's additions to the protocols it speaks, all spelled
// X-Presign-*: the query parameters of a presigned URL that the storage node enforces and the
// control plane signs, the form field that carries one of them in a POST upload, and the
// headers of a signed event delivery.
//
// Both planes import it; it imports nothing, so the storage node and the control plane agree on
// every name without importing each other. docs/storage-node.md and docs/revocation.md describe
// what each extension does.
package extension

// Prefix starts every name below, in any case. A query parameter or form field whose name
// starts with it is presign's, known to this version or not, so the storage node refuses it on
// a request whose signature cannot cover it rather than serve the request without its promise.
const Prefix = "X-Presign-"

// Query parameters of a presigned URL. Every query parameter is part of the SigV4 canonical
// request, so these are signed like the rest of the URL and cannot be altered. When one is
// present the storage node enforces it; when none is, a URL behaves as plain S3.
const (
	// MaxBytes caps the body of a PUT (or of each part) at N bytes; S3 cannot cap a
	// presigned PUT.
	MaxBytes = "X-Presign-Max-Bytes"
	// Once makes the URL work once: its value is a nonce the node remembers durably until
	// the URL expires.
	Once = "X-Presign-Once"
	// ID names the ticket a URL was issued for; revoking the id refuses every URL carrying it.
	ID = "X-Presign-Id"
	// User names the user a URL was issued to; revoking the user's URLs refuses every URL
	// carrying it that was signed (X-Amz-Date) before the revocation.
	User = "X-Presign-User"
)

// OnceField is Once as a field of a POST-policy form: form fields are matched in lower case,
// and the policy's conditions sign it.
const OnceField = "x-presign-once"

// Headers of an event delivery.
const (
	// EventIDHeader carries the event's id: the same on every attempt to deliver the event,
	// and different for every event.
	EventIDHeader = "X-Presign-Event-Id"
	// SignatureHeader carries the delivery's HMAC-SHA256 signatures (see events.Sign).
	SignatureHeader = "X-Presign-Signature"
)
