package storage_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"presign/storage"
)

// TestStalledUploadIsCut: an upload whose client stops sending is cut after BodyIdleTimeout,
// and nothing is stored.
func TestStalledUploadIsCut(t *testing.T) {
	n := startFormNode(t, storage.Config{BodyIdleTimeout: 300 * time.Millisecond}, nil)
	u, _ := url.Parse(n.URL + "/" + formBucket + "/stalled")
	pu, err := n.Signer.Presign(http.MethodPut, u, nil, time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", pu.RequestURI(), u.Host)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The server ends the request (an error answer or a closed connection) instead of waiting.
	_, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil && strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the server kept waiting for the stalled body: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut after %v, want about the 300ms idle timeout", d)
	}
	n.requireAbsent(t, "stalled")
}

// TestUserMetadataIsLimited: x-amz-meta-* headers over S3's 2 KiB are refused and nothing is
// stored; exactly 2 KiB is accepted.
func TestUserMetadataIsLimited(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	for _, tc := range []struct {
		key    string
		value  int // bytes of the value; the name "big" adds 3
		status int
	}{
		{"meta-ok", 2048 - 3, http.StatusOK},
		{"meta-over", 2048 - 2, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest(http.MethodPut, n.URL+"/"+formBucket+"/"+tc.key, strings.NewReader("x"))
		req.Header.Set("X-Amz-Meta-Big", strings.Repeat("v", tc.value))
		if _, err := n.Signer.SignRequest(req, "UNSIGNED-PAYLOAD", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, body := send(t, req.Method, req.URL.String(), req.Header, []byte("x"))
		if resp.StatusCode != tc.status {
			t.Fatalf("%s: %d %s", tc.key, resp.StatusCode, body)
		}
		if tc.status != http.StatusOK {
			if e := parseS3Error(body); e.Code != "MetadataTooLarge" {
				t.Fatalf("%s: code %s", tc.key, e.Code)
			}
			n.requireAbsent(t, tc.key)
		}
	}
}
