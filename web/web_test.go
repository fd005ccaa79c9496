package web

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func get(t *testing.T, client *http.Client, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestMountServesThePageAndLeavesEverythingElseToTheAPI: GET and HEAD of / and /static/...
// are the page's; every other method or path reaches the API handler untouched.
func TestMountServesThePageAndLeavesEverythingElseToTheAPI(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From", "api")
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(Mount(api, "http://127.0.0.1:9000"))
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		page         bool
		status       int
	}{
		{"GET", "/", true, 200},
		{"HEAD", "/", true, 200},
		{"GET", "/static/app.js", true, 200},
		{"HEAD", "/static/style.css", true, 200},
		{"GET", "/static/missing.js", true, 404},
		{"GET", "/static/index.html", true, 404},
		{"GET", "/v1/presign.js", true, 200},
		{"HEAD", "/v1/presign.js", true, 200},
		{"POST", "/v1/presign.js", false, http.StatusTeapot},
		{"GET", "/v1/presign.jsx", false, http.StatusTeapot},
		{"POST", "/", false, http.StatusTeapot},
		{"DELETE", "/static/app.js", false, http.StatusTeapot},
		{"GET", "/v1/me", false, http.StatusTeapot},
		{"POST", "/v1/login", false, http.StatusTeapot},
		{"GET", "/healthz", false, http.StatusTeapot},
		{"GET", "/openapi.json", false, http.StatusTeapot},
		{"GET", "/metrics", false, http.StatusTeapot},
		{"GET", "/index.html", false, http.StatusTeapot},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, _ := get(t, srv.Client(), tc.method, srv.URL+tc.path, nil)
			fromAPI := resp.Header.Get("X-From") == "api"
			if resp.StatusCode != tc.status || fromAPI == tc.page {
				t.Errorf("status %d, from the API %v; want %d, from the page %v", resp.StatusCode, fromAPI, tc.status, tc.page)
			}
			if tc.page && resp.Header.Get("Content-Security-Policy") == "" {
				t.Error("a page answer without Content-Security-Policy")
			}
		})
	}
}

// TestPageHeadersConfineScriptsToThePageAndTheStorage: scripts, styles and images come from
// the page's origin only, and scripts may connect to it and to the storage origins, which are
// reduced to scheme://host:port.
func TestPageHeadersConfineScriptsToThePageAndTheStorage(t *testing.T) {
	srv := httptest.NewServer(Handler("http://127.0.0.1:9000/ignored/path", "https://S3.Example.com", "ftp://x", "no url", "http://u:p@host"))
	defer srv.Close()
	resp, body := get(t, srv.Client(), "GET", srv.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "<title>presign</title>") {
		t.Fatalf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp := map[string]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"script-src":      "'self'",
		"style-src":       "'self'",
		"img-src":         "'self'",
		"connect-src":     "'self' http://127.0.0.1:9000 https://s3.example.com",
		"form-action":     "'none'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
	}
	for k, v := range want {
		if csp[k] != v {
			t.Errorf("CSP %s = %q, want %q (whole policy %q)", k, csp[k], v, resp.Header.Get("Content-Security-Policy"))
		}
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
		}
	}
	resp, _ = get(t, srv.Client(), "GET", srv.URL+"/static/nope", nil)
	if resp.StatusCode != 404 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("a 404 of the page: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
}

// TestAssetsHaveTheirTypesAndRevalidate: every embedded file is served with its own type and
// an ETag, and a request with that ETag gets 304 without a body.
func TestAssetsHaveTheirTypesAndRevalidate(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for name, ct := range map[string]string{
		"app.js": "text/javascript; charset=utf-8", "api.js": "text/javascript; charset=utf-8",
		"presign.js": "text/javascript; charset=utf-8", "files.js": "text/javascript; charset=utf-8",
		"dom.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml",
	} {
		resp, body := get(t, srv.Client(), "GET", srv.URL+"/static/"+name, nil)
		want, _ := fs.ReadFile(static, "static/"+name)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct || body != string(want) {
			t.Errorf("%s: %d %q, %d bytes; want 200 %q, %d bytes", name, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), ct, len(want))
			continue
		}
		etag := resp.Header.Get("ETag")
		resp, body = get(t, srv.Client(), "GET", srv.URL+"/static/"+name, http.Header{"If-None-Match": {etag}})
		if etag == "" || resp.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("%s revalidated with ETag %q: %d, %d bytes", name, etag, resp.StatusCode, len(body))
		}
	}
	resp, _ := get(t, srv.Client(), "POST", srv.URL+"/", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to the page: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestIndexHasNoInlineCodeAndEveryReferenceExists: the policy forbids inline scripts, inline
// event handlers and inline styles, so the page must have none; every /static/ file it names
// is embedded.
func TestIndexHasNoInlineCodeAndEveryReferenceExists(t *testing.T) {
	page, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	z := html.NewTokenizer(bytes.NewReader(page))
	inScript := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
					t.Errorf("<%s %s=...>: inline code or style", tok.Data, a.Key)
				}
				if (a.Key == "src" || a.Key == "href") && strings.HasPrefix(a.Val, "/static/") {
					if _, err := fs.Stat(static, strings.TrimPrefix(a.Val, "/")); err != nil {
						t.Errorf("<%s %s=%q>: not embedded", tok.Data, a.Key, a.Val)
					}
				}
				if (a.Key == "src" || a.Key == "href") && (strings.Contains(a.Val, "//") || strings.HasPrefix(a.Val, "javascript:")) {
					t.Errorf("<%s %s=%q>: the page loads nothing from elsewhere", tok.Data, a.Key, a.Val)
				}
			}
			if tok.Data == "script" {
				inScript = true
				if attrs["src"] == "" {
					t.Error("a <script> without src")
				}
			}
			if tok.Data == "style" {
				t.Error("a <style> element")
			}
		case html.EndTagToken:
			if tok.Data == "script" {
				inScript = false
			}
		case html.TextToken:
			if inScript && strings.TrimSpace(tok.Data) != "" {
				t.Errorf("inline script %q", tok.Data)
			}
		}
	}
}

