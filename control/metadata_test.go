package control_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"presign/control"
)

// The metadata given with a ticket is on the upload (GET /v1/uploads/{id}), on its file (GET
// /v1/files/{id} and the list) and in the upload.completed event the application receives.
func TestMetadataGoesFromTheTicketToTheFileAndTheCompletedEvent(t *testing.T) {
	n, _, tok, _, rcv := newHookedNodeEnv(t, 0)

	meta := map[string]string{"album": "Été 2030", "camera-id": "x100", "order_ref": "A-17"}
	req := ticketReq("a.txt", 5, "text/plain")
	req.Metadata = meta
	var tk control.Ticket
	n.must(201, "POST", "/v1/uploads", tok, req, &tk)
	var up control.UploadView
	n.must(200, "GET", "/v1/uploads/"+tk.ID, tok, nil, &up)
	if !maps.Equal(up.Metadata, meta) {
		t.Errorf("the upload's metadata %q, want %q", up.Metadata, meta)
	}
	n.putTicket(tk, []byte("hello"))
	n.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=20s", tok, nil, &up)
	if up.State != control.StateCompleted {
		t.Fatalf("upload %+v", up)
	}
	var f control.FileView
	n.must(200, "GET", "/v1/files/"+tk.ID, tok, nil, &f)
	var list control.FileList
	n.must(200, "GET", "/v1/files", tok, nil, &list)
	if !maps.Equal(f.Metadata, meta) || len(list.Files) != 1 || !maps.Equal(list.Files[0].Metadata, meta) {
		t.Errorf("the file's metadata %q, listed %+v; want %q", f.Metadata, list.Files, meta)
	}
	n.eventually(func() error {
		if len(rcv.got()) != 1 {
			return fmt.Errorf("%d events", len(rcv.got()))
		}
		return nil
	})
	if ev := rcv.got()[0]; ev.Type != "upload.completed" || ev.Data.File == nil || !maps.Equal(ev.Data.File.Metadata, meta) {
		t.Errorf("event %s with file %+v, want metadata %q", ev.Type, ev.Data.File, meta)
	}
}

// Metadata outside the rules is refused with 400 invalid_request naming the problem, and
// nothing is recorded.
func TestTicketMetadataOutsideTheRulesIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("erin", nil)
	many := map[string]any{}
	for i := range control.MaxMetadataEntries + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for name, tc := range map[string]struct {
		meta any
		want string
	}{
		"a number":       {map[string]any{"n": 1}, "metadata"},
		"a list":         {[]string{"a"}, "metadata"},
		"too many keys":  {many, "33 keys"},
		"bad key":        {map[string]any{"a/b": "v"}, `key "a/b"`},
		"key too long":   {map[string]any{strings.Repeat("k", control.MaxMetadataKeyLen+1): "v"}, "1 to 128 characters"},
		"newline":        {map[string]any{"k": "a\nb"}, "U+000A"},
		"bidi override":  {map[string]any{"k": "photo\u202egpj.exe"}, "U+202E"},
		"line separator": {map[string]any{"k": "a\u2028b"}, "U+2028"},
		"too many bytes": {map[string]any{"k": strings.Repeat("é", control.MaxMetadataBytes/2)}, "at most 2048"},
	} {
		st, code, msg := e.refusal("POST", "/v1/uploads", tok, map[string]any{"filename": "a", "size": 1, "metadata": tc.meta})
		if st != 400 || code != control.CodeInvalidRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s %q, want 400 invalid_request naming %q", name, st, code, msg, tc.want)
		}
	}
	var me control.Me
	e.must(200, "GET", "/v1/me", tok, nil, &me)
	if me.Usage.Pending != 0 {
		t.Fatalf("a refused request left %d pending uploads", me.Usage.Pending)
	}
}
