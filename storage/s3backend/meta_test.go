package s3backend

import (
	"maps"
	"testing"

	"presign/storage"
)

// What the node keeps about an object survives the trip through service headers, including
// what HTTP or the service would otherwise change: empty and non-ASCII values, spaces at the
// ends, values that look encoded, names that look internal, no Content-Type, free-form Expires.
func TestMetadataRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		meta      storage.Metadata
		checksums map[string]string
	}{
		{"Empty", storage.Metadata{}, nil},
		{"Standard", storage.Metadata{ContentType: "video/mp4", ContentEncoding: "identity", ContentDisposition: `attachment; filename="a b"`,
			ContentLanguage: "de-CH", CacheControl: "max-age=60", Expires: "Wed, 21 Oct 2015 07:28:00 GMT"}, nil},
		{"FreeFormExpires", storage.Metadata{Expires: "never ünï"}, nil},
		{"UserValues", storage.Metadata{User: map[string]string{
			"empty": "", "uni": "ünïcode", "spaced": " a b ", "encoded": "=?utf-8?b?eA==?=", "ctl": "a\tb", "plain": "v",
			"presign": "x", "presign-notype": "1", "presign-u-y": "z", "presign-cs-sha1": "fake",
		}}, nil},
		{"Checksums", storage.Metadata{ContentType: "a/b"}, map[string]string{"CRC32C": "AAAAAA==", "SHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := encodeMeta(tc.meta, tc.checksums)
			for k, v := range m.meta {
				for i := 0; i < len(v); i++ {
					if v[i] < 0x20 || v[i] >= 0x7f {
						t.Fatalf("header value %q of %q is not plain ASCII", v, k)
					}
				}
			}
			// As a service returns them: the same headers, names lower-cased.
			d := decodedInfo{contentType: m.contentType, contentEncoding: m.contentEncoding, contentDisposition: m.contentDisposition,
				contentLanguage: m.contentLanguage, cacheControl: m.cacheControl, meta: m.meta}
			if tc.meta.ContentType == "" {
				invented := "application/octet-stream"
				d.contentType = &invented
			}
			info := d.info("b", "k")
			if !metaEqual(info.Meta, tc.meta) {
				t.Fatalf("round trip = %+v, want %+v", info.Meta, tc.meta)
			}
			if len(tc.checksums)+len(info.Checksums) > 0 && !maps.Equal(info.Checksums, tc.checksums) {
				t.Fatalf("checksums = %v, want %v", info.Checksums, tc.checksums)
			}
		})
	}
}

func metaEqual(a, b storage.Metadata) bool {
	if len(a.User)+len(b.User) == 0 {
		a.User, b.User = nil, nil
	}
	return a.ContentType == b.ContentType && a.ContentEncoding == b.ContentEncoding &&
		a.ContentDisposition == b.ContentDisposition && a.ContentLanguage == b.ContentLanguage &&
		a.CacheControl == b.CacheControl && a.Expires == b.Expires && maps.Equal(a.User, b.User)
}
