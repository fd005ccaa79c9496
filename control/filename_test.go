package control_test

import (
	"net/http"
	"strings"
	"testing"

	"presign/control"
)

// TestFilenamesRefuseBidiControlsAndLosePathSegments: a name with a bidirectional control
// (which makes "evil\u202egnp.exe" display as "evilexe.png") is refused with a 400 naming the
// problem and records nothing; a name with path segments keeps only its last one, in the
// upload, the file and the download's Content-Disposition (ASCII fallback included).
func TestFilenamesRefuseBidiControlsAndLosePathSegments(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("nina", nil)
	for _, name := range []string{"evil\u202egnp.exe", "a\u2066b.txt", "x\u200f.pdf", "\u061cdoc", "a\u202ab\u202c.txt"} {
		st, code, msg := e.refusal("POST", "/v1/uploads", tok, ticketReq(name, 3, "text/plain"))
		if st != 400 || code != "invalid_request" || !strings.Contains(msg, "bidirectional") {
			t.Errorf("%q: got %d %s %q, want 400 invalid_request about bidirectional controls", name, st, code, msg)
		}
	}
	for _, name := range []string{"../", `..\`, "a/.."} {
		if st, code := e.call("POST", "/v1/uploads", tok, ticketReq(name, 3, "text/plain"), nil); st != 400 || code != "invalid_request" {
			t.Errorf("%q: got %d %s, want 400 invalid_request", name, st, code)
		}
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Pending != 0 {
		t.Fatalf("refused names left %d pending uploads", me.Usage.Pending)
	}

	for _, tc := range []struct{ in, want string }{
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system.ini`, "system.ini"},
		{"/abs/dir/report 1.pdf", "report 1.pdf"},
		{"plain.txt", "plain.txt"},
	} {
		var tk control.Ticket
		e.must(201, "POST", "/v1/uploads", tok, ticketReq(tc.in, 3, "text/plain"), &tk)
		f, err := e.store.TransitionUpload(t.Context(), tk.ID, []control.UploadState{control.StatePending}, control.StateCompleted,
			control.Change{At: e.clock.Now(), ETag: "abc"})
		if err != nil {
			t.Fatal(err)
		}
		if f.Filename != tc.want {
			t.Errorf("%q recorded as %q, want %q", tc.in, f.Filename, tc.want)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/files/"+tk.ID+"/download", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		a := verifyTicket(t, "GET", resp.Header.Get("Location"), nil, e.clock.Now())
		cd, _ := a.Query("response-content-disposition")
		if want := control.ContentDisposition(tc.want); cd != want || !strings.Contains(cd, `filename="`+tc.want+`"`) {
			t.Errorf("%q downloads as %q, want %q", tc.in, cd, want)
		}
	}
}

// TestContentDispositionCarriesOnlyTheLastSegmentWithoutBidi: names recorded before tickets
// cleaned them are cleaned on the way out, in both the ASCII and the UTF-8 forms.
func TestContentDispositionCarriesOnlyTheLastSegmentWithoutBidi(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"../../etc/passwd", `attachment; filename="passwd"`},
		{`a\b\c.txt`, `attachment; filename="c.txt"`},
		{"evil\u202egnp.exe", `attachment; filename="evilgnp.exe"`},
		{"dir/naïve.txt", `attachment; filename="na_ve.txt"; filename*=UTF-8''na%C3%AFve.txt`},
	} {
		if got := control.ContentDisposition(tc.in); got != tc.want {
			t.Errorf("ContentDisposition(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
