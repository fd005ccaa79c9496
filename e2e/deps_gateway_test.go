package e2e

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"presign/internal/testenv/faultproxy"
	"presign/internal/testenv/seaweed"
)

// TestGatewayAnswers503WhileItsClusterFailsAndRecoversWithoutARestart puts a fault-injecting
// proxy between a gateway node and its S3 cluster. While the cluster is down, resets every
// connection, or stalls, the node answers PUTs and GETs with 503 ServiceUnavailable (S3 XML)
// once its timeouts (small here) and the SDK's retries run out, stores nothing of a refused
// PUT, and keeps the object it had. When the cluster is back, the same node serves again.
func TestGatewayAnswers503WhileItsClusterFailsAndRecoversWithoutARestart(t *testing.T) {
	srv := seaweed.Shared(t)
	cluster := faultproxy.Start(t, strings.TrimPrefix(srv.Endpoint, "http://"))
	env := []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
		"PRESIGN_BACKEND_ACCESS_KEY=" + srv.AccessKey, "PRESIGN_BACKEND_SECRET_KEY=" + srv.SecretKey}
	node := start(t, env, []string{"storage", "--data", filepath.Join(t.TempDir(), "data"), "--addr", "127.0.0.1:0",
		"--backend", "s3", "--backend-endpoint", "http://" + cluster.Addr(), "--backend-bucket", srv.Bucket,
		"--backend-path-style", "--backend-prefix", "e2e-" + rand.Text()[:10] + "/",
		"--backend-dial-timeout", "500ms", "--backend-response-timeout", "500ms"}, "storage node")
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "deps")
	kept := []byte("the object stored before the fault")
	now := time.Now()
	sign := func(method, key string) string {
		return presignURL(t, method, ep, "/deps/"+key, url.Values{}, nil, now, time.Hour)
	}
	if st, code, _ := httpDo(t, http.MethodPut, sign(http.MethodPut, "kept"), nil, bytes.NewReader(kept)); st != 200 {
		t.Fatalf("PUT before the fault: %d %s", st, code)
	}
	// Without the node's timeouts a stalled cluster would hold a request for ever; this
	// client gives up long after them, so that the test fails instead of hanging.
	client := &http.Client{Timeout: time.Minute}
	send := func(method, key string, body []byte) (int, string) {
		req, _ := http.NewRequest(method, sign(method, key), bytes.NewReader(body))
		if body == nil {
			req.Body = nil
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, key, err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		code := ""
		if m := regexp.MustCompile(`<Code>([^<]+)</Code>`).FindSubmatch(b.Bytes()); m != nil {
			code = string(m[1])
		}
		return resp.StatusCode, code
	}

	for _, fault := range []struct {
		name string
		mode faultproxy.Mode
	}{
		{"down", faultproxy.Refuse},
		{"resetting", faultproxy.ResetEach},
		{"stalled", faultproxy.Stall},
	} {
		t.Run(fault.name, func(t *testing.T) {
			if err := cluster.Set(fault.mode); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				method, key string
				body        []byte
			}{
				{http.MethodPut, "new-" + fault.name, []byte("never stored")},
				{http.MethodPut, "kept", []byte("an overwrite that never happened")},
				{http.MethodGet, "kept", nil},
			} {
				if st, code := send(c.method, c.key, c.body); st != http.StatusServiceUnavailable || code != "ServiceUnavailable" {
					t.Errorf("%s %s with the cluster %s: %d %s, want 503 ServiceUnavailable", c.method, c.key, fault.name, st, code)
				}
			}
			if err := cluster.Set(faultproxy.Pass); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				st, _, b := httpDo(t, http.MethodGet, sign(http.MethodGet, "kept"), nil, nil)
				if st == 200 {
					if !bytes.Equal(b, kept) {
						t.Errorf("after the cluster %s, kept reads %q", fault.name, b)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET after the cluster came back: %d\n%s", st, node.logs())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if st, code := send(http.MethodHead, "new-"+fault.name, nil); st != 404 {
				t.Errorf("a PUT refused while the cluster was %s left an object: HEAD %d %s", fault.name, st, code)
			}
		})
	}
}
