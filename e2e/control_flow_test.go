package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeUploadCompletedByEventThenDownloadAndDelete: the whole pattern through "presign
// serve": login, ticket, a plain HTTP PUT straight to the storage node, completion learned
// from the storage event, download by redirect, delete.
func TestServeUploadCompletedByEventThenDownloadAndDelete(t *testing.T) {
	p := serveProcess(t)
	alice, _ := adminAPI(t, p).newUser("alice", nil)
	body := []byte("the quick brown fox jumps over the lazy dog\n")
	sum := sha256.Sum256(body)
	var tk ticket
	alice.must(201, "POST", "/v1/uploads", map[string]any{"filename": "Füchse & Hunde.txt", "size": len(body),
		"content_type": "text/plain; charset=utf-8", "sha256": hex.EncodeToString(sum[:])}, &tk)
	// A page served by the control plane may PUT to the storage node: its origin is in the
	// node's default CORS rule.
	st, _, _ := httpDo(t, "OPTIONS", tk.URL, http.Header{"Origin": {alice.base}, "Access-Control-Request-Method": {"PUT"},
		"Access-Control-Request-Headers": {"content-type,x-amz-checksum-sha256"}}, nil)
	if st != 200 {
		t.Fatalf("CORS preflight from the control plane's origin: %d", st)
	}
	if st, code := put(t, tk, body); st != 200 {
		t.Fatalf("PUT to the ticket: %d %s", st, code)
	}
	alice.waitState(tk.ID, "completed", 10*time.Second)

	// The URL was single-use: the same PUT again is refused by the storage node.
	if st, _ := put(t, tk, body); st != 403 {
		t.Fatalf("second PUT with the ticket: %d, want 403", st)
	}
	var files struct{ Files []fileView }
	alice.must(200, "GET", "/v1/files", nil, &files)
	if len(files.Files) != 1 || files.Files[0].ID != tk.ID || files.Files[0].Size != int64(len(body)) {
		t.Fatalf("files %+v", files.Files)
	}

	// Download: a redirect to the storage node, whose answer has the bytes and the original
	// name. (The redirect is followed by hand: Go's client would forward the bearer token to
	// the same host name on another port, and a presigned GET must not carry a second auth.)
	req, _ := http.NewRequest("GET", alice.base+"/v1/files/"+tk.ID+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+alice.token)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, p.url("storage node")+"/presign/"+tk.Key+"?") {
		t.Fatalf("download answer %d to %q", resp.StatusCode, loc)
	}
	if resp, err = http.Get(loc); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("download: %d %q", resp.StatusCode, got)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="F_chse & Hunde.txt"; filename*=UTF-8''F%C3%BCchse%20&%20Hunde.txt` {
		t.Fatalf("Content-Disposition %q", cd)
	}

	s3c := rootS3(t, p)
	if !objectStored(t, s3c, tk.Key) {
		t.Fatal("the object is not in storage")
	}
	alice.must(204, "DELETE", "/v1/files/"+tk.ID, nil, nil)
	if objectStored(t, s3c, tk.Key) {
		t.Fatal("the object is still in storage after delete")
	}
	if st, _ := alice.call("GET", "/v1/files/"+tk.ID+"/download", nil, nil); st != 404 {
		t.Fatalf("download after delete: %d", st)
	}
	var me struct {
		Usage struct {
			Bytes   int64 `json:"bytes"`
			Pending int   `json:"pending_uploads"`
		} `json:"usage"`
	}
	alice.must(200, "GET", "/v1/me", nil, &me)
	if me.Usage.Bytes != 0 || me.Usage.Pending != 0 {
		t.Fatalf("usage after delete %+v", me.Usage)
	}
}

// TestServeCompletionByClientWhenEventsAreOff: without events the upload stays pending until
// the client's complete, which the control plane checks against the store; complete is
// idempotent.
func TestServeCompletionByClientWhenEventsAreOff(t *testing.T) {
	p := serveProcess(t, "--events=false")
	bob, _ := adminAPI(t, p).newUser("bob", nil)
	body := make([]byte, 300<<10)
	rand.Read(body)
	var tk ticket
	bob.must(201, "POST", "/v1/uploads", map[string]any{"filename": "noise.bin", "size": len(body), "content_type": "application/octet-stream"}, &tk)
	if st, code := bob.call("POST", "/v1/uploads/"+tk.ID+"/complete", nil, nil); st != 409 || code != "not_uploaded" {
		t.Fatalf("complete before the upload: %d %s", st, code)
	}
	if st, code := put(t, tk, body); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	time.Sleep(300 * time.Millisecond)
	if u := bob.waitState(tk.ID, "pending", time.Second); u.State != "pending" {
		t.Fatal("completed without an event or a complete call")
	}
	var f1, f2 fileView
	bob.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f1)
	bob.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f2)
	if f1.ID != tk.ID || f1 != f2 || f1.Size != int64(len(body)) || f1.ETag == "" {
		t.Fatalf("complete twice: %+v, %+v", f1, f2)
	}
	var files struct{ Files []fileView }
	bob.must(200, "GET", "/v1/files", nil, &files)
	if len(files.Files) != 1 {
		t.Fatalf("%d file records, want 1", len(files.Files))
	}
}

// TestServeMismatchingObjectFailsAndIsDeleted: an object that is not what the ticket declared
// (here shorter, which the size cap allows) fails the upload and is removed from storage.
func TestServeMismatchingObjectFailsAndIsDeleted(t *testing.T) {
	p := serveProcess(t, "--events=false")
	carol, _ := adminAPI(t, p).newUser("carol", nil)
	var tk ticket
	carol.must(201, "POST", "/v1/uploads", map[string]any{"filename": "short.txt", "size": 100, "content_type": "text/plain"}, &tk)
	if st, code := put(t, tk, []byte("only 24 bytes, not 100\n")); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	if st, code := carol.call("POST", "/v1/uploads/"+tk.ID+"/complete", nil, nil); st != 422 || code != "object_mismatch" {
		t.Fatalf("complete with a short object: %d %s", st, code)
	}
	u := carol.waitState(tk.ID, "failed", time.Second)
	if !strings.Contains(u.FailReason, "size") {
		t.Fatalf("fail reason %q does not name the size", u.FailReason)
	}
	if objectStored(t, rootS3(t, p), tk.Key) {
		t.Fatal("the mismatching object is still in storage")
	}
	// A too-long body never lands: the signed size cap stops it at the storage node.
	var tk2 ticket
	carol.must(201, "POST", "/v1/uploads", map[string]any{"filename": "long.txt", "size": 10, "content_type": "text/plain"}, &tk2)
	if st, _ := put(t, tk2, []byte("eleven bytes")); st != 400 {
		t.Fatalf("a body over the declared size: %d, want 400", st)
	}
	// A body that differs from the declared checksum is refused by the storage node too.
	var tk3 ticket
	sum := sha256.Sum256([]byte("expected"))
	carol.must(201, "POST", "/v1/uploads", map[string]any{"filename": "sum.txt", "size": 8, "content_type": "text/plain", "sha256": hex.EncodeToString(sum[:])}, &tk3)
	if st, code := put(t, tk3, []byte("tampered")); st != 400 || code != "BadDigest" {
		t.Fatalf("a body that does not match the checksum: %d %s", st, code)
	}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TestServeFormUploadCompletes: a browser-style POST-policy form straight to the storage node,
// completed by the storage event; a file of another size does not fit the policy.
func TestServeFormUploadCompletes(t *testing.T) {
	p := serveProcess(t)
	jo, _ := adminAPI(t, p).newUser("jo", nil)
	body := []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")
	sum := sha256.Sum256(body)
	var tk ticket
	jo.must(201, "POST", "/v1/uploads", map[string]any{"filename": "logo.svg", "size": len(body), "content_type": "image/svg+xml",
		"sha256": hex.EncodeToString(sum[:]), "form": true}, &tk)
	if tk.Method != "POST" || tk.Fields["key"] != tk.Key || tk.Fields["policy"] == "" {
		t.Fatalf("form ticket %+v", tk)
	}
	if st, code := postForm(t, tk, append(body, '!')); st != 400 {
		t.Fatalf("a file one byte too long: %d %s", st, code)
	}
	if st, code := postForm(t, tk, body); st != 201 {
		t.Fatalf("form POST: %d %s", st, code)
	}
	jo.waitState(tk.ID, "completed", 10*time.Second)
	if st, code := postForm(t, tk, body); st != 403 || code != "AccessDenied" {
		t.Fatalf("the same form posted again: %d %s, want 403 AccessDenied (single-use)", st, code)
	}
}

// postForm sends the ticket's fields and then the file as multipart/form-data.
func postForm(t *testing.T, tk ticket, file []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range tk.Fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "upload.bin")
	fw.Write(file)
	mw.Close()
	st, code, _ := httpDo(t, "POST", tk.URL, http.Header{"Content-Type": {mw.FormDataContentType()}}, &buf)
	return st, code
}
