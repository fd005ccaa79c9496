package sigv4

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// runPostVector checks a botocore POST-policy case: the signature of its base64 policy, and
// that VerifyPost accepts its form.
func runPostVector(t *testing.T, c vectorCase) {
	var form map[string]string
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(c.dir, "post-form-fields.json"))), &form); err != nil {
		t.Fatal(err)
	}
	sts := readFile(t, filepath.Join(c.dir, "post-string-to-sign.txt"))
	if form["policy"] != sts {
		t.Fatalf("string to sign is not the policy field")
	}
	key := DeriveKey(c.ctx.Credentials.SecretAccessKey, c.scope(t))
	sig := signString(&key, []byte(sts))
	want := strings.TrimSpace(readFile(t, filepath.Join(c.dir, "post-signature.txt")))
	if got := hexString(sig[:]); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	lower := make(map[string]string, len(form))
	for k, v := range form {
		lower[strings.ToLower(k)] = v
	}
	if _, err := c.verifier().VerifyPost(lower, "examplebucket", c.time(t)); err != nil {
		t.Fatalf("VerifyPost: %v", err)
	}
}
