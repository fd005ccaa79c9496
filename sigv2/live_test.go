package sigv2_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"presign/internal/testenv"
	"presign/sigv2"
)

// Debian's python3 runs the clients' own code; a Python from elsewhere may lack them.
const python = "/usr/bin/python3"

// runGenerator runs testdata/gen_vectors.py for client on the real clock, ending the test (see
// testenv.Missing) where the client is not installed.
func runGenerator(t *testing.T, client, module string) []byte {
	t.Helper()
	if err := exec.Command(python, "-c", "import "+module).Run(); err != nil {
		testenv.Missing(t, "%s with %s is not installed (Debian: python3-botocore, s3cmd): %v", python, module, err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(python, "testdata/gen_vectors.py", client, "--live")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gen_vectors.py %s --live: %v\n%s", client, err, stderr.String())
	}
	return out
}

// TestBotocoreLiveSignaturesVerify has the installed botocore sign every request and URL of
// the generator now, through its own pipeline and with its default presign settings, and
// verifies them on the real clock.
func TestBotocoreLiveSignaturesVerify(t *testing.T) {
	out := runGenerator(t, "botocore", "botocore")
	if gen := sigv2.CheckVectors(t, out, time.Now()); !strings.HasPrefix(gen, "botocore ") {
		t.Fatalf("generator %q", gen)
	}
}

// TestS3cmdLiveSignaturesVerify does the same with the installed s3cmd's signing code.
func TestS3cmdLiveSignaturesVerify(t *testing.T) {
	out := runGenerator(t, "s3cmd", "S3.Crypto")
	if gen := sigv2.CheckVectors(t, out, time.Now()); !strings.HasPrefix(gen, "s3cmd ") {
		t.Fatalf("generator %q", gen)
	}
}
