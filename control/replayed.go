package control

import (
	"fmt"
	"strings"
)

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
// URL, and the object must not become a file that every download replays it on. Two are
// harmless and let through, as clients send them unasked (a browser with its cache disabled
// adds Cache-Control: no-cache to every request): a Cache-Control that keeps shared caches
// from answering without asking the store (harmlessCacheControl), and Content-Encoding:
// identity, which changes nothing.
func replayedMismatch(h ReplayedHeaders) string {
	for _, s := range [...]struct {
		name, value string
		harmless    bool
	}{
		{"Cache-Control", h.CacheControl, harmlessCacheControl(h.CacheControl)},
		{"Content-Disposition", h.ContentDisposition, false},
		{"Content-Encoding", h.ContentEncoding, strings.EqualFold(strings.TrimSpace(h.ContentEncoding), "identity")},
		{"Content-Language", h.ContentLanguage, false},
		{"Expires", h.Expires, false},
	} {
		if s.value != "" && !s.harmless {
			return fmt.Sprintf("stored %s %q which the ticket did not sign", s.name, s.value)
		}
	}
	return ""
}

// harmlessCacheControl reports whether a Cache-Control keeps every shared cache from answering
// with the object without asking the store first (RFC 9111: no-store, no-cache or private, each
// unqualified: with field names they cover only those fields), so that a deletion or a
// revocation is seen by the next request whatever else the value says.
func harmlessCacheControl(v string) bool {
	for _, d := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(d)) {
		case "no-store", "no-cache", "private":
			return true
		}
	}
	return false
}
