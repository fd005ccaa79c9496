package control

import (
	"slices"
	"unicode"

	"golang.org/x/text/secure/precis"
)

// Usernames are kept in one canonical form, so that two accounts can never differ only in
// ways a reader cannot see (docs/control-plane.md, "Usernames"): PRECIS UsernameCaseMapped
// (RFC 8265: width-mapped, lower-cased, NFC, compatibility characters refused), and letters
// of one script, as Unicode's "highly restrictive" level allows (UTS #39), so that a Cyrillic
// "а" cannot stand in for a Latin "a".

// canonicalUsername returns the form name is stored and looked up under, or why it is refused.
func canonicalUsername(name string) (string, error) {
	if name == "" || len(name) > maxUsernameBytes {
		return "", invalid("a username has 1 to %d bytes", maxUsernameBytes)
	}
	c, err := precis.UsernameCaseMapped.String(name)
	if err != nil || c == "" || len(c) > maxUsernameBytes {
		return "", invalid("a username holds letters, digits and . - _ @ only, without spaces or compatibility forms")
	}
	for _, r := range c {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || r == '.' || r == '-' || r == '_' || r == '@') {
			return "", invalid("a username holds letters, digits and . - _ @ only")
		}
	}
	if !singleScript(c) {
		return "", invalid("a username mixes scripts (e.g. Latin and Cyrillic letters), which lets look-alike names pass for each other: use letters of one script")
	}
	return c, nil
}

// singleScript reports whether s's letters are of one script, or of one of the combinations
// UTS #39 allows at its "highly restrictive" level: Latin with Han and Hiragana and Katakana
// (Japanese), with Han and Bopomofo (Chinese), or with Han and Hangul (Korean).
func singleScript(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if unicode.Is(unicode.Common, r) || unicode.Is(unicode.Inherited, r) {
			continue
		}
		for n, table := range unicode.Scripts {
			if n != "Common" && n != "Inherited" && unicode.Is(table, r) {
				seen[n] = true
				break
			}
		}
	}
	if len(seen) <= 1 {
		return true
	}
	for _, allowed := range [][]string{{"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"}} {
		ok := true
		for n := range seen {
			ok = ok && slices.Contains(allowed, n)
		}
		if ok {
			return true
		}
	}
	return false
}
