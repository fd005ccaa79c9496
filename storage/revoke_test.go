package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"presign/extension"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
	"presign/storage/nodestate"
)

const (
	revokeAccessKey = "PSREVOKETESTKEY"
	revokeSecretKey = "revoke-test-secret/with+symbols="
)

// revokeNode is a storage node with a local revocation store, its revoke call mounted where
// cmd/presign mounts it.
type revokeNode struct {
	url    string
	signer *sigv4.Signer
	store  *nodestate.Store
}

func startRevokeNode(t *testing.T) *revokeNode {
	t.Helper()
	return startRevokeNodeWith(t, storage.Config{})
}

// startRevokeNodeWith is startRevokeNode with cfg's limits (the rest of cfg is set here).
func startRevokeNodeWith(t *testing.T, cfg storage.Config) *revokeNode {
	t.Helper()
	b, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st, err := nodestate.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Backend, cfg.Credentials = b, sigv4.StaticCredentials{revokeAccessKey: revokeSecretKey}
	cfg.Nonces, cfg.Revocations = b, st
	srv, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // after the HTTP server, which stops first
	revoke := srv.RevokeHandler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_presign/revoke" {
			revoke.ServeHTTP(w, r)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	if err := b.CreateBucket(t.Context(), "docs"); err != nil {
		t.Fatal(err)
	}
	data := []byte("the report")
	if _, err := b.PutObject(t.Context(), "docs", "report.pdf", storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), storage.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	return &revokeNode{url: ts.URL, store: st, signer: &sigv4.Signer{
		Credentials: sigv4.Credentials{AccessKeyID: revokeAccessKey, SecretAccessKey: revokeSecretKey}, Region: "us-east-1"}}
}

// downloadURL presigns a GET of the report for ticket id and user, signed at t.
func (n *revokeNode) downloadURL(t *testing.T, id, user string, at time.Time) string {
	t.Helper()
	u, _ := url.Parse(n.url + "/docs/report.pdf")
	q := url.Values{}
	if id != "" {
		q.Set(extension.ID, id)
	}
	if user != "" {
		q.Set(extension.User, user)
	}
	u.RawQuery = q.Encode()
	pu, err := n.signer.Presign(http.MethodGet, u, nil, at, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return pu.String()
}

var errorCode = regexp.MustCompile(`<Code>([^<]+)</Code>`)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := errorCode.FindSubmatch(b); m != nil {
		return resp.StatusCode, string(m[1]) + ": " + string(b)
	}
	return resp.StatusCode, ""
}