// TestScriptsNeverParseTextAsHTML: file names and server messages reach the page through
// textContent and attributes only; none of the HTML-parsing sinks (or eval) appears in the
// scripts.
func TestScriptsNeverParseTextAsHTML(t *testing.T) {
	sinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|createContextualFragment|setTimeout\(['"]`)
	names, err := fs.Glob(static, "static/*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("no scripts embedded: %v", err)
	}
	for _, name := range names {
		src, err := fs.ReadFile(static, name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := sinks.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s", name, i+1, m)
			}
		}
	}
}

// TestScriptImportsAreEmbedded: every module a script imports is one of the embedded files,
// named relative to it (the page loads nothing from elsewhere).
func TestScriptImportsAreEmbedded(t *testing.T) {
	imports := regexp.MustCompile(`(?m)^import .* from '([^']+)';$`)
	names, _ := fs.Glob(static, "static/*.js")
	seen := 0
	for _, name := range names {
		src, _ := fs.ReadFile(static, name)
		for _, m := range imports.FindAllStringSubmatch(string(src), -1) {
			seen++
			target, ok := strings.CutPrefix(m[1], "./")
			if _, err := fs.Stat(static, "static/"+target); !ok || err != nil {
				t.Errorf("%s imports %q: not an embedded file beside it", name, m[1])
			}
		}
	}
	if seen == 0 {
		t.Error("no imports found: the pattern no longer matches the scripts")
	}
}

// TestOrigin reduces URLs to the origin a Content-Security-Policy can name.
func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000", "http://127.0.0.1:9000"},
		{"http://127.0.0.1:9000/bucket/key?x=1", "http://127.0.0.1:9000"},
		{"HTTPS://Bucket.S3.Amazonaws.com", "https://bucket.s3.amazonaws.com"},
		{"http://[::1]:9000", "http://[::1]:9000"},
		{"", ""},
		{"127.0.0.1:9000", ""},
		{"ftp://files.example.com", ""},
		{"http://user:pw@example.com", ""},
		{"http://example.com; script-src *", ""},
		{"/relative/path", ""},
	} {
		if got := origin(tc.in); got != tc.want {
			t.Errorf("origin(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestModuleIsThePagesOwnUploadCode: /v1/presign.js, the module other pages import, is byte
// for byte the file the page's own scripts import, served as JavaScript that other origins
// may load.
func TestModuleIsThePagesOwnUploadCode(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, body := get(t, srv.Client(), "GET", srv.URL+ModulePath, nil)
	want, _ := fs.ReadFile(static, "static/"+moduleAsset)
	if resp.StatusCode != 200 || body != string(want) || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("%s: %d %q, %d bytes; want the %d bytes of %s", ModulePath, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(want), moduleAsset)
	}
	if got := resp.Header.Get("Cross-Origin-Resource-Policy"); got != "cross-origin" {
		t.Errorf("Cross-Origin-Resource-Policy %q: other origins' pages could not import the module", got)
	}
	for _, name := range []string{"api.js", "app.js"} {
		src, _ := fs.ReadFile(static, "static/"+name)
		if !strings.Contains(string(src), "from './"+moduleAsset+"';") {
			t.Errorf("%s does not import the module: the page would have an upload implementation of its own", name)
		}
	}
	for _, export := range []string{"export function upload(", "export class Transfer", "export class Client", "export class ResumeBook"} {
		if !strings.Contains(string(want), export) {
			t.Errorf("the module lacks %q", export)
		}
	}
}
