package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"presign/control"
)

// mint asks for an upload token with the caller's token and returns the answer.
func (e *env) mint(token string, req map[string]any) control.UploadTokenView {
	e.t.Helper()
	var v control.UploadTokenView
	e.must(201, "POST", "/v1/upload-tokens", token, req, &v)
	return v
}

// companion is the path of a Companion-compatible route of the upload token.
func companion(tok control.UploadTokenView, route string) string {
	return "/v1/companion/" + tok.Token + "/s3" + route
}

// postForm sends body in the form's fields to url (the file field last), as a browser does.
func postForm(t *testing.T, rawURL string, fields map[string]string, body []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", "blob")
	fw.Write(body)
	w.Close()
	resp, err := http.Post(rawURL, w.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// putPart sends body to a part URL and returns the status and the ETag.
func putPart(t *testing.T, rawURL string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", rawURL, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("ETag")
}

// TestUploadTokenIsMintedNoWiderThanThePolicyAndAudited: an API key mints a token whose limits
// are its policy's or narrower (wider: 403 limits_too_wide), with a companion_endpoint on the
// server's own URL; the secret is shown once, never listed, and stored only as its SHA-256; an
// upload token cannot mint another. Minting and revoking are in the audit log.
func TestUploadTokenIsMintedNoWiderThanThePolicyAndAudited(t *testing.T) {
	e := newEnv(t, nil)
	uid, sess := e.user("app", &control.PolicyOverride{MaxObjectBytes: ptr[int64](1 << 30), AllowedContentTypes: []string{"image/*"}})
	var key control.APIKey
	e.must(201, "POST", "/v1/apikeys", sess, map[string]any{"name": "server", "password": "app-password"}, &key)

	for _, tc := range []struct {
		req  map[string]any
		code string
	}{
		{map[string]any{"max_file_bytes": 2 << 30}, control.CodeLimitsTooWide},
		{map[string]any{"allowed_content_types": []string{"*/*"}}, control.CodeLimitsTooWide},
		{map[string]any{"expires_in_seconds": 90000}, control.CodeInvalidRequest},
		{map[string]any{"key_prefix": "../escape/"}, control.CodeInvalidRequest},
		{map[string]any{"subject": "a\nb"}, control.CodeInvalidRequest},
	} {
		if st, code := e.call("POST", "/v1/upload-tokens", key.Key, tc.req, nil); code != tc.code {
			t.Errorf("mint %v: %d %s, want %s", tc.req, st, code, tc.code)
		}
	}
	tok := e.mint(key.Key, map[string]any{"subject": "user-42", "max_file_bytes": 5 << 20, "max_files": 2, "key_prefix": "avatars/"})
	if !strings.HasPrefix(tok.Token, "psu_") || tok.CompanionEndpoint != e.srv.URL+"/v1/companion/"+tok.Token ||
		tok.Limits.MaxFileBytes != 5<<20 || len(tok.Limits.AllowedContentTypes) != 1 || tok.Limits.AllowedContentTypes[0] != "image/*" ||
		!tok.Expires.Equal(e.clock.Now().Add(control.DefaultUploadTokenTTL)) {
		t.Fatalf("minted %+v", tok)
	}
	sum := sha256.Sum256([]byte(tok.Token))
	if stored, owner, err := e.store.UploadTokenUser(context.Background(), sum[:]); err != nil || stored.ID != tok.ID || owner.ID != uid {
		t.Fatalf("the token is not stored by its SHA-256: %v", err)
	}
	var list struct {
		UploadTokens []control.UploadTokenView `json:"upload_tokens"`
	}
	e.must(200, "GET", "/v1/upload-tokens", sess, nil, &list)
	if len(list.UploadTokens) != 1 || list.UploadTokens[0].Token != "" || list.UploadTokens[0].CompanionEndpoint != "" {
		t.Fatalf("list %+v: want the token without its secret", list.UploadTokens)
	}
	if st, code := e.call("POST", "/v1/upload-tokens", tok.Token, map[string]any{}, nil); st != 403 || code != control.CodeForbidden {
		t.Errorf("an upload token minting another: %d %s", st, code)
	}
	e.must(204, "DELETE", "/v1/upload-tokens/"+tok.ID, key.Key, nil, nil)
	var audit struct {
		Entries []struct {
			Action  string            `json:"action"`
			Details map[string]string `json:"details"`
		}
	}
	e.must(200, "GET", "/v1/audit?user_id="+uid, e.admin, nil, &audit)
	var actions []string
	for _, a := range audit.Entries {
		actions = append(actions, a.Action)
		for _, v := range a.Details {
			if strings.Contains(v, tok.Token) {
				t.Errorf("the audit log holds the secret in %s", a.Action)
			}
		}
	}
	if !strings.Contains(strings.Join(actions, ","), "upload_token.revoke,upload_token.create") {
		t.Errorf("audit actions %v", actions)
	}
}

// TestUploadTokenMisuseIsRefusedAndChangesNothing: an upload token outside uploading (files,
// API keys, the account), on another token's or user's upload, expired or revoked, and a
// session or API key in a URL path, are all refused — 401, 403 or 404 as for a stranger — and
// the upload they aimed at is exactly as it was.
func TestUploadTokenMisuseIsRefusedAndChangesNothing(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, sess := n.user("app", nil)
	_, otherSess := n.user("other", nil)
	tokA, tokB := n.mint(sess, map[string]any{"subject": "a"}), n.mint(sess, map[string]any{"subject": "b"})
	var mp struct{ Key, UploadID string }
	n.must(200, "POST", companion(tokA, "/multipart"), "", map[string]any{"filename": "a.bin", "type": "application/octet-stream"}, &mp)
	var theirs control.Ticket
	n.must(201, "POST", "/v1/uploads", otherSess, ticketReq("o.bin", 10, ""), &theirs)
	before := func(id, token string) control.UploadView {
		var u control.UploadView
		n.must(200, "GET", "/v1/uploads/"+id, token, nil, &u)
		return u
	}
	mine, other := before(mp.UploadID, sess), before(theirs.ID, otherSess)
	q := "?key=" + url.QueryEscape(mp.Key)
	sessionInPath := control.UploadTokenView{Token: sess}
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"files", "GET", "/v1/files", tokA.Token, 403},
		{"api keys", "POST", "/v1/apikeys", tokA.Token, 403},
		{"account", "GET", "/v1/me", tokA.Token, 403},
		{"logout", "POST", "/v1/logout", tokA.Token, 403},
		{"another token's upload: sign", "GET", companion(tokB, "/multipart/"+mp.UploadID+"/1"+q), "", 404},
		{"another token's upload: abort", "DELETE", companion(tokB, "/multipart/"+mp.UploadID+q), "", 404},
		{"another token's upload: API", "DELETE", "/v1/uploads/" + mp.UploadID, tokB.Token, 404},
		{"another user's upload", "DELETE", "/v1/uploads/" + theirs.ID, tokA.Token, 404},
		{"another user's upload: companion", "GET", companion(tokA, "/multipart/"+theirs.ID+"?key="+url.QueryEscape(theirs.Key)), "", 404},
		{"another key", "DELETE", companion(tokA, "/multipart/"+mp.UploadID+"?key=u/x"), "", 404},
		{"a session in the path", "DELETE", companion(sessionInPath, "/multipart/"+mp.UploadID+q), "", 401},
		{"an unknown token", "GET", "/v1/companion/psu_nothing/s3/params?filename=x", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if st, _ := n.call(tc.method, tc.path, tc.token, nil, nil); st != tc.status {
				t.Errorf("%s %s: %d, want %d", tc.method, tc.path, st, tc.status)
			}
		})
	}
	// Revoked: refused on the next request, path and header alike.
	n.must(204, "DELETE", "/v1/upload-tokens/"+tokA.ID, sess, nil, nil)
	for _, c := range [][2]string{{companion(tokA, "/multipart/"+mp.UploadID+q), ""}, {"/v1/uploads/" + mp.UploadID, tokA.Token}} {
		if st, code := n.call("DELETE", c[0], c[1], nil, nil); st != 401 || code != control.CodeUnauthenticated {
			t.Errorf("revoked token: %d %s", st, code)
		}
	}
	// Expired: a minute-long token, a minute and a second later.
	short := n.mint(sess, map[string]any{"expires_in_seconds": 60})
	n.clock.Advance(61 * time.Second)
	if st, _ := n.call("GET", companion(short, "/params?filename=a.png&type=image/png"), "", nil, nil); st != 401 {
		t.Errorf("expired token: %d", st)
	}
	if after := before(mp.UploadID, sess); after.State != mine.State || after.Updated != mine.Updated {
		t.Errorf("the token's upload changed: %+v → %+v", mine, after)
	}
	if after := before(theirs.ID, otherSess); !reflect.DeepEqual(after, other) {
		t.Errorf("the other user's upload changed: %+v → %+v", other, after)
	}
	var files control.FileList
	n.must(200, "GET", "/v1/files", sess, nil, &files)
	if len(files.Files) != 0 {
		t.Errorf("files appeared: %+v", files.Files)
	}
}

