package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"presign/internal/testenv"
	"presign/internal/testenv/pgspace"
)

// TestFullDiskControlPlaneAnswers507AndRecovers runs "presign serve" with its metadata on a
// small filesystem and fills it, on SQLite (the database file there) and on PostgreSQL (the
// schema's tables in a tablespace there): a ticket that cannot be recorded is refused with a
// 507 JSON error (never a 500, no crash), reads keep working, and once space is freed tickets
// are issued again without a restart, and every ticket answered 201 is there.
func TestFullDiskControlPlaneAnswers507AndRecovers(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := testenv.Tmpfs(t, "64m")
		p := start(t, []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
			[]string{"serve", "--data", filepath.Join(dir, "serve"), "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0"},
			"control plane", "storage node")
		waitReady(t, p.url("control plane"))
		fillUnderControlPlane(t, p, dir)
	})
	t.Run("postgres", func(t *testing.T) {
		space, dir := pgspace.Tablespace(t, testPostgres(), "4m")
		dsn, _, _ := pgSchema(t)
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("default_tablespace", space)
		u.RawQuery = q.Encode()
		fillUnderControlPlane(t, serveProcess(t, "--db", u.String()), dir)
	})
}

// fillUnderControlPlane fills dir, where p keeps its metadata, while tickets are asked for.
func fillUnderControlPlane(t *testing.T, p *process, dir string) {
	kim, _ := adminAPI(t, p).newUser("kim", nil)
	var acked []string
	issue := func(name string) (int, string) {
		var tk ticket
		st, code := kim.call("POST", "/v1/uploads", map[string]any{"filename": name, "size": 10, "content_type": "text/plain"}, &tk)
		if st == http.StatusCreated {
			acked = append(acked, tk.ID)
		}
		return st, code
	}
	for i := range 5 {
		if st, code := issue(fmt.Sprintf("before-%d.txt", i)); st != http.StatusCreated {
			t.Fatalf("ticket on an empty disk: %d %s", st, code)
		}
	}
	ballast := testenv.FillDisk(t, dir)
	refused := 0
	for i := range 200 {
		st, code := issue(fmt.Sprintf("full-%03d-%s.txt", i, string(make([]byte, 0))))
		switch {
		case st == http.StatusCreated:
		case st == http.StatusInsufficientStorage && code == "insufficient_storage":
			refused++
		default:
			t.Fatalf("ticket on a full disk: %d %s, want 201 or 507 insufficient_storage\n%s", st, code, p.logs())
		}
	}
	if refused == 0 {
		t.Fatal("no ticket was refused: the disk was not full")
	}
	for _, id := range acked {
		kim.must(http.StatusOK, "GET", "/v1/uploads/"+id, nil, nil)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if st, code := issue("after.txt"); st != http.StatusCreated {
		t.Fatalf("ticket after space was freed: %d %s\n%s", st, code, p.logs())
	}
	for _, id := range acked {
		kim.must(http.StatusOK, "GET", "/v1/uploads/"+id, nil, nil)
	}
	t.Logf("%d of 200 tickets refused on the full disk; %d issued in all", refused, len(acked))
}
