package control

import (
	"strings"
	"unicode/utf8"
)

// maxFilenameBytes bounds the name a client gives its file.
const maxFilenameBytes = 255

// cleanFilename is the name a ticket records for the client's name: its last path segment,
// since a name is shown to whoever downloads the file and saved under it, and a path there
// ("../../etc/passwd") means nothing good. Names that are invalid UTF-8, hold control
// characters, or hold bidirectional controls (which make "evil\u202egnp.exe" display as
// "evilexe.png") are refused, not repaired: the client should learn its name was not kept.
func cleanFilename(name string) (string, error) {
	if name == "" || len(name) > maxFilenameBytes || !utf8.ValidString(name) || hasControl(name) {
		return "", invalid("filename is required: 1 to %d bytes of UTF-8 without control characters", maxFilenameBytes)
	}
	if hasBidi(name) {
		return "", invalid("filename must not contain bidirectional text controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)")
	}
	base := lastSegment(name)
	if base == "" || base == "." || base == ".." {
		return "", invalid("filename %q names no file: give the file's own name, not a path", name)
	}
	return base, nil
}

// lastSegment is what follows the last '/' or '\' in name.
func lastSegment(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		return name[i+1:]
	}
	return name
}

// hasBidi reports whether s holds a Unicode bidirectional formatting character: the
// embeddings, overrides and isolates, and the implicit marks.
func hasBidi(s string) bool {
	return strings.IndexFunc(s, isBidi) >= 0
}

func isBidi(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// hasControl reports whether s holds a C0 or C1 control character or DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}
