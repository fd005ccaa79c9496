package control

import (
	"slices"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/norm"
)

// Usernames are kept in one canonical form, so that two accounts can never differ only in
// ways a reader cannot see (docs/control-plane.md, "Usernames"): PRECIS UsernameCaseMapped
// (RFC 8265: width-mapped, lower-cased, NFC, compatibility characters refused), and letters
// of one script, as Unicode's "highly restrictive" level allows (UTS #39), so that a Cyrillic
// "а" cannot stand in for a Latin "a". A name written wholly in another script that looks like
// a taken one (Cyrillic "аре" beside Latin "ape") is caught by its UsernameSkeleton, which the
// stores keep unique.

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

// UsernameSkeleton returns the key under which usernames that look alike are equal: the UTS #39
// skeleton (confusables.txt: NFD, each character mapped to its prototype, NFD) of the name
// lower-cased, itself lower-cased. Two usernames with one skeleton cannot both exist; the
// stores enforce that with a unique index, and call this function, so that the rule is here
// only. The lower-casing before it makes a legacy name that was stored in capitals collide with
// its lower-case form; the one after it makes the prototypes that are capitals (the digit 0
// maps to "O") match the lower-case letters usernames are made of.
func UsernameSkeleton(username string) string {
	return strings.ToLower(confusables.Skeleton(strings.ToLower(norm.NFKC.String(username))))
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