// TestCompanionRoutesAnswerUppysShapes: each route answers what @uppy/aws-s3 (and older Uppy's
// batch signing) reads, under the token's path and with a bearer header; a form of unknown
// size takes 1..max bytes and is completed by the storage event with the token's subject and
// key prefix; s3/sts is refused.
func TestCompanionRoutesAnswerUppysShapes(t *testing.T) {
	n := newNodeEnv(t, true, nil)
	uid, sess := n.user("app", nil)
	tok := n.mint(sess, map[string]any{"subject": "user-7", "key_prefix": "media/", "max_file_bytes": 64 << 20})

	var form struct {
		Method  string
		URL     string
		Fields  map[string]string
		Expires int64
	}
	n.must(200, "GET", companion(tok, "/params?filename=photo.jpg&type=image/jpeg&metadata%5Bname%5D=photo.jpg"), "", nil, &form)
	if form.Method != "POST" || form.Fields["key"] == "" || !strings.HasPrefix(form.Fields["key"], "u/"+uid+"/media/") || form.Expires != 900 {
		t.Fatalf("params %+v", form)
	}
	if st, body := postForm(t, form.URL, form.Fields, nil); st != 400 || !strings.Contains(body, "EntityTooSmall") {
		t.Errorf("an empty file through the form: %d %s", st, body)
	}
	// The form is single-use: take a new one for the real file.
	// Uppy sends file.meta as metadata[key]=value, a null as the text "null".
	n.must(200, "GET", companion(tok, "/params?filename=photo.jpg&type=image/jpeg&metadata%5Bname%5D=photo.jpg&metadata%5BrelativePath%5D=null&metadata%5Balbum%5D=%C3%89t%C3%A9&other%5D=x"), "", nil, &form)
	photo := bytes.Repeat([]byte("j"), 1500)
	if st, body := postForm(t, form.URL, form.Fields, photo); st != 201 {
		t.Fatalf("form post: %d %s", st, body)
	}
	var files control.FileList
	n.eventually(func() error {
		n.must(200, "GET", "/v1/files", sess, nil, &files)
		if len(files.Files) != 1 {
			return fmt.Errorf("%d files", len(files.Files))
		}
		return nil
	})
	if f := files.Files[0]; f.Size != 1500 || f.Subject != "user-7" || f.Key != form.Fields["key"] ||
		!maps.Equal(f.Metadata, map[string]string{"name": "photo.jpg", "relativePath": "null", "album": "Été"}) {
		t.Errorf("the form's file %+v", f)
	}

	var mp struct {
		Key, UploadID, Bucket string
	}
	n.must(200, "POST", "/v1/s3/multipart", tok.Token, map[string]any{"filename": "video.mp4", "type": "video/mp4", "metadata": map[string]any{"name": "video.mp4", "relativePath": nil, "rank": 3, "public": true}, "extra": 1}, &mp)
	if mp.Bucket != testBucket || mp.UploadID == "" {
		t.Fatalf("create %+v", mp)
	}
	q := "?key=" + url.QueryEscape(mp.Key)
	var batch struct {
		PresignedURLs map[string]string `json:"presignedUrls"`
	}
	n.must(200, "GET", companion(tok, "/multipart/"+mp.UploadID+"/batch"+q+"&partNumbers=1,2"), "", nil, &batch)
	if len(batch.PresignedURLs) != 2 || batch.PresignedURLs["1"] == "" || batch.PresignedURLs["2"] == "" {
		t.Fatalf("batch %+v", batch)
	}
	p1, p2 := bytes.Repeat([]byte("1"), 5<<20), []byte("the last part")
	st, etag1 := putPart(t, batch.PresignedURLs["1"], p1)
	if st != 200 {
		t.Fatalf("part 1: %d", st)
	}
	var one struct {
		URL     string `json:"url"`
		Expires int64  `json:"expires"`
	}
	n.must(200, "GET", companion(tok, "/multipart/"+mp.UploadID+"/2"+q), "", nil, &one)
	st, etag2 := putPart(t, one.URL, p2)
	if st != 200 || one.Expires != 900 {
		t.Fatalf("part 2: %d, expires %d", st, one.Expires)
	}
	var listed []struct {
		PartNumber int
		ETag       string
		Size       int64
	}
	n.must(200, "GET", companion(tok, "/multipart/"+mp.UploadID+q), "", nil, &listed)
	if len(listed) != 2 || listed[0].PartNumber != 1 || listed[0].Size != 5<<20 || listed[1].Size != int64(len(p2)) {
		t.Fatalf("listed %+v", listed)
	}
	var done struct{ Location, Key, Bucket string }
	n.must(200, "POST", companion(tok, "/multipart/"+mp.UploadID+"/complete"+q), "",
		map[string]any{"parts": []map[string]any{{"PartNumber": 1, "ETag": etag1}, {"PartNumber": 2, "ETag": etag2}}}, &done)
	if done.Key != mp.Key || done.Location != n.storageURL+"/"+testBucket+"/"+mp.Key {
		t.Fatalf("complete %+v", done)
	}
	var f control.FileView
	n.must(200, "GET", "/v1/files/"+mp.UploadID, sess, nil, &f)
	if f.Size != int64(len(p1)+len(p2)) || f.Subject != "user-7" || !maps.Equal(f.Metadata, map[string]string{"name": "video.mp4", "rank": "3", "public": "true"}) {
		t.Errorf("the multipart file %+v", f)
	}
	for _, bad := range []any{map[string]any{"nested": map[string]any{"a": 1}}, map[string]any{"k": "a\u202eb"}} {
		if st, code := n.call("POST", companion(tok, "/multipart"), "", map[string]any{"filename": "x.bin", "metadata": bad}, nil); st != 400 || code != control.CodeInvalidRequest {
			t.Errorf("metadata %v: %d %s, want 400 invalid_request", bad, st, code)
		}
	}
	if st, code := n.call("GET", companion(tok, "/params?filename=x.bin&metadata%5Ba+b%5D=v"), "", nil, nil); st != 400 || code != control.CodeInvalidRequest {
		t.Errorf("a metadata key with a space: %d %s, want 400 invalid_request", st, code)
	}

	var other struct{ Key, UploadID string }
	n.must(200, "POST", companion(tok, "/multipart"), "", map[string]any{"filename": "x.bin", "type": "application/octet-stream"}, &other)
	var empty map[string]any
	n.must(200, "DELETE", companion(tok, "/multipart/"+other.UploadID+"?key="+url.QueryEscape(other.Key)), "", nil, &empty)
	if u := n.waitState(sess, other.UploadID, control.StateFailed); u.FailReason == "" {
		t.Errorf("aborted upload %+v", u)
	}
	if st, code := n.call("GET", companion(tok, "/sts"), "", nil, nil); st != 501 || code != control.CodeNotSupported {
		t.Errorf("sts: %d %s", st, code)
	}
}

