// Package client is the Go SDK of presign: it talks to a presign control plane for
// permission (login, tickets, part URLs, completion, file records) and moves file bytes
// directly to and from the object store with the presigned URLs the control plane hands out.
// File bytes never pass through the control plane, and the client's token never goes to the
// object store.
//
// It imports no server package: the control plane's JSON API (control/openapi.json) and the
// S3 REST answers of the store are its only contracts, so it works against any deployment of
// presign, whatever S3-compatible storage sits behind it.
//
// A Client is safe for concurrent use. Every call takes a context; cancelling it stops the
// call promptly. Refusals of the control plane are *APIError, of the object store
// *StorageError; use errors.As to inspect them, or the helpers IsNotFound, IsUnauthenticated
// and IsRefused.
//
// Uploads choose a single PUT or a multipart upload from the ticket the control plane
// returns. A multipart upload sends parts in parallel (4 by default), asks for each part's
// URL just before sending it, retries each part with exponential backoff and jitter on
// network errors and 5xx answers (never on other 4xx), and has the store verify every part:
// its CRC-32C is signed into the part's URL when the control plane offers that (a presign
// storage node), else the part carries Content-MD5. With UploadOptions.StateDir set, an interrupted multipart
// upload resumes where it stopped: the next Upload of the same content asks the control plane
// which parts the store holds, checks each against the local bytes, and sends only the others.
package client
