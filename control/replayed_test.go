package control

import (
	"strings"
	"testing"
)

func TestReplayedHeadersFailOnlyWhatCachesOrClientsWouldMisuse(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    ReplayedHeaders
		// fails names the header the mismatch must name; "" when the object may stay.
		fails string
	}{
		{"nothing stored", ReplayedHeaders{}, ""},
		{"a year in every shared cache", ReplayedHeaders{CacheControl: "public, max-age=31536000, immutable"}, "Cache-Control"},
		{"shared caches only", ReplayedHeaders{CacheControl: "s-maxage=600"}, "Cache-Control"},
		{"max-age=0 may still be served stale", ReplayedHeaders{CacheControl: "max-age=0"}, "Cache-Control"},
		{"a browser's no-cache", ReplayedHeaders{CacheControl: "no-cache"}, ""},
		{"no-cache among others", ReplayedHeaders{CacheControl: "Public, No-Cache, max-age=600"}, ""},
		{"no-store", ReplayedHeaders{CacheControl: "no-store"}, ""},
		{"private", ReplayedHeaders{CacheControl: "private, max-age=600"}, ""},
		{"private of some fields leaves the rest shared", ReplayedHeaders{CacheControl: `private="Set-Cookie", max-age=600`}, "Cache-Control"},
		{"no-cache of some fields leaves the rest cached", ReplayedHeaders{CacheControl: `no-cache="Set-Cookie", max-age=600`}, "Cache-Control"},
		{"a directive that only contains the word", ReplayedHeaders{CacheControl: "x-no-cache-please, max-age=600"}, "Cache-Control"},
		{"gzip changes what the bytes mean", ReplayedHeaders{ContentEncoding: "gzip"}, "Content-Encoding"},
		{"identity changes nothing", ReplayedHeaders{ContentEncoding: "identity"}, ""},
		{"an inline disposition", ReplayedHeaders{ContentDisposition: "inline"}, "Content-Disposition"},
		{"a language", ReplayedHeaders{ContentLanguage: "de"}, "Content-Language"},
		{"an expiry", ReplayedHeaders{Expires: "Thu, 01 Dec 2094 16:00:00 GMT"}, "Expires"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why := replayedMismatch(tc.h)
			switch {
			case tc.fails == "" && why != "":
				t.Fatalf("mismatch %q, want none", why)
			case tc.fails != "" && !strings.Contains(why, tc.fails):
				t.Fatalf("mismatch %q, want one naming %s", why, tc.fails)
			}
		})
	}
}
