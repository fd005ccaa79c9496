package control

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestNewCORSRefusesWhatNamesNoOrigin: a path, a missing scheme or two wildcards fail the
// start rather than silently admitting nothing.
func TestNewCORSRefusesWhatNamesNoOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"http://127.0.0.1:8500", true},
		{"https://app.example.com/", true},
		{"*", true},
		{"https://*.example.com", true},
		{"app.example.com", false},
		{"https://app.example.com/upload", false},
		{"ftp://app.example.com", false},
		{"https://*.*.example.com", false},
		{"https://user@app.example.com", false},
		{"", false},
	} {
		_, err := NewCORS([]string{tc.origin})
		if (err == nil) != tc.ok {
			t.Errorf("NewCORS(%q): %v, want ok %v", tc.origin, err, tc.ok)
		}
	}
}

// TestCORSAnswersPreflightsAndExposesErrorsOnlyToAdmittedOrigins: a preflight from an admitted
// origin is answered without reaching the API, with the methods and headers the browser
// clients send and never a credentials grant; answers (errors included) carry the origin; an
// origin not admitted, the page's own paths and requests without an Origin get nothing.
func TestCORSAnswersPreflightsAndExposesErrorsOnlyToAdmittedOrigins(t *testing.T) {
	c, err := NewCORS([]string{"https://app.example.com", "http://*.test.example:8080"})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated"})
	}))
	for _, tc := range []struct {
		name, method, path, origin, reqMethod string
		wantOrigin                            string
		wantReached                           bool
		wantStatus                            int
	}{
		{"preflight admitted", "OPTIONS", "/v1/uploads", "https://app.example.com", "POST", "https://app.example.com", false, 204},
		{"preflight wildcard", "OPTIONS", "/v1/companion/psu_x/s3/multipart", "http://a.test.example:8080", "POST", "http://a.test.example:8080", false, 204},
		{"preflight refused origin", "OPTIONS", "/v1/uploads", "https://evil.example", "POST", "", false, 204},
		{"error answer admitted", "GET", "/v1/files", "https://app.example.com", "", "https://app.example.com", true, 401},
		{"module admitted", "GET", "/v1/presign.js", "https://app.example.com", "", "https://app.example.com", true, 401},
		{"answer refused origin", "GET", "/v1/files", "https://app.example.com.evil.example", "", "", true, 401},
		{"the page is not the API", "GET", "/", "https://app.example.com", "", "", true, 401},
		{"no origin", "GET", "/v1/files", "", "", "", true, 401},
		{"plain OPTIONS is the API's", "OPTIONS", "/v1/files", "https://app.example.com", "", "https://app.example.com", true, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = 0
			r := httptest.NewRequest(tc.method, tc.path, nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.reqMethod != "" {
				r.Header.Set("Access-Control-Request-Method", tc.reqMethod)
				r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Result()
			if got.StatusCode != tc.wantStatus || (reached > 0) != tc.wantReached {
				t.Errorf("status %d, reached the API %v; want %d, %v", got.StatusCode, reached > 0, tc.wantStatus, tc.wantReached)
			}
			if o := got.Header.Get("Access-Control-Allow-Origin"); o != tc.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", o, tc.wantOrigin)
			}
			if got.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed: the API never takes a browser's cookies")
			}
			if tc.wantOrigin == "" {
				return
			}
			if tc.reqMethod != "" {
				m, hs := got.Header.Get("Access-Control-Allow-Methods"), strings.ToLower(got.Header.Get("Access-Control-Allow-Headers"))
				if !strings.Contains(m, tc.reqMethod) || !strings.Contains(m, "DELETE") || !strings.Contains(hs, "authorization") || !strings.Contains(hs, "content-type") {
					t.Errorf("preflight allows methods %q, headers %q", m, hs)
				}
			} else if !strings.Contains(got.Header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Errorf("exposed headers %q lack Retry-After", got.Header.Get("Access-Control-Expose-Headers"))
			}
			if !strings.Contains(strings.Join(got.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q lacks Origin: a cache could serve one origin's answer to another", got.Header.Values("Vary"))
			}
		})
	}
}
