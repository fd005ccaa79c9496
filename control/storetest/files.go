package storetest

import (
	"fmt"
	"testing"
	"time"

	"presign/control"
)

// files completes uploads for the user at the given minutes after t0 and returns their ids.
func (e *env) files(userID string, minutes ...int) []string {
	e.t.Helper()
	var out []string
	for _, m := range minutes {
		up := e.upload(userID, 1)
		e.complete(up.ID, at(time.Duration(m)*time.Minute))
		out = append(out, up.ID)
	}
	return out
}

// listAll pages through the user's files with the page size and returns the ids in order.
func (e *env) listAll(userID string, size int) []string {
	e.t.Helper()
	var out []string
	after := ""
	for range 100 {
		page, err := e.s.ListFiles(e.ctx, userID, after, size)
		if err != nil {
			e.t.Fatalf("ListFiles: %v", err)
		}
		if len(page.Files) > size {
			e.t.Fatalf("page of %d files, asked for %d", len(page.Files), size)
		}
		out = append(out, fileIDs(page.Files)...)
		if page.Next == "" {
			return out
		}
		after = page.Next
	}
	e.t.Fatal("ListFiles never ended")
	return nil
}

// fileIDs returns the files' ids in order.
func fileIDs(fs []control.File) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

var fileTests = []test{
	{"ListFilesNewestFirstInPages", func(t *testing.T, e *env) {
		alice, bob := e.user("alice").ID, e.user("bob").ID
		f := e.files(alice, 1, 5, 3, 5, 2, 4, 5) // three files share minute 5: id breaks the tie
		e.files(bob, 6)
		want := []string{f[6], f[3], f[1], f[5], f[2], f[4], f[0]}
		for _, size := range []int{1, 2, 3, 7, 8, control.MaxPage} {
			wantEqual(t, fmt.Sprintf("pages of %d", size), e.listAll(alice, size), want)
		}
		page, err := e.s.ListFiles(e.ctx, alice, "", 7)
		wantErr(t, "ListFiles", err, nil)
		wantEqual(t, "Next of an exact last page", page.Next, "")
	}},
	{"NewFilesNeverShiftLaterPages", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		f := e.files(alice, 1, 2, 3, 4)
		page, err := e.s.ListFiles(e.ctx, alice, "", 2)
		wantErr(t, "ListFiles", err, nil)
		wantEqual(t, "first page", fileIDs(page.Files), []string{f[3], f[2]})
		g := e.files(alice, 10, 0) // one newer than every page, one older than every page
		next, err := e.s.ListFiles(e.ctx, alice, page.Next, 3)
		wantErr(t, "ListFiles", err, nil)
		wantEqual(t, "second page", fileIDs(next.Files), []string{f[1], f[0], g[1]})
	}},
	{"CursorOfADeletedFileStillWorks", func(t *testing.T, e *env) {
		alice := e.user("alice").ID
		f := e.files(alice, 1, 2, 3)
		page, _ := e.s.ListFiles(e.ctx, alice, "", 1)
		if _, err := e.s.TransitionUpload(e.ctx, page.Next, states(control.StateCompleted), control.StateDeleted,
			control.Change{At: at(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		next, err := e.s.ListFiles(e.ctx, alice, page.Next, 10)
		wantErr(t, "ListFiles", err, nil)
		wantEqual(t, "after deleted cursor", fileIDs(next.Files), []string{f[1], f[0]})
	}},
	{"ListFilesRefusesForeignOrUnknownCursorAndBadLimit", func(t *testing.T, e *env) {
		alice, bob := e.user("alice").ID, e.user("bob").ID
		e.files(alice, 1)
		bobs := e.files(bob, 1)
		tests := []struct {
			name  string
			after string
			limit int
		}{
			{"other user's file", bobs[0], 10},
			{"unknown file", "upl-none", 10},
			{"zero limit", "", 0},
			{"limit too big", "", control.MaxPage + 1},
		}
		for _, tc := range tests {
			_, err := e.s.ListFiles(e.ctx, alice, tc.after, tc.limit)
			wantErr(t, tc.name, err, control.ErrInvalid)
		}
	}},
	{"FileOfUnknownOrActiveUploadIsNotFound", func(t *testing.T, e *env) {
		up := e.upload(e.user("alice").ID, 1)
		for _, id := range []string{up.ID, "upl-none"} {
			_, err := e.s.File(e.ctx, id)
			wantErr(t, "File "+id, err, control.ErrNotFound)
		}
	}},
}
