package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// startServe runs "presign serve" in this process with env, and returns the control plane's
// and the storage node's base URLs once both answer their health checks.
func startServe(t *testing.T, env map[string]string) (ctl, stor string) {
	t.Helper()
	ctlAddr, stAddr := freePort(t), freePort(t)
	m, _, errb := testMain(env)
	m.registry = prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--addr", ctlAddr, "--storage-addr", stAddr})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v\n%s", err, errb)
		}
	})
	ctl, stor = "http://"+ctlAddr, "http://"+stAddr
	for _, u := range []string{ctl + "/healthz", stor + "/_presign/healthz"} {
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case err := <-done:
				t.Fatalf("serve ended: %v\n%s", err, errb)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return ctl, stor
}

// get sends a GET with the headers and returns the status and the body.
func get(t *testing.T, url string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsNeedTheTokenOrALocalClient: both planes' metrics answer only a request with the
// configured token (401 in each plane's error format otherwise), and without a token only a
// local client that did not come through a proxy (403 for a forwarded request).
func TestMetricsNeedTheTokenOrALocalClient(t *testing.T) {
	env := map[string]string{"PRESIGN_ADMIN_PASSWORD": "admin-password-1"}
	t.Run("token", func(t *testing.T) {
		env := map[string]string{"PRESIGN_ADMIN_PASSWORD": env["PRESIGN_ADMIN_PASSWORD"], "PRESIGN_METRICS_TOKEN": "metrics-secret-1"}
		ctl, stor := startServe(t, env)
		for _, tc := range []struct {
			url, errFormat string
		}{{ctl + "/metrics", `"error":"unauthenticated"`}, {stor + "/_presign/metrics", "<Code>AccessDenied</Code>"}} {
			for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "metrics-secret-1"}} {
				if st, body := get(t, tc.url, h); st != 401 || !strings.Contains(body, tc.errFormat) {
					t.Errorf("%s with %v: %d %s, want 401 with %s", tc.url, h, st, body, tc.errFormat)
				}
			}
			if st, body := get(t, tc.url, map[string]string{"Authorization": "Bearer metrics-secret-1"}); st != 200 || !strings.Contains(body, "# TYPE presign_") {
				t.Errorf("%s with the token: %d %.200s", tc.url, st, body)
			}
		}
	})
	t.Run("loopback", func(t *testing.T) {
		ctl, stor := startServe(t, env)
		for _, u := range []string{ctl + "/metrics", stor + "/_presign/metrics"} {
			if st, _ := get(t, u, nil); st != 200 {
				t.Errorf("%s from loopback: %d, want 200", u, st)
			}
			for _, h := range []map[string]string{{"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}} {
				if st, body := get(t, u, h); st != 403 {
					t.Errorf("%s through a proxy (%v): %d %s, want 403", u, h, st, body)
				}
			}
		}
	})
}