// TestUnknownSizeMultipartIsCappedAndCheckedAtCompletion: with a maximum of 12 MiB and the
// client's own parts, part n's URL is capped at what 12 MiB leaves after n-1 parts of 5 MiB (a
// part with no room is refused), the quota holds 12 MiB until the end and then the object's
// size, and parts that add up to more than the maximum fail the upload at completion (413),
// give the quota back and leave nothing in storage.
func TestUnknownSizeMultipartIsCappedAndCheckedAtCompletion(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, sess := n.user("app", nil)
	tok := n.mint(sess, map[string]any{"max_file_bytes": 12 << 20})
	start := func() (string, string) {
		var mp struct{ Key, UploadID string }
		n.must(200, "POST", companion(tok, "/multipart"), "", map[string]any{"filename": "v.bin", "type": "application/octet-stream"}, &mp)
		return mp.UploadID, "?key=" + url.QueryEscape(mp.Key)
	}
	sign := func(id, q string, part int) string {
		var one struct{ URL string }
		n.must(200, "GET", companion(tok, fmt.Sprintf("/multipart/%s/%d%s", id, part, q)), "", nil, &one)
		return one.URL
	}
	usage := func() int64 {
		var me struct {
			Usage struct{ Bytes int64 } `json:"usage"`
		}
		n.must(200, "GET", "/v1/me", sess, nil, &me)
		return me.Usage.Bytes
	}

	id, q := start()
	for part, want := range map[int]string{1: "12582912", 2: "7340032", 3: "2097152"} {
		u, _ := url.Parse(sign(id, q, part))
		if got := u.Query().Get("X-Presign-Max-Bytes"); got != want {
			t.Errorf("part %d capped at %s, want %s", part, got, want)
		}
	}
	if st, code := n.call("GET", companion(tok, "/multipart/"+id+"/4"+q), "", nil, nil); st != 413 || code != control.CodeTooLarge {
		t.Errorf("part 4 of a 12 MiB maximum: %d %s", st, code)
	}
	if got := usage(); got != 12<<20 {
		t.Errorf("usage while uploading %d, want the 12 MiB maximum reserved", got)
	}
	var parts []map[string]any
	for i, size := range []int{5 << 20, 5 << 20, 1 << 20} {
		st, etag := putPart(t, sign(id, q, i+1), bytes.Repeat([]byte{byte('a' + i)}, size))
		if st != 200 {
			t.Fatalf("part %d: %d", i+1, st)
		}
		parts = append(parts, map[string]any{"PartNumber": i + 1, "ETag": etag})
	}
	n.must(200, "POST", companion(tok, "/multipart/"+id+"/complete"+q), "", map[string]any{"parts": parts}, nil)
	if got := usage(); got != 11<<20 {
		t.Errorf("usage after completion %d, want the object's 11 MiB", got)
	}

	// 6 + 6 + 2 MiB: each part within its cap, 14 MiB together.
	id, q = start()
	parts = nil
	for i, size := range []int{6 << 20, 6 << 20, 2 << 20} {
		st, etag := putPart(t, sign(id, q, i+1), bytes.Repeat([]byte{'z'}, size))
		if st != 200 {
			t.Fatalf("part %d: %d", i+1, st)
		}
		parts = append(parts, map[string]any{"PartNumber": i + 1, "ETag": etag})
	}
	if st, code := n.call("POST", companion(tok, "/multipart/"+id+"/complete"+q), "", map[string]any{"parts": parts}, nil); st != 413 || code != control.CodeTooLarge {
		t.Errorf("14 MiB of parts for a 12 MiB maximum: %d %s", st, code)
	}
	if u := n.waitState(sess, id, control.StateFailed); !strings.Contains(u.FailReason, "more than") {
		t.Errorf("the oversized upload: %+v", u)
	}
	if got := usage(); got != 11<<20 {
		t.Errorf("usage after the failure %d, want only the first file's 11 MiB", got)
	}
	var u control.UploadView
	n.must(200, "GET", "/v1/uploads/"+id, sess, nil, &u)
	if n.stored(u.Key) {
		t.Error("the oversized upload left an object")
	}
}

