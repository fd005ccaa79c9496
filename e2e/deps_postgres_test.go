package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/internal/testenv/faultproxy"
)

// TestControlPlaneOnPostgreSQLRecoversFromARestartAndLosesNoTicket: "presign serve" reaches
// PostgreSQL through a proxy that resets every connection three times while tickets are being
// created, which is what a restart of PostgreSQL looks like from the control plane. Requests
// caught by a reset fail with the JSON error shape; the control plane then serves again by
// itself, and every ticket it answered 201 is in the database.
//
// The proxy stands in for a restart of the machine's PostgreSQL, which other tests share: to
// the client, a restart is its connections reset and new ones accepted again.
func TestControlPlaneOnPostgreSQLRecoversFromARestartAndLosesNoTicket(t *testing.T) {
	dsn, conn, schema := pgSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := faultproxy.Start(t, u.Host)
	u.Host = db.Addr()
	// No ticket rate limit: on a fast machine 4 clients pass 600 tickets in the run's second,
	// and the limit's 429s would last the minute out, past the wait for recovery.
	p := serveProcess(t, "--db", u.String(), "--ticket-rate", "0")
	// More pending uploads than 4 clients ask for in the run, so that only PostgreSQL refuses.
	ivy, _ := adminAPI(t, p).newUser("ivy", map[string]any{"max_pending_uploads": 100000})

	var (
		mu       sync.Mutex
		answered []string // ids of tickets answered 201
		failures = map[int]int{}
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	ticket := func() (int, string) {
		b, _ := json.Marshal(map[string]any{"filename": "f.txt", "size": 3, "content_type": "text/plain"})
		req, _ := http.NewRequest(http.MethodPost, ivy.base+"/v1/uploads", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+ivy.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct{ ID, Error, Message string }
		if json.Unmarshal(raw, &out) != nil || (resp.StatusCode == 201) != (out.ID != "") || (resp.StatusCode != 201 && out.Message == "") {
			return resp.StatusCode, "answer not in the API's shape: " + string(raw)
		}
		if resp.StatusCode != 201 {
			return resp.StatusCode, out.Error + ": " + out.Message
		}
		return resp.StatusCode, out.ID
	}
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				st, s := ticket()
				mu.Lock()
				if st == 201 {
					answered = append(answered, s)
				} else {
					failures[st]++
					if st == 0 || st < 500 && st != 429 {
						t.Errorf("ticket during PostgreSQL restarts: %d %s", st, s)
					}
				}
				mu.Unlock()
			}
		})
	}
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		db.Reset()
	}
	time.Sleep(300 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	deadline := time.Now().Add(20 * time.Second)
	for {
		st, s := ticket()
		if st == 201 {
			answered = append(answered, s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the control plane did not recover after PostgreSQL restarts: %d %s\n%s", st, s, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitReady(t, p.url("control plane"))
	var stored int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+schema+".uploads WHERE id = ANY($1)", answered).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tickets answered 201, failures by status %v", len(answered), failures)
	if stored != len(answered) {
		t.Fatalf("%d of %d tickets answered 201 are in PostgreSQL", stored, len(answered))
	}
}

// TestControlPlaneAnswers503WhenPostgreSQLIsUnreachable cuts "presign serve" off its PostgreSQL,
// first as a server that is down (connections refused) and then as one that crashes over and
// over (connections reset): every request that needs the database is answered 503
// "unavailable" in the JSON error shape with a Retry-After, each logged once at WARN without
// the DSN's password; once PostgreSQL is back, the same requests succeed without a restart.
func TestControlPlaneAnswers503WhenPostgreSQLIsUnreachable(t *testing.T) {
	dsn, _, _ := pgSchema(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Trust authentication ignores the password, but the DSN carries it like a real one would.
	const password = "pg-password-never-logged"
	u.User = url.UserPassword(u.User.Username(), password)
	db := faultproxy.Start(t, u.Host)
	u.Host = db.Addr()
	p := serveProcess(t, "--db", u.String())
	ivy, _ := adminAPI(t, p).newUser("ivy", nil)
	var tk ticket
	ivy.must(http.StatusCreated, "POST", "/v1/uploads", map[string]any{"filename": "a.txt", "size": 3, "content_type": "text/plain"}, &tk)

	send := func(method, path string, body any) (*http.Response, string) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, ivy.base+path, rd)
		req.Header.Set("Authorization", "Bearer "+ivy.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Error, Message string }
		if resp.StatusCode >= 300 && (json.Unmarshal(raw, &e) != nil || e.Message == "") {
			t.Fatalf("%s %s: %d answer not in the API's shape: %s", method, path, resp.StatusCode, raw)
		}
		return resp, e.Error
	}
	newTicket := map[string]any{"filename": "b.txt", "size": 3, "content_type": "text/plain"}
	refused := 0
	for _, mode := range []faultproxy.Mode{faultproxy.Refuse, faultproxy.ResetEach} {
		if err := db.Set(mode); err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct{ method, path string }{{"POST", "/v1/uploads"}, {"GET", "/v1/uploads/" + tk.ID}} {
			var body any
			if r.method == "POST" {
				body = newTicket
			}
			resp, code := send(r.method, r.path, body)
			if resp.StatusCode != http.StatusServiceUnavailable || code != "unavailable" {
				t.Fatalf("%s %s with PostgreSQL unreachable (mode %d): %d %q, want 503 unavailable\n%s", r.method, r.path, mode, resp.StatusCode, code, p.logs())
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 0 {
				t.Fatalf("503 without a Retry-After in seconds: %q", resp.Header.Get("Retry-After"))
			}
			refused++
		}
	}
	if err := db.Set(faultproxy.Pass); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, code := send("POST", "/v1/uploads", newTicket)
		if resp.StatusCode == http.StatusCreated {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("ticket after PostgreSQL came back: %d %s\n%s", resp.StatusCode, code, p.logs())
		}
		refused++
		time.Sleep(100 * time.Millisecond)
	}
	ivy.must(http.StatusOK, "GET", "/v1/uploads/"+tk.ID, nil, nil)

	logs := p.logs()
	if strings.Contains(logs, password) {
		t.Fatalf("the DSN's password is in the logs:\n%s", logs)
	}
	var warned int
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("an unreachable database logged an error, want a warning: %s", line)
		}
		if strings.Contains(line, "level=WARN") && strings.Contains(line, `msg="metadata store unavailable"`) {
			warned++
		}
	}
	if warned != refused {
		t.Fatalf("%d warnings for %d requests answered 503, want one each\n%s", warned, refused, logs)
	}
}
