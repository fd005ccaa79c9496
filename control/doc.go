// Package control is presign's control plane: it authenticates users, applies their policy,
// issues short-lived presigned URLs for uploads and downloads, and knows the truth about every
// upload — without a byte of file data passing through it.
//
// Start reading at service.go (the Service and its Config) and routes.go (the JSON API); the
// domain types are in model.go, the Store interface in store.go, and the rules every Store
// calls, so that SQLite and PostgreSQL decide alike, in store_rules.go.
//
// It talks to the object store only over the network: the S3 API for the few server-side calls
// it makes (Objects, implemented by control/bucket), and URLs it signs itself with sigv4 for the
// clients. It never imports the storage node's code, so the storage can be any S3-compatible
// service. Its only state is its Store (control/sqlite, control/postgres), so several Services
// may share one database.
//
// Design decisions, and why (docs/control-plane.md has the full list):
//
//   - No token cache: every request reads its token and user from the store, so a revoked API
//     key or a disabled user is refused on the very next request on every replica. It costs two
//     indexed reads per request (one joined query where the Store is a TokenUserStore, as
//     PostgreSQL's is, since there each read is a round trip); a token's last use is written
//     at most once a minute.
//   - Storage without presign's extensions (Extensions): URLs bind the upload with what S3
//     checks itself, a signed Content-Length and If-None-Match: *, and completion's HEAD check
//     stays the last word.
//   - Secrets: sessions (pss_...) and API keys (psk_...) are 256 random bits, stored as SHA-256;
//     passwords are argon2id (19 MiB, 2 passes, 1 lane), at most two hashed at once.
//   - Login throttling: 10 failures per username and 50 per client address in a fixed 15-minute
//     window, counted in the store (so across replicas); past either, logins are refused (429,
//     Retry-After) before any password is checked. An unknown username costs the same argon2id
//     time as a wrong password.
//   - Ticket rate: 600 tickets per user per minute (fixed window in the store); refused
//     requests count. Size and type refusals happen before the count.
//   - A ticket's upload and audit entry are durable before its URL is returned; an upload
//     holds its declared size against the quota from then on.
//   - Zero in a policy limit means no limit; url_ttl_seconds 0 means 15 minutes; at most 7 days.
//   - Completion: a storage event is a hint; the object is always checked with HEAD (size,
//     type, the SHA-256 the store kept, the declared MD5 and CRC32C as the store reports them:
//     checksums.go) before an upload completes, whichever path learned of it, and the
//     compare-and-set transitions make the three paths race-free. A declared checksum the
//     store cannot check for the kind of upload refuses the ticket.
//   - An event is applied, then its id recorded: a delivery that fails halfway is retried whole,
//     and a duplicate changes nothing (and is answered 200, duplicate: true).
package control