// TestTokenFilesLimitCountsActiveAndCompletedUploads: a token of max_files 2 gets a third
// ticket refused (403 token_exhausted) until one of its uploads is aborted; its tickets have a
// rate window of their own.
func TestTokenFilesLimitCountsActiveAndCompletedUploads(t *testing.T) {
	e := newEnv(t, nil)
	_, sess := e.user("app", nil)
	tok := e.mint(sess, map[string]any{"max_files": 2})
	var first control.Ticket
	e.must(201, "POST", "/v1/uploads", tok.Token, ticketReq("1.bin", 10, ""), &first)
	e.must(201, "POST", "/v1/uploads", tok.Token, ticketReq("2.bin", 10, ""), nil)
	if st, code := e.call("POST", "/v1/uploads", tok.Token, ticketReq("3.bin", 10, ""), nil); st != 403 || code != control.CodeTokenExhausted {
		t.Fatalf("a third upload of a two-file token: %d %s", st, code)
	}
	e.must(200, "DELETE", "/v1/uploads/"+first.ID, tok.Token, nil, nil)
	var third control.Ticket
	e.must(201, "POST", "/v1/uploads", tok.Token, ticketReq("3.bin", 10, ""), &third)
	var u control.UploadView
	e.must(200, "GET", "/v1/uploads/"+third.ID, sess, nil, &u)
	if u.Subject != tok.Subject {
		t.Errorf("subject %q", u.Subject)
	}
}

