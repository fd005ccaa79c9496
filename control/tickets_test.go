package control_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"presign/control"
	"presign/sigv4"
)

var verifier = &sigv4.Verifier{Region: "us-east-1", Credentials: sigv4.StaticCredentials{testCreds.AccessKeyID: testCreds.SecretAccessKey}}

// verifyTicket checks a ticket the way the storage node will: the URL with its headers must
// carry a valid signature at the time.
func verifyTicket(t *testing.T, method, rawURL string, headers map[string]string, at time.Time) *sigv4.Auth {
	t.Helper()
	r, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	a, err := verifier.Verify(r, at)
	if err != nil {
		t.Fatalf("the signed URL does not verify: %v", err)
	}
	return a
}

func TestTicketIsOneSignedPUTInTheCallersNamespace(t *testing.T) {
	e := newEnv(t, nil)
	uid, tok := e.user("alice", nil)
	req := ticketReq("../../other/évil name.mp4", 1234, "video/mp4")
	req.SHA256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, req, &tk)

	if want := "u/" + uid + "/" + tk.ID + "/"; !strings.HasPrefix(tk.Key, want) || strings.Contains(tk.Key[len(want):], "/") {
		t.Fatalf("key %q is not one object under %s", tk.Key, want)
	}
	if tk.Method != "PUT" || tk.State != control.StatePending || tk.Multipart {
		t.Fatalf("ticket %+v", tk)
	}
	if got := tk.Expires.Sub(e.clock.Now()); got != 15*time.Minute {
		t.Fatalf("ticket lives %v, want the default 15m", got)
	}
	u, _ := url.Parse(tk.URL)
	if u.Host != "storage.test:9000" || u.Path != "/"+testBucket+"/"+tk.Key {
		t.Fatalf("URL %s is not the key in the bucket on the public storage URL", tk.URL)
	}
	q := u.Query()
	if q.Get("X-Presign-Max-Bytes") != "1234" || len(q.Get("X-Presign-Once")) < 16 || q.Get("X-Amz-Expires") != "900" {
		t.Fatalf("URL query %v lacks the size cap, the once nonce or the TTL", q)
	}
	if got := q.Get("X-Amz-SignedHeaders"); got != "content-type;host;x-amz-checksum-sha256" {
		t.Fatalf("signed headers %q", got)
	}
	if tk.Headers["Content-Type"] != "video/mp4" || tk.Headers["x-amz-checksum-sha256"] != "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=" {
		t.Fatalf("headers %v", tk.Headers)
	}
	a := verifyTicket(t, "PUT", tk.URL, tk.Headers, e.clock.Now().Add(time.Minute))
	if v, _ := a.Query("X-Presign-Once"); v == "" {
		t.Fatal("the nonce is not covered by the signature")
	}
	// What the ticket does not allow fails the signature: another method, another type.
	r, _ := http.NewRequest("DELETE", tk.URL, nil)
	for k, v := range tk.Headers {
		r.Header.Set(k, v)
	}
	if _, err := verifier.Verify(r, e.clock.Now()); err == nil {
		t.Fatal("the PUT URL verifies for DELETE")
	}
	r, _ = http.NewRequest("PUT", tk.URL, nil)
	r.Header.Set("Content-Type", "text/html")
	r.Header.Set("x-amz-checksum-sha256", tk.Headers["x-amz-checksum-sha256"])
	if _, err := verifier.Verify(r, e.clock.Now()); err == nil {
		t.Fatal("the URL verifies with another Content-Type")
	}

	var up control.UploadView
	e.must(200, "GET", "/v1/uploads/"+tk.ID, tok, nil, &up)
	// The name keeps only its last path segment (docs/control-plane.md, "File names").
	if up.Filename != "évil name.mp4" || up.Size != 1234 || up.State != control.StatePending {
		t.Fatalf("upload %+v", up)
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Bytes != 1234 || me.Usage.Pending != 1 {
		t.Fatalf("usage %+v: a pending upload holds its declared size", me.Usage)
	}
}

func TestPolicyTTLSetsTheURLLifetime(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("bob", &control.PolicyOverride{URLTTLSeconds: ptr(7 * 24 * 3600)})
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.bin", 10, ""), &tk)
	u, _ := url.Parse(tk.URL)
	if u.Query().Get("X-Amz-Expires") != "604800" || tk.Expires.Sub(e.clock.Now()) != 7*24*time.Hour {
		t.Fatalf("ticket %s expires %v", tk.URL, tk.Expires)
	}
	if tk.Headers["Content-Type"] != "application/octet-stream" {
		t.Fatalf("default type: %v", tk.Headers)
	}
	verifyTicket(t, "PUT", tk.URL, tk.Headers, e.clock.Now().Add(7*24*time.Hour-time.Second))
}

