package control_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"presign/control"
)

// downloadJSON asks for a file's download URL as JSON, checking the answer against the
// OpenAPI document, and returns the status, the error code and the URL.
func (e *env) downloadJSON(id, query, token string) (int, string, control.Download) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/files/"+id+"/download"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkAgainstSpec(e.t, req, nil, resp, raw)
	var out struct {
		control.Download
		Error string `json:"error"`
	}
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out.Error, out.Download
}

func TestShareURLLivesForTheChosenTTLUpToThePolicys(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("sam", &control.PolicyOverride{URLTTLSeconds: ptr(1800)})
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("a.txt", 3, "text/plain"), &tk)
	if _, err := e.store.TransitionUpload(t.Context(), tk.ID, []control.UploadState{control.StatePending}, control.StateCompleted,
		control.Change{At: e.clock.Now(), ETag: "abc"}); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	for _, tc := range []struct {
		query      string
		wantStatus int
		wantCode   string
		wantTTL    time.Duration
	}{
		{"", 200, "", 30 * time.Minute},
		{"?ttl_seconds=600", 200, "", 10 * time.Minute},
		{"?ttl_seconds=1800", 200, "", 30 * time.Minute},
		{"?ttl_seconds=1801", 403, "ttl_too_long", 0},
		{"?ttl_seconds=0", 400, "invalid_request", 0},
		{"?ttl_seconds=ten", 400, "invalid_request", 0},
		{"?ttl_seconds=604801", 400, "invalid_request", 0},
	} {
		st, code, d := e.downloadJSON(tk.ID, tc.query, tok)
		if st != tc.wantStatus || code != tc.wantCode {
			t.Errorf("%q: got %d %s, want %d %s", tc.query, st, code, tc.wantStatus, tc.wantCode)
			continue
		}
		if st != 200 {
			continue
		}
		a := verifyTicket(t, "GET", d.URL, nil, now)
		if got := time.Duration(a.Expires) * time.Second; got != tc.wantTTL || !d.Expires.Equal(now.Add(tc.wantTTL)) {
			t.Errorf("%q: URL lives %v until %v, want %v", tc.query, got, d.Expires, tc.wantTTL)
		}
	}
	_, other := e.user("tom", nil)
	if st, code, _ := e.downloadJSON(tk.ID, "?ttl_seconds=60", other); st != 404 || code != "not_found" {
		t.Errorf("another user's share: %d %s", st, code)
	}
}

func TestStoredPartsAreOnlyForTheOwnersMultipartUpload(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("uma", nil)
	_, other := e.user("vic", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("small.bin", 10, "application/octet-stream"), &tk)
	if st, code := e.call("GET", "/v1/uploads/"+tk.ID+"/parts", tok, nil, nil); st != 409 || code != "state_conflict" {
		t.Errorf("parts of a single PUT: %d %s", st, code)
	}
	if st, code := e.call("GET", "/v1/uploads/"+tk.ID+"/parts", other, nil, nil); st != 404 || code != "not_found" {
		t.Errorf("parts of another user's upload: %d %s", st, code)
	}
	if st, code := e.call("GET", "/v1/uploads/"+tk.ID+"/parts", "", nil, nil); st != 401 {
		t.Errorf("parts without a token: %d %s", st, code)
	}
}
