package e2e

import (
	"context"
	"testing"
	"time"
)

// uploadOne issues a ticket to the user, uploads body with a plain PUT and waits for the
// storage event to complete it. It returns the upload id.
func uploadOne(t *testing.T, a *api, body []byte) string {
	t.Helper()
	var tk ticket
	a.must(201, "POST", "/v1/uploads", map[string]any{"filename": "keep.txt", "size": len(body), "content_type": "text/plain"}, &tk)
	if st, code := put(t, tk, body); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	a.waitState(tk.ID, "completed", 10*time.Second)
	return tk.ID
}

// TestServeKeepsEverythingAcrossARestart: users, sessions, files and the webhook wiring survive
// a stop and start on the same data directory, and the administrator is not created again.
func TestServeKeepsEverythingAcrossARestart(t *testing.T) {
	p := serveProcess(t)
	kim, _ := adminAPI(t, p).newUser("kim", nil)
	first := uploadOne(t, kim, []byte("before"))
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p.restart("control plane", "storage node")
	waitReady(t, p.url("control plane"))
	kim.base = p.url("control plane")
	kim.must(200, "GET", "/v1/files/"+first, nil, nil) // the session outlived the restart
	second := uploadOne(t, kim, []byte("after"))       // events still reach the control plane
	var files struct{ Files []fileView }
	kim.must(200, "GET", "/v1/files", nil, &files)
	if len(files.Files) != 2 || files.Files[0].ID != second || files.Files[1].ID != first {
		t.Fatalf("files after restart %+v", files.Files)
	}
}

// TestServeOnPostgreSQL runs "presign serve --db postgres://..." in a schema of its own.
func TestServeOnPostgreSQL(t *testing.T) {
	dsn, conn, schema := pgSchema(t)
	p := serveProcess(t, "--db", dsn)
	lee, _ := adminAPI(t, p).newUser("lee", nil)
	id := uploadOne(t, lee, []byte("in postgres"))
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".files WHERE id = $1", id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("file rows in PostgreSQL: %d, %v", n, err)
	}
}
