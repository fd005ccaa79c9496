package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"presign/internal/testenv/redisenv"
	"presign/internal/testenv/seaweed"
)

// nodeFactory starts a storage node as a process; extra are further flags.
type nodeFactory func(t *testing.T, extra ...string) *process

// forEachBackend runs a black-box test of the storage node against each way of running it: on
// local disk, and as a gateway over a real S3 service (SeaweedFS) sharing nonces and
// revocations through Redis. Inside test, the factory's parameter name storageNode stands in
// for the disk-only function of that name.
func forEachBackend(t *testing.T, test func(t *testing.T, storageNode nodeFactory)) {
	t.Run("disk", func(t *testing.T) { test(t, storageNode) })
	t.Run("gateway", func(t *testing.T) { test(t, gatewayNode) })
}

// gateway is a deployment of gateway nodes: each node started by node shares the service
// bucket folder and the Redis keys of the others.
type gateway struct {
	env    []string
	args   []string
	prefix string
}

func newGateway(t *testing.T) *gateway {
	t.Helper()
	srv := seaweed.Shared(t)
	redisURL := redisenv.URL(t)
	prefix := "e2e-" + rand.Text()[:10] + "/"
	return &gateway{
		prefix: prefix,
		env: []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
			"PRESIGN_BACKEND_ACCESS_KEY=" + srv.AccessKey, "PRESIGN_BACKEND_SECRET_KEY=" + srv.SecretKey},
		args: []string{"--backend", "s3", "--backend-endpoint", srv.Endpoint, "--backend-bucket", srv.Bucket,
			"--backend-path-style", "--backend-prefix", prefix, "--redis", redisURL, "--redis-prefix", redisenv.Prefix()},
	}
}

// node starts one more node of the deployment, with its own data directory (keys, outbox).
func (g *gateway) node(t *testing.T, extra ...string) *process {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data") // made by the node
	args := append([]string{"storage", "--data", data, "--addr", "127.0.0.1:0"}, g.args...)
	p := start(t, g.env, append(args, extra...), "storage node")
	p.data = data
	// The service caps its keys at 1024 bytes, and the node's name for a key in bucket "keys"
	// adds the deployment's folder and the bucket.
	p.keyLimit = 1024 - len(g.prefix) - len("keys/")
	return p
}

// gatewayNode starts a gateway node of a deployment of its own.
func gatewayNode(t *testing.T, extra ...string) *process {
	t.Helper()
	return newGateway(t).node(t, extra...)
}

// maxKey is the longest key of bucket "keys" the node stores: S3's 1024 bytes on disk.
func (p *process) maxKey() int {
	if p.keyLimit > 0 {
		return p.keyLimit
	}
	return 1024
}

// sharedHost is the host name presigned URLs for several nodes are signed for, as a load
// balancer in front of them would be addressed; requests carry it in their Host header.
const sharedHost = "storage.presign.test"

// sharedURL presigns method on path for the shared host.
func sharedURL(t *testing.T, method, path string, query url.Values, at time.Time) string {
	t.Helper()
	return presignURL(t, method, "http://"+sharedHost, path, query, nil, at, time.Hour)
}

// sendTo sends a request for a URL signed for the shared host to one node.
func sendTo(t *testing.T, node *process, method, signed string, body []byte) (*http.Response, error) {
	t.Helper()
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	nodeURL, _ := url.Parse(node.url("storage node"))
	u.Host = nodeURL.Host
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = sharedHost
	return http.DefaultClient.Do(req)
}
