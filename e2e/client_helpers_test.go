package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"presign/client"
)

// serveBehindProxy starts presign serve with tickets pointing at a fault proxy in front of its
// storage node.
func serveBehindProxy(t *testing.T, extra ...string) (*process, *faultProxy) {
	t.Helper()
	px := newFaultProxy(t)
	p := serveProcess(t, append([]string{"--public-storage-url", px.URL()}, extra...)...)
	px.setTarget(p.url("storage node"))
	return p, px
}

// fastRetry keeps the tests' backoffs short; the policy's shape is what is under test.
var fastRetry = client.RetryPolicy{Attempts: 10, BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond}

// sdkUser creates a user (policy may be nil) and returns an SDK client logged in as it.
func sdkUser(t *testing.T, p *process, name string, policy map[string]any) *client.Client {
	t.Helper()
	adminAPI(t, p).newUser(name, policy)
	c, err := client.New(p.url("control plane"), &client.Options{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), name, name+"-password"); err != nil {
		t.Fatal(err)
	}
	return c
}

// randomFile writes size random bytes to a new file and returns its path and SHA-256.
func randomFile(t *testing.T, name string, size int64) (string, [32]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return path, sum
}

func fileSHA256(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// partPUTs returns the part numbers of the part uploads among the requests, in order.
func partPUTs(reqs []proxiedRequest) []int {
	var out []int
	for _, r := range reqs {
		if r.Method == "PUT" && r.Part > 0 {
			out = append(out, r.Part)
		}
	}
	return out
}

// missing returns 1..n without the numbers in have, in order.
func missing(n int, have []int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		if !slices.Contains(have, i) {
			out = append(out, i)
		}
	}
	return out
}