// TestFormTicketPinsKeyTypeAndExactSize: a form fixes the key, the type and the exact size, and
// the client, not a threshold of presign's, chooses a form over parts up to S3's 5 GiB.
func TestFormTicketPinsKeyTypeAndExactSize(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("carol", nil)
	req := ticketReq("photo.png", 5000, "image/png")
	req.Form = true
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, req, &tk)
	if tk.Method != "POST" || tk.URL != "http://storage.test:9000/"+testBucket || tk.Fields["key"] != tk.Key {
		t.Fatalf("form ticket %+v", tk)
	}
	pol, err := sigv4.ParsePostPolicy(tk.Fields["policy"])
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, ok := pol.ContentLengthRange(); !ok || lo != 5000 || hi != 5000 {
		t.Fatalf("content-length-range %d..%d (%v), want 5000..5000", lo, hi, ok)
	}
	if _, err := verifier.VerifyPost(tk.Fields, testBucket, e.clock.Now()); err != nil {
		t.Fatalf("the form does not verify: %v", err)
	}
	forged := map[string]string{}
	for k, v := range tk.Fields {
		forged[k] = v
	}
	forged["key"] = "u/someone-else/x"
	if _, err := verifier.VerifyPost(forged, testBucket, e.clock.Now()); err == nil {
		t.Fatal("the form verifies with another key")
	}
	// The client chooses the route: a form at the multipart threshold is still a form (Uppy
	// sends files of up to 100 MiB in one), up to S3's 5 GiB for one POST.
	atThreshold := ticketReq("big.bin", control.DefaultMultipartThreshold, "")
	atThreshold.Form = true
	e.must(201, "POST", "/v1/uploads", tok, atThreshold, &tk)
	if tk.Method != "POST" || tk.Multipart {
		t.Fatalf("a form at the multipart threshold became %+v", tk)
	}
	tooBig := ticketReq("huge.bin", control.MaxSinglePutSize+1, "")
	tooBig.Form = true
	if st, code := e.call("POST", "/v1/uploads", tok, tooBig, nil); st != 400 || code != "invalid_request" {
		t.Fatalf("a form over 5 GiB: %d %s", st, code)
	}
}

