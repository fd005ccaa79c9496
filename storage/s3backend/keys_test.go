package s3backend

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var codecKeys = []string{
	"", "a", ".", "..", "...", "/", "//", "a/", "a/b", "a//b", "a.b", "a-b", "a0", "a.-b", "a.|b",
	"../x", "./y", "/lead", "trail/", "back\\slash", "[", "[[", "[|", "a[b", "a\\b", "a]b", "a\\",
	"x.versions", "ü/ñ", "日本/語", "😀", "\U0010FFFF", "tab\tkey", "new\nline", " ", "-", "0", ",",
}

func TestKeyCodecRoundTripsAndNamesAreSafe(t *testing.T) {
	for _, k := range codecKeys {
		name := encodeKey(k)
		back, err := decodeKey(name)
		if err != nil || back != k {
			t.Errorf("decodeKey(encodeKey(%q)) = %q, %v", k, back, err)
		}
		if strings.ContainsAny(name, "/\\") || name == "." || name == ".." || strings.Contains(name, ".versions") {
			t.Errorf("encodeKey(%q) = %q, a name a file-tree service would mangle", k, name)
		}
	}
}

// Escaped names sort as their keys do and keep prefixes, which is what lets listings by prefix
// and after a key go to the service unchanged.
func TestKeyCodecKeepsOrderAndPrefixes(t *testing.T) {
	for _, a := range codecKeys {
		for _, b := range codecKeys {
			ea, eb := encodeKey(a), encodeKey(b)
			if got, want := strings.Compare(ea, eb), strings.Compare(a, b); got != want {
				t.Errorf("compare(%q, %q) = %d but their names compare %d", a, b, want, got)
			}
			if strings.HasPrefix(b, a) != strings.HasPrefix(eb, ea) {
				t.Errorf("%q prefix of %q: %v, but for their names %v", a, b, strings.HasPrefix(b, a), strings.HasPrefix(eb, ea))
			}
		}
	}
}

func TestDecodeKeyRefusesForeignNames(t *testing.T) {
	for _, name := range []string{".", "a.", "[", ".x", "[x", "a.b"} {
		if _, err := decodeKey(name); err == nil {
			t.Errorf("decodeKey(%q) accepted a name encodeKey cannot produce", name)
		}
	}
}

func FuzzKeyCodec(f *testing.F) {
	for _, k := range codecKeys {
		f.Add(k, "a/b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		ea, eb := encodeKey(a), encodeKey(b)
		if back, err := decodeKey(ea); err != nil || back != a {
			t.Fatalf("round trip of %q: %q, %v", a, back, err)
		}
		if strings.Compare(ea, eb) != strings.Compare(a, b) || strings.HasPrefix(b, a) != strings.HasPrefix(eb, ea) {
			t.Fatalf("order or prefix of %q, %q not kept: %q, %q", a, b, ea, eb)
		}
		if strings.ContainsAny(ea, "/\\") {
			t.Fatalf("name %q of %q holds a separator", ea, a)
		}
		// Decoding any string either fails or inverts encoding.
		if k, err := decodeKey(a); err == nil && encodeKey(k) != a {
			t.Fatalf("decodeKey(%q) = %q, which encodes to %q", a, k, encodeKey(k))
		}
	})
}

func TestCommonPrefix(t *testing.T) {
	tests := []struct{ key, prefix, delim, want string }{
		{"a/b/c", "", "/", "a/"},
		{"a/b/c", "a/", "/", "a/b/"},
		{"a/b", "a/b", "/", ""},
		{"a//d", "a/", "/", "a//"},
		{"abcbd", "", "b", "ab"},
		{"x//y", "", "//", "x//"},
		{"a/b", "", "", ""},
	}
	for _, tc := range tests {
		if got := commonPrefix(tc.key, tc.prefix, tc.delim); got != tc.want {
			t.Errorf("commonPrefix(%q, %q, %q) = %q, want %q", tc.key, tc.prefix, tc.delim, got, tc.want)
		}
	}
	_ = slices.Sorted[string]
}
