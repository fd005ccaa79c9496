package control

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// An upload may carry the application's own metadata: string keys and values it gives with the
// ticket, kept on the upload and its file, returned by the API and carried in the application
// events. It stays in the control plane: the object in storage has none (docs/control-plane.md
// says why). The limits keep a record small enough to travel in every event and list page.
const (
	// MaxMetadataEntries is how many keys an upload's metadata may have.
	MaxMetadataEntries = 32
	// MaxMetadataKeyLen is the longest key, in bytes.
	MaxMetadataKeyLen = 128
	// MaxMetadataBytes bounds the keys and values together, in bytes of UTF-8.
	MaxMetadataBytes = 2048
)

// CheckMetadata reports whether m is metadata an upload may carry: at most MaxMetadataEntries
// keys of 1..MaxMetadataKeyLen characters from [A-Za-z0-9._-], values of valid UTF-8 without
// control characters, line or paragraph separators or bidirectional controls (which could make
// a value display as something else), MaxMetadataBytes in all. It wraps ErrInvalid, and names
// the key at fault.
func CheckMetadata(m map[string]string) error {
	if p := metadataProblem(m); p != "" {
		return fmt.Errorf("%w: %s", ErrInvalid, p)
	}
	return nil
}

// metadataProblem says what is wrong with m, as the API's message; "" when nothing is.
func metadataProblem(m map[string]string) string {
	if len(m) > MaxMetadataEntries {
		return fmt.Sprintf("metadata has %d keys, at most %d are allowed", len(m), MaxMetadataEntries)
	}
	total := 0
	for k, v := range m {
		if k == "" || len(k) > MaxMetadataKeyLen || !metadataKey(k) {
			return fmt.Sprintf("metadata key %q: 1 to %d characters from A-Z, a-z, 0-9, '.', '-' and '_'", truncate(k, 40), MaxMetadataKeyLen)
		}
		if !utf8.ValidString(v) {
			return fmt.Sprintf("metadata %q: the value is not valid UTF-8", k)
		}
		for _, r := range v {
			if !metadataRune(r) {
				return fmt.Sprintf("metadata %q: the value holds the character %U (control characters, line separators and bidirectional controls are refused)", k, r)
			}
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return fmt.Sprintf("metadata holds %d bytes of keys and values, at most %d are allowed", total, MaxMetadataBytes)
	}
	return ""
}

func metadataKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// metadataRune reports whether r may appear in a metadata value.
func metadataRune(r rune) bool {
	switch {
	case unicode.IsControl(r), unicode.In(r, unicode.Zl, unicode.Zp), unicode.Is(unicode.Bidi_Control, r):
		return false
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// EncodeMetadata is metadata as the stores keep it: a JSON object, "{}" when there is none.
func EncodeMetadata(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// DecodeMetadata reads what EncodeMetadata wrote; nil for none.
func DecodeMetadata(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("%w: stored metadata: %v", ErrInvalid, err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
