package extension_test

import (
	"strings"
	"testing"

	"presign/extension"
)

// TestEveryNameStartsWithPrefix: the storage node tells presign's parameters and fields from
// others by Prefix alone, so a name without it would escape the refusal of extensions on
// requests that do not sign them.
func TestEveryNameStartsWithPrefix(t *testing.T) {
	for _, name := range []string{extension.MaxBytes, extension.Once, extension.ID, extension.User,
		extension.OnceField, extension.EventIDHeader, extension.SignatureHeader} {
		if len(name) <= len(extension.Prefix) || !strings.EqualFold(name[:len(extension.Prefix)], extension.Prefix) {
			t.Errorf("%q does not start with %q", name, extension.Prefix)
		}
	}
}
