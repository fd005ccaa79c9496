package metricsauth

import (
	"net/http/httptest"
	"testing"
)

func TestCheckAdmitsTheTokenOrALocalUnproxiedClient(t *testing.T) {
	for _, tc := range []struct {
		name, token, remote string
		headers             map[string]string
		want                int // 0: admitted
	}{
		{"loopback v4", "", "127.0.0.1:5000", nil, 0},
		{"loopback v6", "", "[::1]:5000", nil, 0},
		{"v4-mapped loopback", "", "[::ffff:127.0.0.1]:5000", nil, 0},
		{"remote", "", "203.0.113.9:5000", nil, 403},
		{"private network", "", "10.0.0.7:5000", nil, 403},
		{"loopback via proxy", "", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403},
		{"loopback via Forwarded", "", "127.0.0.1:5000", map[string]string{"Forwarded": "for=203.0.113.9"}, 403},
		{"token from anywhere", "s3cret", "203.0.113.9:5000", map[string]string{"Authorization": "Bearer s3cret"}, 0},
		{"token via proxy", "s3cret", "127.0.0.1:5000", map[string]string{"Authorization": "Bearer s3cret", "X-Forwarded-For": "203.0.113.9"}, 0},
		{"token missing, even locally", "s3cret", "127.0.0.1:5000", nil, 401},
		{"wrong token", "s3cret", "127.0.0.1:5000", map[string]string{"Authorization": "Bearer s3cret2"}, 401},
		{"token without Bearer", "s3cret", "127.0.0.1:5000", map[string]string{"Authorization": "s3cret"}, 401},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = tc.remote
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		got := 0
		if no := Check(r, tc.token); no != nil {
			got = no.Status
			if no.Message == "" {
				t.Errorf("%s: refusal without a message", tc.name)
			}
		}
		if got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}
