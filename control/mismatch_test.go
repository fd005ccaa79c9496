package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/control"
)

// TestObjectDifferingFromItsTicketFailsAndIsDeleted: an object at a ticket's key whose stored
// Content-Type, or whose stored SHA-256, is not what the ticket declared, or which keeps a
// header downloads would replay (Cache-Control), fails the upload with a reason naming the
// rule, and is deleted from storage, whichever way the control plane learns of it: the
// client's complete (422 object_mismatch), the storage node's event, or the reconciler after
// the deadline. The ticket's own URL cannot make such an object on presign's node (it signs
// the type and the checksum, and the node keeps no unsigned Cache-Control), as it can on other
// S3 services; the bucket's root keys can, and do here.
func TestObjectDifferingFromItsTicketFailsAndIsDeleted(t *testing.T) {
	declared := []byte("the declared bytes\n")
	other := bytes.ToUpper(declared) // the same size, other bytes
	declaredSum := sha256.Sum256(declared)
	for _, rule := range []struct {
		name   string
		req    control.TicketRequest
		ct     string // the stored Content-Type
		body   []byte // the stored bytes (the root PUT sends their checksum)
		extra  http.Header
		reason string // what the fail reason names
	}{
		{"content type", ticketReq("notes.txt", int64(len(declared)), "text/plain"), "application/octet-stream", declared, nil, "content type"},
		{"checksum", control.TicketRequest{Filename: "notes.txt", Size: ptr(int64(len(declared))), ContentType: "text/plain",
			SHA256: hex.EncodeToString(declaredSum[:])}, "text/plain", other, nil, "checksum"},
		{"replayed header", ticketReq("notes.txt", int64(len(declared)), "text/plain"), "text/plain", declared,
			http.Header{"Cache-Control": {"public, max-age=31536000"}}, `stored Cache-Control "public, max-age=31536000"`},
	} {
		for _, source := range []string{"client", "event", "reconciler"} {
			t.Run(rule.name+" by "+source, func(t *testing.T) {
				n := newNodeEnv(t, source == "event", nil)
				_, tok := n.user("ada", nil)
				var tk control.Ticket
				n.must(201, "POST", "/v1/uploads", tok, rule.req, &tk)
				n.rootPut(tk.Key, rule.ct, rule.body, rule.extra)
				switch source {
				case "client":
					if st, code := n.call("POST", "/v1/uploads/"+tk.ID+"/complete", tok, nil, nil); st != 422 || code != "object_mismatch" {
						t.Fatalf("complete: got %d %s, want 422 object_mismatch", st, code)
					}
				case "reconciler":
					n.clock.Advance(tk.Expires.Sub(n.clock.Now()) + control.DefaultReconcileGrace + time.Second)
					if claimed, err := n.svc.ReconcileOnce(context.Background()); err != nil || claimed != 1 {
						t.Fatalf("reconciler pass: claimed %d, %v; want 1", claimed, err)
					}
				}
				u := n.waitState(tok, tk.ID, control.StateFailed)
				if !strings.Contains(u.FailReason, "does not match its ticket: "+rule.reason) {
					t.Fatalf("fail reason %q does not name the %s", u.FailReason, rule.reason)
				}
				// The event path deletes the object and writes the audit entry after the
				// transition the poll saw.
				n.eventually(func() error {
					if n.stored(tk.Key) {
						return errors.New("the mismatching object is still in storage")
					}
					return nil
				})
				n.eventually(func() error { return auditedFailure(n.env, tk.ID, source, rule.reason) })
				if st, code := n.call("GET", "/v1/files/"+tk.ID, tok, nil, nil); st != 404 {
					t.Fatalf("file of the failed upload: %d %s, want 404", st, code)
				}
				var me control.Me
				n.must(200, "GET", "/v1/me", tok, nil, &me)
				if me.Usage.Bytes != 0 || me.Usage.Pending != 0 {
					t.Fatalf("usage after the failure %+v, want none", me.Usage)
				}
				// Asking again changes nothing: the upload failed before.
				if st, code := n.call("POST", "/v1/uploads/"+tk.ID+"/complete", tok, nil, nil); st != 409 || code != "state_conflict" {
					t.Fatalf("complete after the failure: %d %s, want 409 state_conflict", st, code)
				}
			})
		}
	}
}

// auditedFailure checks that the audit log has exactly one upload.fail entry for the upload,
// from source, with a reason naming the rule.
func auditedFailure(e *env, id, source, rule string) error {
	entries, err := e.store.ListAudit(context.Background(), control.AuditQuery{Limit: 100})
	if err != nil {
		return err
	}
	var fails []control.AuditEntry
	for _, a := range entries {
		if a.Action == "upload.fail" && a.UploadID == id {
			fails = append(fails, a)
		}
	}
	if len(fails) != 1 {
		return fmt.Errorf("%d upload.fail audit entries for %s, want 1", len(fails), id)
	}
	if d := fails[0].Details; d["source"] != source || !strings.HasPrefix(d["reason"], rule) {
		return fmt.Errorf("audit entry %v, want source %s and a reason naming the %s", d, source, rule)
	}
	return nil
}
