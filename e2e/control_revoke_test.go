package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestRevokedURLsStopWorkingMidValidity: through presign serve (a node keeping revocations in
// its own state), a download URL works, its upload is revoked, and the same URL is refused
// while it still has minutes to live, and a download signed afterwards works again; a ticket
// revoked before use stores nothing; a user
// revocation withdraws every URL signed until then and none signed after; nobody revokes
// another user's URLs.
func TestRevokedURLsStopWorkingMidValidity(t *testing.T) {
	p := serveProcess(t)
	admin := adminAPI(t, p)
	alice, aliceID := admin.newUser("alice", nil)
	bob, _ := admin.newUser("bob", nil)
	body := []byte("revocable bytes")

	var tk ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "a.txt", "size": len(body), "content_type": "text/plain"}, &tk)
	if st, code := put(t, tk, body); st != 200 {
		t.Fatalf("upload: %d %s", st, code)
	}
	alice.waitState(tk.ID, "completed", 10*time.Second)
	var dl struct{ URL string }
	alice.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &dl)
	if st, code, got := httpDo(t, "GET", dl.URL, nil, nil); st != 200 || string(got) != string(body) {
		t.Fatalf("download before revocation: %d %s", st, code)
	}
	if st, code := bob.call("POST", "/v1/uploads/"+tk.ID+"/revoke", nil, nil); st != 404 {
		t.Fatalf("another user revoking: %d %s, want 404", st, code)
	}
	alice.must(200, "POST", "/v1/uploads/"+tk.ID+"/revoke", nil, nil)
	if st, code, _ := httpDo(t, "GET", dl.URL, nil, nil); st != 403 || code != "AccessDenied" {
		t.Fatalf("download URL after revocation: %d %s, want 403 AccessDenied", st, code)
	}
	// The revocation cuts off the URLs signed until then, not the file: a download asked for
	// afterwards works (X-Amz-Date has whole seconds: step past the revocation's).
	time.Sleep(1100 * time.Millisecond)
	alice.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &dl)
	if st, code, got := httpDo(t, "GET", dl.URL, nil, nil); st != 200 || string(got) != string(body) {
		t.Fatalf("a download signed after the revocation: %d %s, want 200 with the file", st, code)
	}

	var tk2 ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "b.txt", "size": len(body), "content_type": "text/plain"}, &tk2)
	alice.must(200, "POST", "/v1/uploads/"+tk2.ID+"/revoke", nil, nil)
	if st, code := put(t, tk2, body); st != 403 || code != "AccessDenied" {
		t.Fatalf("revoked ticket used: %d %s, want 403 AccessDenied", st, code)
	}
	if objectStored(t, rootS3(t, p), tk2.Key) {
		t.Fatal("a revoked ticket stored an object")
	}

	var tk3 ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "c.txt", "size": len(body), "content_type": "text/plain"}, &tk3)
	if st, code := bob.call("POST", "/v1/users/"+aliceID+"/revoke-urls", nil, nil); st != 404 {
		t.Fatalf("another user revoking all of alice's URLs: %d %s, want 404", st, code)
	}
	alice.must(200, "POST", "/v1/users/"+aliceID+"/revoke-urls", nil, nil)
	if st, code := put(t, tk3, body); st != 403 || code != "AccessDenied" {
		t.Fatalf("URL signed before the user revocation: %d %s, want 403", st, code)
	}
	// A URL signed after the revocation works (X-Amz-Date has whole seconds: step past it).
	time.Sleep(1100 * time.Millisecond)
	var tk4 ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "d.txt", "size": len(body), "content_type": "text/plain"}, &tk4)
	if st, code := put(t, tk4, body); st != 200 {
		t.Fatalf("URL signed after the user revocation: %d %s", st, code)
	}
	var audit struct {
		Entries []struct{ Action string } `json:"entries"`
	}
	admin.must(http.StatusOK, "GET", "/v1/audit", nil, &audit)
	n := 0
	for _, e := range audit.Entries {
		if e.Action == "urls.revoke" || e.Action == "urls.revoke_user" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d revocations in the audit log, want 3", n)
	}
}
