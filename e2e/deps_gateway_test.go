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
// once its timeouts (small here) and the SDK's retries run out. A cluster that is down or
// resetting stores nothing of a refused PUT and keeps the object it had. A stalled cluster
// may still apply a request it had received whole once it resumes, as for any S3 client
// whose request timed out: then the object is the whole body sent, never a part of it. When
// the cluster is back, the same node serves again.
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
		// late is true when the cluster may apply a request after the node gave up on it.
		late bool
	}{
		{"down", faultproxy.Refuse, false},
		{"resetting", faultproxy.ResetEach, false},
		{"stalled", faultproxy.Stall, true},
	} {
		t.Run(fault.name, func(t *testing.T) {
			if err := cluster.Set(fault.mode); err != nil {
				t.Fatal(err)
			}
			refused := []byte("a PUT answered 503")
			for _, c := range []struct {
				method, key string
				body        []byte
			}{
				{http.MethodPut, "new-" + fault.name, refused},
				{http.MethodPut, "kept", refused},
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
					if !bytes.Equal(b, kept) && !(fault.late && bytes.Equal(b, refused)) {
						t.Errorf("after the cluster %s, kept reads %q", fault.name, b)
					}
					kept = b
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("GET after the cluster came back: %d\n%s", st, node.logs())
				}
				time.Sleep(100 * time.Millisecond)
			}
			st, code, b := httpDo(t, http.MethodGet, sign(http.MethodGet, "new-"+fault.name), nil, nil)
			if st != 404 && !(fault.late && st == 200 && bytes.Equal(b, refused)) {
				t.Errorf("a PUT refused while the cluster was %s left an object: GET %d %s %q", fault.name, st, code, b)
			}
		})
	}
}
