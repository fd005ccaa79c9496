// Package web is the control plane's browser page: sign in, pick or drop files that upload
// straight to the storage node (one presigned PUT, or parts in parallel with pause and resume),
// and list, download and delete them. It is plain HTML, CSS and JavaScript modules embedded in
// the binary, so there is no build step and nothing is fetched from elsewhere.
//
// The page's upload code is one module, static/presign.js, which is also served at
// ModulePath for any other page that holds a token (an application's page with an upload
// token): one implementation of browser uploads.
//
// The page talks to the control plane's JSON API (/v1) for metadata only; file bytes go from
// the browser to the storage URLs of the tickets. The Content-Security-Policy therefore lets
// scripts connect to the page's own origin and to the storage origins, and nowhere else.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes of the embedded files, fixed here rather than read from the system's MIME
// tables, which differ between machines (.js as application/x-javascript, say).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// ModulePath is where the browser upload module is served for other pages.
const ModulePath = "/v1/presign.js"

// moduleAsset is the embedded file served at ModulePath.
const moduleAsset = "presign.js"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// page serves the embedded files with the security headers of every answer.
type page struct {
	assets  map[string]asset // name under static/ → file
	headers http.Header
}

// Handler returns the page: GET / is index.html, GET /static/NAME its assets and GET
// ModulePath the upload module; anything else is 404. storageURLs are where tickets point (scheme://host[:port], any path ignored): their
// origins are the only ones besides the page's own that its scripts may connect to. An entry
// that is not an absolute http or https URL adds nothing, and uploads to it are then refused by
// the browser.
func Handler(storageURLs ...string) http.Handler {
	p := &page{assets: map[string]asset{}, headers: securityHeaders(storageURLs)}
	// The embedded tree is fixed at build time, so walking it cannot fail.
	fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		p.assets[strings.TrimPrefix(name, "static/")] = asset{body: body, contentType: ct,
			etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return p
}

// Mount returns a handler that serves the page (GET and HEAD of /, /static/... and ModulePath) and hands
// every other request to api, so the JSON API, probes and metrics keep their paths.
func Mount(api http.Handler, storageURLs ...string) http.Handler {
	pg := Handler(storageURLs...)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPagePath(r) {
			pg.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// isPagePath reports whether r is for the page rather than the API: a GET or HEAD of /, of a
// path under /static/, or of ModulePath.
func isPagePath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	return r.URL.Path == "/" || r.URL.Path == ModulePath || strings.HasPrefix(r.URL.Path, "/static/")
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range p.headers {
		h[k] = v
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := "", false
	switch {
	case r.URL.Path == "/":
		name, ok = "index.html", true
	case strings.HasPrefix(r.URL.Path, "/static/"):
		name = strings.TrimPrefix(r.URL.Path, "/static/")
		ok = name != "index.html" // the page has one address
	case r.URL.Path == ModulePath:
		name, ok = moduleAsset, true
		// Other origins' pages import it (a CORS request, answered by the control plane's
		// CORS rules); the page's same-origin resource policy is not for this file.
		h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	a, found := p.assets[name]
	if !ok || !found {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	// Revalidated on every load (the ETag makes that cheap), so a new binary's page and its
	// scripts are never mixed with an old cached copy.
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// securityHeaders are sent with every answer of the page.
func securityHeaders(storageURLs []string) http.Header {
	connect := []string{"'self'"}
	for _, s := range storageURLs {
		if o := origin(s); o != "" && !slices.Contains(connect, o) {
			connect = append(connect, o)
		}
	}
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"form-action 'none'",
		"base-uri 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	return http.Header{
		"Content-Security-Policy":      {csp},
		"X-Content-Type-Options":       {"nosniff"},
		"Referrer-Policy":              {"no-referrer"},
		"X-Frame-Options":              {"DENY"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Permissions-Policy":           {"camera=(), microphone=(), geolocation=()"},
	}
}

// origin is scheme://host[:port] of an absolute http(s) URL, or "" for anything else.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	if strings.ContainsAny(u.Host, " ;,'\"") {
		return ""
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host)
}
