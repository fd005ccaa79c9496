package control_test

import (
	"cmp"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"presign/control"
)

// uploadFile makes one real file: a ticket, a PUT of body to the storage node with its URL,
// and complete, at the test clock's time, which becomes the file's created_at.
func (n *nodeEnv) uploadFile(token, name string, body []byte) control.FileView {
	n.t.Helper()
	var tk control.Ticket
	n.must(201, "POST", "/v1/uploads", token, ticketReq(name, int64(len(body)), "text/plain"), &tk)
	n.putTicket(tk, body)
	var f control.FileView
	n.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", token, nil, &f)
	return f
}

// walkFiles follows GET /v1/files from the first page by its next cursors, limit files a
// page (the default when 0), and returns the pages.
func (n *nodeEnv) walkFiles(token string, limit int) [][]control.FileView {
	n.t.Helper()
	var pages [][]control.FileView
	after := ""
	for {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		if limit != 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		var l control.FileList
		n.must(200, "GET", "/v1/files?"+q.Encode(), token, nil, &l)
		pages = append(pages, l.Files)
		if l.Next == "" {
			return pages
		}
		if len(pages) > 100 {
			n.t.Fatal("the walk does not end")
		}
		after = l.Next
	}
}

// newestFirst is the documented order of the file list: created_at descending, and among
// files created at the same instant the later id first.
func newestFirst(a, b control.FileView) int {
	return cmp.Or(b.Created.Compare(a.Created), cmp.Compare(b.ID, a.ID))
}

// TestFileListPagesWalkEveryFileOnceNewestFirst: GET /v1/files?after=&limit= over HTTP, with
// more files than a page. Following `next` from page to page sees each of the caller's
// files exactly once, newest first (created_at, which is when the upload completed, not when
// its ticket was issued; the id breaks ties), and `next` is absent on the last page only. A
// file completed during the walk does not shift a later page, deleting the files already
// seen does not break the walk, another user's list and cursors stay theirs, and bad
// parameters are refused.
func TestFileListPagesWalkEveryFileOnceNewestFirst(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, alice := n.user("alice", nil)
	_, bob := n.user("bob", nil)
	n.uploadFile(bob, "bobs.txt", []byte("bob's"))

	// Seven files, completed in another order than their tickets were issued, two of them at
	// the same instant.
	var tks []control.Ticket
	for i := range 7 {
		body := []byte(fmt.Sprintf("file %d", i))
		var tk control.Ticket
		n.must(201, "POST", "/v1/uploads", alice, ticketReq(fmt.Sprintf("f%d.txt", i), int64(len(body)), "text/plain"), &tk)
		n.putTicket(tk, body)
		tks = append(tks, tk)
	}
	var want []control.FileView
	for j, i := range []int{3, 0, 5, 1, 6, 2, 4} {
		if j != 4 { // 6 completes at the same instant as 1
			n.clock.Advance(time.Second)
		}
		var f control.FileView
		n.must(200, "POST", "/v1/uploads/"+tks[i].ID+"/complete", alice, nil, &f)
		if !f.Created.Equal(n.clock.Now()) {
			t.Fatalf("file %d created at %v, completed at %v", i, f.Created, n.clock.Now())
		}
		want = append(want, f)
	}
	slices.SortFunc(want, newestFirst)
	if slices.IsSortedFunc(want, func(a, b control.FileView) int { return cmp.Compare(b.ID, a.ID) }) {
		t.Fatal("the completion order is the ticket order: the test could not tell the two apart")
	}

	ids := func(fs []control.FileView) []string {
		out := make([]string, len(fs))
		for i, f := range fs {
			out[i] = f.ID
		}
		return out
	}
	for _, limit := range []int{0, 1, 3, 7} {
		pages := n.walkFiles(alice, limit)
		var got []control.FileView
		for i, p := range pages {
			if (limit != 0 && len(p) > limit) || (i < len(pages)-1 && len(p) != limit) || len(p) == 0 {
				t.Errorf("limit %d: page %d has %d files", limit, i, len(p))
			}
			got = append(got, p...)
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Errorf("limit %d: walked %v, want %v (newest first, each once)", limit, ids(got), ids(want))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d: the listed files differ from what complete returned", limit)
		}
	}

	// A file completed during a walk is newer than every page: the pages after the first
	// stay as they were.
	var first control.FileList
	n.must(200, "GET", "/v1/files?limit=3", alice, nil, &first)
	n.clock.Advance(time.Second)
	newest := n.uploadFile(alice, "late.txt", []byte("late"))
	var second control.FileList
	n.must(200, "GET", "/v1/files?limit=3&after="+url.QueryEscape(first.Next), alice, nil, &second)
	if !slices.Equal(ids(second.Files), ids(want[3:6])) {
		t.Errorf("second page after a new file: %v, want %v", ids(second.Files), ids(want[3:6]))
	}
	want = append([]control.FileView{newest}, want...)

	// Another user's cursor is not one of alice's; bob sees his file only.
	if st, code := n.call("GET", "/v1/files?after="+url.QueryEscape(first.Next), bob, nil, nil); st != 400 || code != "invalid_request" {
		t.Errorf("bob with alice's cursor: %d %s, want 400 invalid_request", st, code)
	}
	if pages := n.walkFiles(bob, 2); len(pages) != 1 || len(pages[0]) != 1 || pages[0][0].Filename != "bobs.txt" {
		t.Errorf("bob's files: %+v", pages)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "after=nothing-of-yours"} {
		if st, code := n.call("GET", "/v1/files?"+q, alice, nil, nil); st != 400 || code != "invalid_request" {
			t.Errorf("?%s: %d %s, want 400 invalid_request", q, st, code)
		}
	}

	// Deleting each page's files before asking for the next (a "delete everything" loop):
	// the cursor is then a deleted file, and the walk still reaches every file once.
	var seen []control.FileView
	for after := ""; ; {
		var l control.FileList
		n.must(200, "GET", "/v1/files?limit=3&after="+url.QueryEscape(after), alice, nil, &l)
		seen = append(seen, l.Files...)
		for _, f := range l.Files {
			n.must(204, "DELETE", "/v1/files/"+f.ID, alice, nil, nil)
		}
		if l.Next == "" {
			break
		}
		after = l.Next
	}
	if !slices.Equal(ids(seen), ids(want)) {
		t.Errorf("walk while deleting: %v, want %v", ids(seen), ids(want))
	}
	if pages := n.walkFiles(alice, 0); len(pages) != 1 || len(pages[0]) != 0 {
		t.Errorf("files left after deleting all: %+v", pages)
	}
}