// TestMultipartStartFailureFreesTheQuota: when the object store cannot start the multipart
// upload, the client gets 502 and the upload fails at once, giving back its quota.
func TestMultipartStartFailureFreesTheQuota(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("dave", nil)
	st, code := e.call("POST", "/v1/uploads", tok, ticketReq("movie.mkv", 200<<20, "video/x-matroska"), nil)
	if st != 502 || code != "storage_unavailable" {
		t.Fatalf("got %d %s, want 502 storage_unavailable", st, code)
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Bytes != 0 || me.Usage.Pending != 0 {
		t.Fatalf("usage %+v after a failed start", me.Usage)
	}
}

func TestBadTicketRequestsAreRefusedWithoutRecording(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("erin", nil)
	for name, body := range map[string]any{
		"no size":       map[string]any{"filename": "a"},
		"negative size": map[string]any{"filename": "a", "size": -1},
		"no filename":   map[string]any{"size": 1},
		"control char":  map[string]any{"filename": "a\nb", "size": 1},
		"bad type":      map[string]any{"filename": "a", "size": 1, "content_type": "not a type"},
		"bad sha256":    map[string]any{"filename": "a", "size": 1, "sha256": "1234"},
		"unknown field": map[string]any{"filename": "a", "size": 1, "colour": "red"},
		"too large":     map[string]any{"filename": "a", "size": int64(control.MaxObjectSize) + 1},
	} {
		st, code := e.call("POST", "/v1/uploads", tok, body, nil)
		if st < 400 || st >= 500 || code == "" {
			t.Errorf("%s: got %d %s", name, st, code)
		}
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Pending != 0 {
		t.Fatalf("a refused request left %d pending uploads", me.Usage.Pending)
	}
}

func TestAuditLogRecordsWhoGotWhichURLButNoSignature(t *testing.T) {
	e := newEnv(t, nil)
	uid, tok := e.user("frank", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.txt", 3, "text/plain"), &tk)
	var out struct {
		Entries []struct {
			Action     string `json:"action"`
			UserID     string `json:"user_id"`
			UploadID   string `json:"upload_id"`
			Key        string `json:"key"`
			RemoteAddr string `json:"remote_addr"`
		} `json:"entries"`
	}
	e.must(200, "GET", "/v1/audit?user_id="+uid, e.admin, nil, &out)
	found := false
	for _, en := range out.Entries {
		found = found || (en.Action == "ticket.issue" && en.UploadID == tk.ID && en.Key == tk.Key && en.RemoteAddr == "127.0.0.1")
	}
	if !found {
		t.Fatalf("no ticket.issue entry for %s in %+v", tk.ID, out.Entries)
	}
	raw, _ := json.Marshal(out)
	sig := tk.URL[strings.Index(tk.URL, "X-Amz-Signature=")+len("X-Amz-Signature="):]
	if strings.Contains(string(raw), sig) || strings.Contains(string(raw), tk.URL) {
		t.Fatal("the audit log holds the URL's signature")
	}
	if st, code := e.call("GET", "/v1/audit", tok, nil, nil); st != 403 || code != "forbidden" {
		t.Fatalf("a user reads the audit log: %d %s", st, code)
	}
}

func TestDownloadRedirectsToASignedGETWithTheOriginalName(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("gina", nil)
	_, other := e.user("hank", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("résumé final.pdf", 9, "application/pdf"), &tk)
	// Stand in for the storage node's confirmation: the store's own transition.
	if _, err := e.store.TransitionUpload(t.Context(), tk.ID, []control.UploadState{control.StatePending}, control.StateCompleted,
		control.Change{At: e.clock.Now(), ETag: "abc"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/files/"+tk.ID+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, "http://storage.test:9000/"+testBucket+"/"+tk.Key+"?") {
		t.Fatalf("got %d to %q", resp.StatusCode, loc)
	}
	a := verifyTicket(t, "GET", loc, nil, e.clock.Now())
	cd, _ := a.Query("response-content-disposition")
	if cd != `attachment; filename="r_sum_ final.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf` {
		t.Fatalf("disposition %q", cd)
	}
	var d control.Download
	req.Header.Set("Accept", "application/json")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(d.URL, "http://storage.test:9000/") || d.Expires.IsZero() {
		t.Fatalf("JSON download: %d %+v", resp.StatusCode, d)
	}
	for _, p := range []string{"/v1/files/" + tk.ID, "/v1/files/" + tk.ID + "/download", "/v1/uploads/" + tk.ID} {
		if st, code := e.call("GET", p, other, nil, nil); st != 404 || code != "not_found" {
			t.Errorf("another user's GET %s: %d %s", p, st, code)
		}
	}
	if st, _ := e.call("DELETE", "/v1/files/"+tk.ID, other, nil, nil); st != 404 {
		t.Errorf("another user deletes the file: %d", st)
	}
	var list control.FileList
	e.must(200, "GET", "/v1/files", tok, nil, &list)
	if len(list.Files) != 1 || list.Files[0].Filename != "résumé final.pdf" {
		t.Fatalf("files %+v", list)
	}
	e.must(200, "GET", "/v1/files", other, nil, &list)
	if len(list.Files) != 0 {
		t.Fatalf("another user lists %+v", list)
	}
}

func TestAbortFreesTheQuotaOnce(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("ivy", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.bin", 100, ""), &tk)
	var up control.UploadView
	e.must(200, "DELETE", "/v1/uploads/"+tk.ID, tok, nil, &up)
	if up.State != control.StateFailed || up.FailReason == "" {
		t.Fatalf("aborted upload %+v", up)
	}
	if st, code := e.call("DELETE", "/v1/uploads/"+tk.ID, tok, nil, nil); st != 409 || code != "state_conflict" {
		t.Fatalf("second abort: %d %s", st, code)
	}
	if st, code := e.call("POST", "/v1/uploads/"+tk.ID+"/complete", tok, nil, nil); st != 409 || code != "state_conflict" {
		t.Fatalf("complete after abort: %d %s", st, code)
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Bytes != 0 || me.Usage.Pending != 0 {
		t.Fatalf("usage %+v", me.Usage)
	}
}

func TestDefaultPolicyHasTheDocumentedFields(t *testing.T) {
	e := newEnv(t, nil)
	var p control.Policy
	e.must(200, "GET", "/v1/policy", e.admin, nil, &p)
	b, _ := json.Marshal(p)
	for _, f := range []string{"max_object_bytes", "allowed_content_types", "quota_bytes", "max_pending_uploads", "url_ttl_seconds"} {
		if !strings.Contains(string(b), `"`+f+`"`) {
			t.Errorf("policy JSON %s lacks %s", b, f)
		}
	}
}
