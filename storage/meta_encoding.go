package storage

import (
	"encoding/base64"
	"mime"
	"strings"
)

// User metadata values travel in HTTP headers, whose bytes outside ASCII clients read each in
// their own way (Python reads them as Latin-1, so "é" sent as UTF-8 comes back as "Ã©"). S3's
// rule, which this node follows: a value is stored decoded from RFC 2047 encoded-words
// ("=?UTF-8?B?...?="), and returned as is when it is ASCII, or else as one RFC 2047 word of
// its UTF-8 bytes.

var metaDecoder mime.WordDecoder

// decodeMetaValue decodes the RFC 2047 encoded-words of a user metadata value as it arrives;
// a value that is not a valid encoding is kept as sent.
func decodeMetaValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := metaDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// encodeMetaValue gives a stored user metadata value its header form: unchanged when ASCII,
// else "=?UTF-8?B?<base64 of the bytes>?=".
func encodeMetaValue(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(v)) + "?="
		}
	}
	return v
}
