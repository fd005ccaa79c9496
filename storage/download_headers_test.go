package storage_test

import (
	"net/http"
	"testing"
	"time"

	"presign/storage"
)

// TestDownloadsAreInert: whatever an object's type, GET and HEAD answer it with nosniff and a
// sandbox, so an uploaded HTML or SVG file never runs as a page of the node's origin.
func TestDownloadsAreInert(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	for _, ct := range []string{"text/html", "image/svg+xml", ""} {
		key := "/" + formBucket + "/page-" + ct
		resp, body := n.signedSend(t, http.MethodPut, key, http.Header{"Content-Type": {ct}}, []byte("<script>alert(1)</script>"))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT: %d %s", resp.StatusCode, body)
		}
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			resp, _ := send(t, method, n.presign(t, method, key, time.Minute), nil, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %q: %d", method, ct, resp.StatusCode)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("%s %q: X-Content-Type-Options %q, want nosniff", method, ct, got)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != "sandbox" {
				t.Errorf("%s %q: Content-Security-Policy %q, want sandbox", method, ct, got)
			}
		}
	}
}

// TestOnlySignedCacheHeadersAreStored: the headers that steer caches and clients
// (Cache-Control, Expires, Content-Encoding, ...) are stored and replayed only when the
// write's signature covers them; added to a presigned URL by whoever holds it, they are
// dropped. Content-Type is always kept.
func TestOnlySignedCacheHeadersAreStored(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	added := http.Header{
		"Content-Type":        {"text/plain"},
		"Cache-Control":       {"public, max-age=31536000, immutable"},
		"Expires":             {"Thu, 01 Dec 2094 16:00:00 GMT"},
		"Content-Encoding":    {"gzip"},
		"Content-Disposition": {"inline"},
		"Content-Language":    {"fr"},
	}
	for _, tc := range []struct {
		name   string
		put    func(key string) (*http.Response, []byte)
		stored bool
	}{
		{"SigV4 presigned URL, headers added", func(key string) (*http.Response, []byte) {
			return send(t, http.MethodPut, n.presign(t, http.MethodPut, key, time.Minute), added, []byte("x"))
		}, false},
		{"SigV2 presigned URL, headers added", func(key string) (*http.Response, []byte) {
			return send(t, http.MethodPut, n.v2URL(t, http.MethodPut, key, http.Header{"Content-Type": {"text/plain"}}, time.Now().Add(time.Minute)), added, []byte("x"))
		}, false},
		{"SigV4 headers, all signed", func(key string) (*http.Response, []byte) {
			return n.signedSend(t, http.MethodPut, key, added, []byte("x"))
		}, true},
		{"SigV2 headers, by the key's holder", func(key string) (*http.Response, []byte) {
			return n.v2Send(t, http.MethodPut, key, added, []byte("x"))
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "/" + formBucket + "/h"
			resp, body := tc.put(key)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("PUT: %d %s", resp.StatusCode, body)
			}
			// identity: Go's client would otherwise decode the gzip it asked for itself.
			resp, _ = send(t, http.MethodGet, n.presign(t, http.MethodGet, key, time.Minute), http.Header{"Accept-Encoding": {"identity"}}, nil)
			if got := resp.Header.Get("Content-Type"); got != "text/plain" {
				t.Errorf("Content-Type %q, want text/plain kept", got)
			}
			for name, v := range added {
				if name == "Content-Type" {
					continue
				}
				got := resp.Header.Get(name)
				if tc.stored && got != v[0] {
					t.Errorf("%s %q, want the signed %q", name, got, v[0])
				}
				if !tc.stored && got != "" {
					t.Errorf("%s %q replayed, though no signature covered it", name, got)
				}
			}
		})
	}
}
