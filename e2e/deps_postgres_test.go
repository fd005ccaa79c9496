package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
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
	p := serveProcess(t, "--db", u.String())
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
