package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/internal/testenv"
)

// TestFullDiskServeKeepsReadsAndDeletesHonest runs "presign serve" on a small filesystem,
// fills it, and drives every file operation a user has: tickets, uploads and completions,
// download URLs, deletes and the file list. On the full disk each answer is a success or
// 507 insufficient_storage, never a 500 or a 502; download URLs for stored files are still
// issued; a delete either happened (204, and the file is gone for good) or changed nothing
// (507, and the file still reads back). No request fails at ERROR in the server's log. Once
// space is freed every operation works again without a restart.
func TestFullDiskServeKeepsReadsAndDeletesHonest(t *testing.T) {
	dir := testenv.Tmpfs(t, "64m")
	p := start(t, []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
		[]string{"serve", "--data", filepath.Join(dir, "serve"), "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0"},
		"control plane", "storage node")
	waitReady(t, p.url("control plane"))
	kim, _ := adminAPI(t, p).newUser("kim", map[string]any{"max_pending_uploads": 0}) // the disk is the limit
	body := []byte("full disk\n")
	stored := map[string]bool{} // file id -> still there
	upload := func(name string) string {
		var tk ticket
		kim.must(http.StatusCreated, "POST", "/v1/uploads", map[string]any{"filename": name, "size": len(body), "content_type": "text/plain"}, &tk)
		if st, code := put(t, tk, body); st != http.StatusOK {
			t.Fatalf("PUT %s on an empty disk: %d %s", name, st, code)
		}
		kim.waitState(tk.ID, "completed", 10*time.Second)
		return tk.ID
	}
	for i := range 40 {
		stored[upload(fmt.Sprintf("before-%02d.txt", i))] = true
	}
	// Tickets issued before the disk fills, whose bytes and completion come after.
	var late []ticket
	for i := range 20 {
		var tk ticket
		kim.must(http.StatusCreated, "POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("late-%02d.txt", i), "size": len(body), "content_type": "text/plain"}, &tk)
		late = append(late, tk)
	}

	ballast := testenv.FillDisk(t, dir)
	// The allowed answers of each operation on the full disk; anything else fails the test.
	check := func(what string, st int, code string, ok ...int) {
		t.Helper()
		if slices.Contains(ok, st) || st == http.StatusInsufficientStorage && code == "insufficient_storage" {
			return
		}
		t.Fatalf("%s on a full disk: %d %s, want one of %v or 507 insufficient_storage\n%s", what, st, code, ok, p.logs())
	}
	// Tickets from several clients at once, so that the database commits them in shared
	// transactions, until the database is full for certain.
	var mu sync.Mutex
	refusedTickets, sent := 0, 0
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				var tk ticket
				st, code := kim.call("POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("full-%d-%04d.txt", w, i), "size": len(body), "content_type": "text/plain"}, &tk)
				mu.Lock()
				sent++
				if st == http.StatusInsufficientStorage && code == "insufficient_storage" {
					refusedTickets++
				} else if st != http.StatusCreated {
					t.Errorf("ticket on a full disk: %d %s, want 201 or 507 insufficient_storage", st, code)
				}
				stop := refusedTickets >= 40 || sent >= 4000 || t.Failed()
				mu.Unlock()
				if stop {
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.Fatalf("server log:\n%s", p.logs())
	}
	if refusedTickets == 0 {
		t.Fatal("no ticket was refused: the database is not full")
	}
	for _, tk := range late {
		st, code := put(t, tk, body)
		if st != http.StatusOK && st != http.StatusInsufficientStorage {
			t.Fatalf("PUT on a full disk: %d %s, want 200 or 507", st, code)
		}
		st, code = kim.call("POST", "/v1/uploads/"+tk.ID+"/complete", map[string]any{}, nil)
		// 409 not_uploaded: the node refused the bytes, so there is nothing to complete.
		check("completion", st, code, http.StatusOK, http.StatusConflict)
	}
	issued := 0
	for id := range stored {
		var d struct{ URL string }
		st, code := kim.call("GET", "/v1/files/"+id+"/download", nil, &d)
		if st != http.StatusOK {
			t.Fatalf("download URL of a stored file on a full disk: %d %s, want 200 (reads keep working)\n%s", st, code, p.logs())
		}
		if st, _, got := httpDo(t, "GET", d.URL, nil, nil); st != http.StatusOK || !bytes.Equal(got, body) {
			t.Fatalf("GET of a stored file on a full disk: %d %q", st, got)
		}
		issued++
	}
	deleted, refused := 0, 0
	ids := sortedKeys(stored)
	for _, id := range ids[:30] {
		st, code := kim.call("DELETE", "/v1/files/"+id, nil, nil)
		check("delete", st, code, http.StatusNoContent)
		if st == http.StatusNoContent {
			stored[id] = false
			deleted++
		} else {
			refused++
		}
	}
	if deleted == 0 {
		t.Errorf("no delete was done on the full disk (%d refused): deletes must keep working", refused)
	}
	listed := func() map[string]bool {
		var page struct{ Files []fileView }
		kim.must(http.StatusOK, "GET", "/v1/files?limit=1000", nil, &page)
		m := map[string]bool{}
		for _, f := range page.Files {
			m[f.ID] = true
		}
		return m
	}
	assertState := func(when string) {
		t.Helper()
		l := listed()
		for id, there := range stored {
			st, _ := kim.call("GET", "/v1/files/"+id, nil, nil)
			switch {
			case there && (st != http.StatusOK || !l[id]):
				t.Errorf("%s: file %s that was never deleted: GET %d, listed %v", when, id, st, l[id])
			case there:
				var d struct{ URL string }
				kim.must(http.StatusOK, "GET", "/v1/files/"+id+"/download", nil, &d)
				if st, _, got := httpDo(t, "GET", d.URL, nil, nil); st != http.StatusOK || !bytes.Equal(got, body) {
					t.Errorf("%s: file %s that was never deleted reads back %d %q", when, id, st, got)
				}
			case !there && (st != http.StatusNotFound || l[id]):
				t.Errorf("%s: file %s whose delete was answered 204: GET %d, listed %v", when, id, st, l[id])
			}
		}
	}
	assertState("on the full disk")
	if errs := failedCalls(p.logs()); len(errs) > 0 {
		t.Errorf("API calls failed at ERROR on the full disk:\n%s", strings.Join(errs, "\n"))
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[:30] {
		if !stored[id] {
			continue
		}
		kim.must(http.StatusNoContent, "DELETE", "/v1/files/"+id, nil, nil)
		stored[id] = false
	}
	stored[upload("after.txt")] = true
	assertState("after space was freed")
	t.Logf("on the full disk: %d of %d tickets refused, %d download URLs issued, %d deletes done, %d refused", refusedTickets, sent, issued, deleted, refused)
}

// failedCalls are the lines of a server log where a control-plane API call failed at ERROR,
// the level of a failure the server could not name (answered 500).
func failedCalls(logs string) []string {
	var out []string
	for l := range strings.Lines(logs) {
		if strings.Contains(l, "level=ERROR") && strings.Contains(l, " path=/v1/") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
