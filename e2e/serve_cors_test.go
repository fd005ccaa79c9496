package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// corsAnswer is what the storage node answered a cross-origin request: status, S3 error code
// and the response's headers.
type corsAnswer struct {
	status int
	code   string
	header http.Header
}

// crossOrigin sends method to u as a browser on origin would (Origin set), with the extra
// headers h, and returns the answer.
func crossOrigin(t *testing.T, method, u, origin string, h http.Header, body []byte) corsAnswer {
	t.Helper()
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Origin", origin)
	st, code, _, header := httpDoHeader(t, method, u, h, bytes.NewReader(body))
	return corsAnswer{status: st, code: code, header: header}
}

// commaList reports whether the comma-separated header value lists name (case-insensitively).
func commaList(value, name string) bool {
	return slices.ContainsFunc(strings.Split(value, ","), func(v string) bool {
		return strings.EqualFold(strings.TrimSpace(v), name)
	})
}

// TestServeStorageNodeAllowsOnlyItsOwnPageOriginByDefault: "presign serve" without
// --cors-origin lets the page its control plane serves PUT straight to the storage node: a
// preflight from the control plane's origin (and its localhost twin) is allowed with the CORS
// headers a page needs (ETag exposed, so it can complete a multipart upload), and the PUT's
// own answer carries them too. A preflight from any other origin, even the same host on another
// port or scheme, is refused with 403 AccessForbidden and no Allow-Origin, as S3 does.
func TestServeStorageNodeAllowsOnlyItsOwnPageOriginByDefault(t *testing.T) {
	p := serveProcess(t)
	ctl, err := url.Parse(p.url("control plane"))
	if err != nil {
		t.Fatal(err)
	}
	own := ctl.Scheme + "://" + ctl.Host
	alice, _ := adminAPI(t, p).newUser("alice", nil)
	body := []byte("bytes a page sends straight to the storage node\n")
	sum := sha256.Sum256(body)
	var tk ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "page.txt", "size": len(body),
		"content_type": "text/plain", "sha256": hex.EncodeToString(sum[:])}, &tk)
	if !strings.HasPrefix(tk.URL, p.url("storage node")+"/") {
		t.Fatalf("the ticket's URL %s is not on the storage node %s", tk.URL, p.url("storage node"))
	}
	asked := http.Header{"Access-Control-Request-Method": {"PUT"},
		"Access-Control-Request-Headers": {"content-type,x-amz-checksum-sha256"}}

	for _, origin := range []string{own, "http://localhost:" + ctl.Port()} {
		t.Run("allowed "+origin, func(t *testing.T) {
			a := crossOrigin(t, http.MethodOptions, tk.URL, origin, asked, nil)
			h := a.header
			if a.status != 200 {
				t.Fatalf("preflight: %d %s", a.status, a.code)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
			}
			if !commaList(h.Get("Access-Control-Allow-Methods"), "PUT") {
				t.Errorf("Access-Control-Allow-Methods %q lacks PUT", h.Get("Access-Control-Allow-Methods"))
			}
			for _, name := range []string{"content-type", "x-amz-checksum-sha256"} {
				if !commaList(h.Get("Access-Control-Allow-Headers"), name) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", h.Get("Access-Control-Allow-Headers"), name)
				}
			}
			if !commaList(h.Get("Access-Control-Expose-Headers"), "ETag") {
				t.Errorf("Access-Control-Expose-Headers %q lacks ETag", h.Get("Access-Control-Expose-Headers"))
			}
			if !commaList(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q lacks Origin: a cache could serve this answer to another origin", h.Values("Vary"))
			}
		})
	}

	refused := []string{
		"http://evil.example",
		"http://" + ctl.Hostname() + ":1", // the same host, another port
		"https://" + ctl.Host,             // the same host and port, another scheme
		p.url("storage node"),             // the storage node's own origin serves no page
		own + ".evil.example",             // a prefix match is no match
	}
	for _, origin := range refused {
		t.Run("refused "+origin, func(t *testing.T) {
			a := crossOrigin(t, http.MethodOptions, tk.URL, origin, asked, nil)
			if a.status != http.StatusForbidden || a.code != "AccessForbidden" {
				t.Errorf("preflight: %d %s, want 403 AccessForbidden", a.status, a.code)
			}
			if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("refused preflight carries Access-Control-Allow-Origin %q", got)
			}
		})
	}

	// The PUT itself: its answer lets the page read the ETag; the same answer seen from another
	// origin grants nothing (the browser would hide it from that page).
	h := http.Header{}
	for k, v := range tk.Headers {
		h.Set(k, v)
	}
	a := crossOrigin(t, http.MethodPut, tk.URL, own, h, body)
	if a.status != 200 {
		t.Fatalf("PUT from the page's origin: %d %s", a.status, a.code)
	}
	if a.header.Get("Access-Control-Allow-Origin") != own || !commaList(a.header.Get("Access-Control-Expose-Headers"), "ETag") || a.header.Get("ETag") == "" {
		t.Errorf("PUT answer: Allow-Origin %q, Expose-Headers %q, ETag %q", a.header.Get("Access-Control-Allow-Origin"),
			a.header.Get("Access-Control-Expose-Headers"), a.header.Get("ETag"))
	}
	var dl struct{ URL string }
	alice.waitState(tk.ID, "completed", 10*time.Second)
	alice.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &dl)
	if a := crossOrigin(t, http.MethodGet, dl.URL, "http://evil.example", nil, nil); a.status != 200 || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin: %d, Access-Control-Allow-Origin %q", a.status, a.header.Get("Access-Control-Allow-Origin"))
	}
}
