package storetest

import (
	"testing"
	"time"

	"presign/control"
)

// states is shorthand for a from-list.
func states(s ...control.UploadState) []control.UploadState { return s }

var transitionTests = []test{
	{"TransitionRecordsChangeAndReturnsIt", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 7)
		want := usUpload(*up)
		steps := []struct {
			from []control.UploadState
			to   control.UploadState
			c    control.Change
			edit func(*control.Upload)
		}{
			{states(control.StatePending), control.StateUploading,
				control.Change{At: at(time.Minute), MultipartID: "mp-9", Expires: at(3 * time.Hour)},
				func(w *control.Upload) {
					w.State, w.MultipartID, w.Expires, w.Updated = control.StateUploading, "mp-9", us(at(3*time.Hour)), us(at(time.Minute))
				}},
			{states(control.StateUploading), control.StateUploading,
				control.Change{At: at(2 * time.Minute), Expires: at(4 * time.Hour)},
				func(w *control.Upload) { w.Expires, w.Updated = us(at(4*time.Hour)), us(at(2*time.Minute)) }},
			{states(control.StatePending, control.StateUploading), control.StateCompleted,
				control.Change{At: at(3 * time.Minute), ETag: "abc-2"},
				func(w *control.Upload) {
					w.State, w.ETag, w.Updated, w.Completed = control.StateCompleted, "abc-2", us(at(3*time.Minute)), us(at(3*time.Minute))
				}},
		}
		for _, st := range steps {
			got, err := e.s.TransitionUpload(e.ctx, up.ID, st.from, st.to, st.c)
			wantErr(t, "TransitionUpload to "+string(st.to), err, nil)
			st.edit(&want)
			wantEqual(t, "returned upload", *got, want)
			got, err = e.s.Upload(e.ctx, up.ID)
			wantErr(t, "Upload", err, nil)
			wantEqual(t, "read back", *got, want)
		}
		f, err := e.s.File(e.ctx, up.ID)
		wantErr(t, "File", err, nil)
		wantEqual(t, "File", *f, control.File{ID: up.ID, UserID: u.ID, Key: up.Key, Filename: up.Filename,
			ContentType: up.ContentType, Size: 7, ETag: "abc-2", Created: us(at(3 * time.Minute))})
	}},
	{"DeclaredChecksumsReachTheFile", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.newUpload(u.ID, 43)
		up.SHA256 = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"
		up.MD5, up.CRC32C = "9e107d9d372bb6826bd81d3542a419d6", "22620404"
		if err := e.s.CreateUpload(e.ctx, up, control.Limits{}); err != nil {
			t.Fatalf("CreateUpload: %v", err)
		}
		e.complete(up.ID, at(time.Minute))
		f, err := e.s.File(e.ctx, up.ID)
		wantErr(t, "File", err, nil)
		wantEqual(t, "checksums of the file", [3]string{f.SHA256, f.MD5, f.CRC32C}, [3]string{up.SHA256, up.MD5, up.CRC32C})
		page, err := e.s.ListFiles(e.ctx, u.ID, "", 10)
		wantErr(t, "ListFiles", err, nil)
		if len(page.Files) != 1 || page.Files[0].MD5 != up.MD5 || page.Files[0].CRC32C != up.CRC32C {
			t.Fatalf("listed files %+v, want the one with its checksums", page.Files)
		}
	}},
	{"TransitionWritesItsAuditEntryWithItOrNotAtAll", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 7)
		entry := func(action string) *control.AuditEntry {
			return &control.AuditEntry{UserID: u.ID, Action: action, UploadID: up.ID, Key: up.Key,
				Details: map[string]string{"source": "test"}}
		}
		// Refused by the compare-and-set, or invalid: neither the change nor its entry.
		_, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StateUploading), control.StateCompleted,
			control.Change{At: at(time.Minute), Audit: entry("upload.complete")})
		wantErr(t, "transition from the wrong state", err, control.ErrStateConflict)
		_, err = e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateCompleted,
			control.Change{At: at(time.Minute), Audit: entry("")})
		wantErr(t, "transition with an entry without action", err, control.ErrInvalid)
		got, err := e.s.Upload(e.ctx, up.ID)
		wantErr(t, "Upload", err, nil)
		wantEqual(t, "state after the refused transitions", got.State, control.StatePending)
		log, err := e.s.ListAudit(e.ctx, control.AuditQuery{Limit: 10})
		wantErr(t, "ListAudit", err, nil)
		wantEqual(t, "audit entries after the refused transitions", len(log), 0)

		_, err = e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateCompleted,
			control.Change{At: at(2 * time.Minute), ETag: "e", Audit: entry("upload.complete")})
		wantErr(t, "complete", err, nil)
		log, err = e.s.ListAudit(e.ctx, control.AuditQuery{Limit: 10})
		wantErr(t, "ListAudit", err, nil)
		if len(log) != 1 {
			t.Fatalf("%d audit entries after one transition, want 1: %+v", len(log), log)
		}
		log[0].ID = 0
		want := *entry("upload.complete")
		want.At = us(at(2 * time.Minute)) // the change's time
		wantEqual(t, "audit entry", log[0], want)
	}},
	{"FailureKeepsReasonAndMakesNoFile", func(t *testing.T, e *env) {
		up := e.upload(e.user("alice").ID, 7)
		got, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StatePending), control.StateFailed,
			control.Change{At: at(time.Minute), FailReason: "size 8, ticket said 7"})
		wantErr(t, "fail", err, nil)
		wantEqual(t, "FailReason", got.FailReason, "size 8, ticket said 7")
		_, err = e.s.File(e.ctx, up.ID)
		wantErr(t, "File of failed upload", err, control.ErrNotFound)
	}},
	{"TransitionFromUnexpectedStateIsStateConflict", func(t *testing.T, e *env) {
		u := e.user("alice")
		tests := []struct {
			name  string
			reach []control.UploadState // path from pending to the state under test
			from  []control.UploadState
			to    control.UploadState
		}{
			{"complete a completed upload", states(control.StateCompleted), states(control.StatePending, control.StateUploading), control.StateCompleted},
			{"expire a completed upload", states(control.StateCompleted), states(control.StatePending), control.StateExpired},
			{"start multipart twice", states(control.StateUploading), states(control.StatePending), control.StateUploading},
			{"delete a pending upload as a file", nil, states(control.StateCompleted), control.StateDeleted},
			{"complete an expired upload", states(control.StateExpired), states(control.StatePending, control.StateUploading), control.StateCompleted},
		}
		for _, tc := range tests {
			up := e.upload(u.ID, 1)
			prev := control.StatePending
			for _, s := range tc.reach {
				if _, err := e.s.TransitionUpload(e.ctx, up.ID, states(prev), s, control.Change{At: at(time.Minute)}); err != nil {
					t.Fatalf("%s: reach %s: %v", tc.name, s, err)
				}
				prev = s
			}
			before, _ := e.s.Upload(e.ctx, up.ID)
			useBefore := e.usage(u.ID)
			_, err := e.s.TransitionUpload(e.ctx, up.ID, tc.from, tc.to, control.Change{At: at(time.Hour), ETag: "x", FailReason: "x"})
			wantErr(t, tc.name, err, control.ErrStateConflict)
			after, _ := e.s.Upload(e.ctx, up.ID)
			wantEqual(t, tc.name+": upload unchanged", after, before)
			e.wantUsage(u.ID, useBefore)
		}
	}},
	{"IllegalTransitionIsInvalid", func(t *testing.T, e *env) {
		up := e.upload(e.user("alice").ID, 1)
		tests := []struct {
			name string
			from []control.UploadState
			to   control.UploadState
			c    control.Change
		}{
			{"back to pending", states(control.StateCompleted), control.StatePending, control.Change{At: t0}},
			{"out of deleted", states(control.StateDeleted), control.StateCompleted, control.Change{At: t0}},
			{"completed to failed", states(control.StateCompleted), control.StateFailed, control.Change{At: t0}},
			{"unknown state", states(control.StatePending), "done", control.Change{At: t0}},
			{"no from", nil, control.StateCompleted, control.Change{At: t0}},
			{"no time", states(control.StatePending), control.StateCompleted, control.Change{}},
		}
		for _, tc := range tests {
			_, err := e.s.TransitionUpload(e.ctx, up.ID, tc.from, tc.to, tc.c)
			wantErr(t, tc.name, err, control.ErrInvalid)
		}
		got, _ := e.s.Upload(e.ctx, up.ID)
		wantEqual(t, "upload unchanged", *got, usUpload(*up))
	}},
	{"TransitionOfUnknownUploadIsNotFound", func(t *testing.T, e *env) {
		_, err := e.s.TransitionUpload(e.ctx, "upl-none", states(control.StatePending), control.StateExpired, control.Change{At: t0})
		wantErr(t, "TransitionUpload", err, control.ErrNotFound)
	}},
	{"DeletingACompletedUploadHidesItsFile", func(t *testing.T, e *env) {
		u := e.user("alice")
		up := e.upload(u.ID, 5)
		e.complete(up.ID, at(time.Minute))
		if _, err := e.s.File(e.ctx, up.ID); err != nil {
			t.Fatalf("File: %v", err)
		}
		if _, err := e.s.TransitionUpload(e.ctx, up.ID, states(control.StateCompleted), control.StateDeleted,
			control.Change{At: at(time.Hour)}); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err := e.s.File(e.ctx, up.ID)
		wantErr(t, "File after delete", err, control.ErrNotFound)
		page, err := e.s.ListFiles(e.ctx, u.ID, "", 10)
		wantErr(t, "ListFiles", err, nil)
		if len(page.Files) != 0 {
			t.Fatalf("ListFiles = %+v, want none", page.Files)
		}
		got, _ := e.s.Upload(e.ctx, up.ID)
		wantEqual(t, "state", got.State, control.StateDeleted)
		e.wantUsage(u.ID, control.Usage{})
	}},
}
