package control

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CORS lets pages of other origins call the API: an application's page that uploads with an
// upload token (presign.js, or Uppy's S3 plugin against the Companion-compatible routes) runs
// on the application's origin, not the control plane's.
//
// No credentials mode: every call authenticates with a bearer token (in the Authorization
// header, or an upload token in the path), never with a cookie, so the answers never carry
// Access-Control-Allow-Credentials and a page cannot borrow a browser's ambient authority.
type CORS struct {
	origins []string // scheme://host[:port], each with at most one '*'
}

// corsPaths are the paths CORS applies to: the API, its document, and the browser module. The
// page itself (/ and /static/) is for its own origin only.
func corsPath(p string) bool {
	return strings.HasPrefix(p, "/v1/") || p == "/openapi.json"
}

// Headers of the CORS answers. Authorization and Content-Type are what presign.js and Uppy send;
// the exposed headers are those a client acts on (a rate limit's wait, the bearer challenge).
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, Accept"
	corsExposeHeaders = "Retry-After, WWW-Authenticate, Content-Length, Location"
	corsMaxAge        = "600"
)

// NewCORS admits the origins: each scheme://host[:port] with no path, "*" for every origin, or a
// pattern with one '*' ("https://*.example.com"). It refuses anything else, so a typo fails the
// start instead of silently admitting nothing.
func NewCORS(origins []string) (*CORS, error) {
	c := &CORS{}
	for _, o := range origins {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
		c.origins = append(c.origins, strings.ToLower(o))
	}
	return c, nil
}

// checkOrigin reports whether o can name the origins a browser sends.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	if strings.Count(o, "*") > 1 {
		return fmt.Errorf("CORS origin %q: at most one '*'", o)
	}
	u, err := url.Parse(strings.Replace(o, "*", "wildcard", 1))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("CORS origin %q: want scheme://host[:port] (e.g. https://app.example.com), a pattern with one '*', or '*'", o)
	}
	return nil
}

// Allows reports whether a request from origin may read the API's answers.
func (c *CORS) Allows(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	origin = strings.ToLower(origin)
	for _, o := range c.origins {
		if o == "*" || o == origin {
			return true
		}
		if before, after, ok := strings.Cut(o, "*"); ok && len(origin) >= len(before)+len(after) &&
			strings.HasPrefix(origin, before) && strings.HasSuffix(origin, after) {
			return true
		}
	}
	return false
}

// Wrap answers preflights of the API and adds the CORS headers to its answers for the admitted
// origins; other requests pass to h unchanged. Errors are answered with the same headers, so a
// page reads the JSON error (its code and message) rather than an opaque network failure.
func (c *CORS) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !corsPath(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		hd := w.Header()
		hd.Add("Vary", "Origin")
		allowed := c.Allows(origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			hd.Add("Vary", "Access-Control-Request-Method")
			hd.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				// No CORS headers: the browser refuses the request it wanted to send.
				w.WriteHeader(http.StatusNoContent)
				return
			}
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Methods", corsAllowMethods)
			hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			hd.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		h.ServeHTTP(w, r)
	})
}