// revokeCall sends the revoke call with body, signed by signer (nil: unsigned), payload hash
// as given ("" for the body's own).
func (n *revokeNode) revokeCall(t *testing.T, signer *sigv4.Signer, body, payloadHash string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.url+"/_presign/revoke", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if payloadHash == "" {
		sum := sha256.Sum256([]byte(body))
		payloadHash = hex.EncodeToString(sum[:])
	}
	if signer != nil {
		if _, err := signer.SignRequest(req, payloadHash, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A download URL stops working once its ticket, or its user's URLs, are revoked mid-validity;
// other tickets, other users, and the user's URLs signed after the revocation keep working.
func TestRevokedURLsStopWorking(t *testing.T) {
	n := startRevokeNode(t)
	signedAt := time.Now().Add(-time.Minute).Truncate(time.Second)
	mine := n.downloadURL(t, "ticket-1", "u42", signedAt)
	other := n.downloadURL(t, "ticket-2", "u7", signedAt)
	for _, u := range []string{mine, other} {
		if st, msg := get(t, u); st != http.StatusOK {
			t.Fatalf("before any revocation: %d %s", st, msg)
		}
	}
	until := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	if st, body := n.revokeCall(t, n.signer, `{"revocations":[{"id":"ticket-1","until":"`+until+`"}]}`, ""); st != http.StatusOK {
		t.Fatalf("revoke call: %d %s", st, body)
	}
	st, msg := get(t, mine)
	if st != http.StatusForbidden || !strings.HasPrefix(msg, "AccessDenied") || !strings.Contains(msg, "revoked") {
		t.Fatalf("revoked ticket's URL: %d %s, want 403 AccessDenied saying revoked", st, msg)
	}
	if st, msg := get(t, other); st != http.StatusOK {
		t.Fatalf("another ticket's URL after the revocation: %d %s", st, msg)
	}

	before := time.Now().UTC().Format(time.RFC3339)
	if st, body := n.revokeCall(t, n.signer, `{"revocations":[{"user":"u7","before":"`+before+`","until":"`+until+`"}]}`, ""); st != http.StatusOK {
		t.Fatalf("revoke call: %d %s", st, body)
	}
	if st, _ := get(t, other); st != http.StatusForbidden {
		t.Fatalf("a URL of a user whose URLs were revoked: %d, want 403", st)
	}
	fresh := n.downloadURL(t, "ticket-3", "u7", time.Now().Add(2*time.Second))
	if st, msg := get(t, fresh); st != http.StatusOK {
		t.Fatalf("the user's URL signed after the revocation: %d %s", st, msg)
	}
}

// The revoke call must be signed in its headers by the node's credentials, payload included;
// a bad call changes nothing.
func TestRevokeCallRefusesBadCalls(t *testing.T) {
	n := startRevokeNode(t)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	good := `{"revocations":[{"id":"t","until":"` + until + `"}]}`
	stranger := &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: revokeAccessKey, SecretAccessKey: "not the secret"}, Region: "us-east-1"}
	tests := []struct {
		name        string
		signer      *sigv4.Signer
		body        string
		payloadHash string
		want        int
	}{
		{"Unsigned", nil, good, "", http.StatusForbidden},
		{"WrongSecret", stranger, good, "", http.StatusForbidden},
		{"UnsignedPayload", n.signer, good, sigv4.UnsignedPayload, http.StatusForbidden},
		{"BodyNotTheSignedOne", n.signer, good, strings.Repeat("ab", 32), http.StatusBadRequest},
		{"NotJSON", n.signer, "revoke t", "", http.StatusBadRequest},
		{"UnknownField", n.signer, `{"revocations":[{"id":"t","until":"` + until + `","all":true}]}`, "", http.StatusBadRequest},
		{"OneInvalidAmongValid", n.signer, `{"revocations":[{"id":"t","until":"` + until + `"},{"id":"x","user":"y","until":"` + until + `"}]}`, "", http.StatusBadRequest},
		{"NoUntil", n.signer, `{"revocations":[{"id":"t"}]}`, "", http.StatusBadRequest},
		{"UntilBeyondSevenDays", n.signer, `{"revocations":[{"id":"t","until":"` + time.Now().Add(30*24*time.Hour).UTC().Format(time.RFC3339) + `"}]}`, "", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if st, body := n.revokeCall(t, tc.signer, tc.body, tc.payloadHash); st != tc.want {
				t.Fatalf("status %d, want %d: %s", st, tc.want, body)
			}
			if r, err := n.store.Revoked(t.Context(), "t", "", time.Now()); err != nil || r {
				t.Fatalf("a refused call recorded a revocation (%v)", err)
			}
		})
	}
	// A presigned URL cannot make the call either.
	u, _ := url.Parse(n.url + "/_presign/revoke")
	pu, _ := n.signer.Presign(http.MethodPost, u, nil, time.Now(), time.Hour)
	resp, err := http.Post(pu.String(), "application/json", strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("presigned revoke call: %d, want 403", resp.StatusCode)
	}
}

// TestTrickledRevocationIsCutOff: a signed revoke call whose body comes one byte at a time,
// each long before any idle timeout, is cut off once SmallBodyTimeout has passed since its
// first byte (400 RequestTimeout, or the connection closed) and records nothing: a revocation
// is a small body, and a caller cannot hold the node's connection by trickling one.
func TestTrickledRevocationIsCutOff(t *testing.T) {
	n := startRevokeNodeWith(t, storage.Config{SmallBodyTimeout: 500 * time.Millisecond, MinRate: -1})
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	// About 8 s of body at one byte every 50 ms: far past the 500 ms the node allows.
	body := `{"revocations":` + strings.Repeat(" ", 100) + `[{"id":"trickled","until":"` + until + `"}]}`
	req, err := http.NewRequest(http.MethodPost, n.url+"/_presign/revoke", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256([]byte(body))
	if _, err := n.signer.SignRequest(req, hex.EncodeToString(sum[:]), time.Now()); err != nil {
		t.Fatal(err)
	}
	var head strings.Builder
	fmt.Fprintf(&head, "POST /_presign/revoke HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", req.URL.Host, len(body))
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&head, "%s: %s\r\n", k, v)
		}
	}
	head.WriteString("\r\n")
	start := time.Now()
	resp, err := dripRequest(req.URL.Host, head.String(), []byte(body), 50*time.Millisecond)
	if err != nil && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the node kept the trickling caller: %v", err)
	}
	if err == nil && resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d after %v, want 400 RequestTimeout", resp.StatusCode, time.Since(start))
	}
	if r, err := n.store.Revoked(t.Context(), "trickled", "", time.Now()); err != nil || r {
		t.Fatalf("a trickled revocation was recorded (%v)", err)
	}
}