// TestFormOfUnknownSizeIsCompletedByTheReconcilerOnce: without storage events, a form Uppy
// posted (the page calls nothing afterwards) is completed by the reconciler once its deadline
// has passed, with the object's size; a second pass finds nothing to do.
func TestFormOfUnknownSizeIsCompletedByTheReconcilerOnce(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, sess := n.user("app", nil)
	tok := n.mint(sess, map[string]any{"subject": "user-9"})
	var form struct {
		URL    string
		Fields map[string]string
	}
	n.must(200, "GET", companion(tok, "/params?filename=a.txt&type=text/plain"), "", nil, &form)
	if st, body := postForm(t, form.URL, form.Fields, []byte("hello, reconciler")); st != 201 {
		t.Fatalf("form post: %d %s", st, body)
	}
	n.clock.Advance(control.DefaultURLTTL + control.DefaultReconcileGrace + time.Second)
	for pass, want := range []int{1, 0} {
		if claimed, err := n.svc.ReconcileOnce(context.Background()); err != nil || claimed != want {
			t.Fatalf("reconciler pass %d claimed %d (%v), want %d", pass+1, claimed, err, want)
		}
	}
	var files control.FileList
	n.must(200, "GET", "/v1/files", sess, nil, &files)
	if len(files.Files) != 1 || files.Files[0].Size != int64(len("hello, reconciler")) || files.Files[0].Subject != "user-9" {
		t.Fatalf("files %+v", files.Files)
	}
}

