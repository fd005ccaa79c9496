package control

import "fmt"

// ReplayedHeaders are the headers an object keeps and its store answers every download with,
// steering shared caches and clients: Cache-Control: public, max-age=31536000 outlives the
// object's deletion and every revocation in any cache on the way, Content-Encoding changes what
// the bytes mean. No ticket signs one, yet Azure (x-ms-blob-cache-control... on Put Blob,
// outside the SAS), Google Cloud Storage (headers of a signed PUT, fields of a form) and S3
// services other than presign's node keep those an upload adds. Empty means none is stored.
type ReplayedHeaders struct {
	CacheControl, ContentDisposition, ContentEncoding, ContentLanguage string
	// Expires is S3's alone (Azure and GCS keep none).
	Expires string
}

// replayedMismatch says which header the object keeps that its ticket did not sign, or "".
// Tickets sign none of them (a download sets its own Content-Disposition and, where the store
// allows, Cache-Control in its URL), so any stored one was added by whoever held the upload's
// URL, and the object must not become a file that every download replays it on.
func replayedMismatch(h ReplayedHeaders) string {
	for _, s := range [...]struct{ name, value string }{
		{"Cache-Control", h.CacheControl},
		{"Content-Disposition", h.ContentDisposition},
		{"Content-Encoding", h.ContentEncoding},
		{"Content-Language", h.ContentLanguage},
		{"Expires", h.Expires},
	} {
		if s.value != "" {
			return fmt.Sprintf("stored %s %q which the ticket did not sign", s.name, s.value)
		}
	}
	return ""
}