// TestPartURLsNeverOutliveTheUploadsDeadline: part URLs are signed up to the upload's deadline
// without a write while half a TTL or more is left, and move it a whole TTL ahead when less is
// left; a URL never works past the deadline the reconciler goes by.
func TestPartURLsNeverOutliveTheUploadsDeadline(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, sess := n.user("app", nil)
	tok := n.mint(sess, map[string]any{})
	var mp struct{ Key, UploadID string }
	n.must(200, "POST", companion(tok, "/multipart"), "", map[string]any{"filename": "v.bin", "type": "application/octet-stream"}, &mp)
	q := "?key=" + url.QueryEscape(mp.Key)
	check := func(wantExpires string, wantDeadline time.Time) {
		t.Helper()
		var one struct{ URL string }
		n.must(200, "GET", companion(tok, "/multipart/"+mp.UploadID+"/1"+q), "", nil, &one)
		u, _ := url.Parse(one.URL)
		var up control.UploadView
		n.must(200, "GET", "/v1/uploads/"+mp.UploadID, sess, nil, &up)
		if got := u.Query().Get("X-Amz-Expires"); got != wantExpires || !up.Expires.Equal(wantDeadline) {
			t.Fatalf("at %v: URL for %s s, deadline %v; want %s s and %v", n.clock.Now(), got, up.Expires, wantExpires, wantDeadline)
		}
	}
	created := n.clock.Now()
	check("900", created.Add(15*time.Minute))
	n.clock.Advance(5 * time.Minute)
	check("600", created.Add(15*time.Minute)) // 10 minutes left: up to the deadline, which stays
	n.clock.Advance(3 * time.Minute)
	check("900", n.clock.Now().Add(15*time.Minute)) // 7 minutes left: a whole TTL ahead
}
