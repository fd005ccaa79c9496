package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"presign/internal/testenv"
)

// These tests run two "presign control" replicas as processes on one PostgreSQL schema, with
// one storage node, and race them.

// pgSchema creates a schema of its own for the test in the test database, dropped at the end,
// and returns the DSN that uses it and a connection to inspect it. Under CI=true an unreachable
// database fails the test; elsewhere it skips it.
func pgSchema(t *testing.T) (string, *pgx.Conn, string) {
	t.Helper()
	dsn := testPostgres()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		testenv.Missing(t, "PostgreSQL unreachable at %s (set PRESIGN_TEST_POSTGRES): %v", dsn, err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	schema := "presign_e2e_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(ctx)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), conn, schema
}

// testPostgres is the DSN of the test database: PRESIGN_TEST_POSTGRES, or the machine's.
func testPostgres() string {
	if dsn := os.Getenv("PRESIGN_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test"
}

// fanout delivers each storage event to every replica at the same moment, as a load balancer
// that retried on a second replica while the first was still working would. Held, it refuses
// deliveries (503), and the storage node keeps them for later.
type fanout struct {
	*httptest.Server
	mu      sync.Mutex
	targets []string
	held    atomic.Bool
}

func newFanout(t *testing.T) *fanout {
	f := &fanout{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		targets := f.targets
		f.mu.Unlock()
		if f.held.Load() || len(targets) == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		codes := make([]int, len(targets))
		var wg sync.WaitGroup
		for i, target := range targets {
			wg.Go(func() { codes[i] = forward(target, r.Header, body) })
		}
		wg.Wait()
		for _, c := range codes {
			if c != http.StatusOK {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// replicaSet is one storage node and two control-plane replicas on one database.
type replicaSet struct {
	t        *testing.T
	node     *process
	replicas [2]*process
	fan      *fanout
	db       *pgx.Conn
	schema   string
}

const replicaWebhookSecret = "replica-webhook-secret-0123"

func newReplicaSet(t *testing.T, extra ...string) *replicaSet {
	t.Helper()
	dsn, conn, schema := pgSchema(t)
	rs := &replicaSet{t: t, fan: newFanout(t), db: conn, schema: schema}
	// Held deliveries are retried within a second, not the default five minutes.
	rs.node = storageNode(t, "--notify-url", rs.fan.URL, "--notify-secret", replicaWebhookSecret, "--notify-max-backoff", "1s")
	env := []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
		"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword, "PRESIGN_NOTIFY_SECRET=" + replicaWebhookSecret}
	var wg sync.WaitGroup
	for i := range rs.replicas {
		// Started together: both migrate and create the administrator at once.
		args := append([]string{"control", "--addr", "127.0.0.1:0", "--db", dsn, "--s3-endpoint", rs.node.url("storage node"),
			"--s3-bucket", "shared"}, extra...)
		wg.Go(func() { rs.replicas[i] = start(t, env, args, "control plane") })
	}
	wg.Wait()
	for _, r := range rs.replicas {
		if r == nil {
			t.FailNow()
		}
		waitReady(t, r.url("control plane"))
		rs.fan.targets = append(rs.fan.targets, r.url("control plane")+"/v1/storage-events")
	}
	return rs
}

// api returns a client of replica i with the token of a.
func (rs *replicaSet) api(i int, a *api) *api {
	return &api{t: rs.t, base: rs.replicas[i].url("control plane"), token: a.token}
}

// admin logs the administrator in on replica 0.
func (rs *replicaSet) admin() *api {
	return (&api{t: rs.t, base: rs.replicas[0].url("control plane")}).login("admin", e2eAdminPassword)
}

// endings counts, over both replicas, the uploads their metrics say ended, by source.
func (rs *replicaSet) endings(source string) int {
	return rs.metricSum("presign_control_upload_endings_total", `source="`+source+`"`)
}

// metricSum adds a counter over both replicas, over the series whose labels contain match.
func (rs *replicaSet) metricSum(name, match string) int {
	rs.t.Helper()
	return rs.replicaMetric(0, name, match) + rs.replicaMetric(1, name, match)
}

// replicaMetric adds the series of a counter of replica i whose labels contain every match.
func (rs *replicaSet) replicaMetric(i int, name string, match ...string) int {
	rs.t.Helper()
	st, _, body := httpDo(rs.t, "GET", rs.replicas[i].url("control plane")+"/metrics", nil, nil)
	if st != 200 {
		rs.t.Fatalf("metrics: %d", st)
	}
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		all := true
		for _, m := range match {
			all = all && strings.Contains(line, m)
		}
		if all {
			n, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err != nil {
				rs.t.Fatalf("metric line %q", line)
			}
			total += int(n)
		}
	}
	return total
}

// endingsInAudit returns, per upload id, how many times the audit log (shared by both
// replicas) recorded its end.
func (rs *replicaSet) endingsInAudit(t *testing.T, ids []string) map[string]int {
	t.Helper()
	rows, err := rs.db.Query(context.Background(), "SELECT upload_id, count(*) FROM "+rs.schema+
		".audit WHERE action IN ('upload.complete', 'upload.fail', 'upload.expire') AND upload_id = ANY($1) GROUP BY upload_id", ids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (rs *replicaSet) fileRows(t *testing.T, ids []string) int {
	t.Helper()
	var n int
	if err := rs.db.QueryRow(context.Background(), "SELECT count(*) FROM "+rs.schema+".files WHERE id = ANY($1)", ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkOnce fails t unless each upload has one file row and one recorded ending (written in
// the transaction of the ending itself).
func (rs *replicaSet) checkOnce(t *testing.T, ids []string, files int) {
	t.Helper()
	if n := rs.fileRows(t, ids); n != files {
		t.Fatalf("%d file records for %d uploads", n, files)
	}
	ends := rs.endingsInAudit(t, ids)
	for _, id := range ids {
		if ends[id] != 1 {
			t.Fatalf("upload %s ended %d times in the audit log", id, ends[id])
		}
	}
}

func TestReplicasShareOnePostgreSQL(t *testing.T) {
	rs := newReplicaSet(t, "--ticket-rate", "20", "--login-failures-per-user", "3", "--reconcile-interval", "150ms", "--reconcile-grace", "0")
	admin := rs.admin()
	// Every upload whose object arrived, over the subtests, for the last one.
	var stored []string

	t.Run("a session from one replica works on the other", func(t *testing.T) {
		onA, _ := admin.newUser("sam", nil)
		var me struct{ Username string }
		rs.api(1, onA).must(200, "GET", "/v1/me", nil, &me)
		if me.Username != "sam" {
			t.Fatalf("replica 1 sees %q", me.Username)
		}
	})

	t.Run("a revocation on one replica is refused on the other at once", func(t *testing.T) {
		onA, _ := admin.newUser("rev", nil)
		var key struct{ ID, Key string }
		onA.must(201, "POST", "/v1/apikeys", map[string]any{"name": "ci", "password": "rev-password"}, &key)
		keyOnB := rs.api(1, onA.as(key.Key))
		keyOnB.must(200, "GET", "/v1/me", nil, nil)
		onA.must(204, "DELETE", "/v1/apikeys/"+key.ID, nil, nil)
		if st, code := keyOnB.call("GET", "/v1/me", nil, nil); st != 401 || code != "unauthenticated" {
			t.Fatalf("revoked key on the other replica: %d %s", st, code)
		}
		// A logout on B ends the session on A.
		rs.api(1, onA).must(204, "POST", "/v1/logout", nil, nil)
		if st, _ := onA.call("GET", "/v1/me", nil, nil); st != 401 {
			t.Fatalf("logged-out session on the other replica: %d", st)
		}
	})

	t.Run("the ticket rate is counted across both replicas", func(t *testing.T) {
		// The limit is per fixed minute; a run that straddles two minutes is repeated.
		for attempt := 0; ; attempt++ {
			u, _ := admin.newUser(fmt.Sprintf("rate%d", attempt), nil)
			minute := time.Now().Unix() / 60
			issued, refusedAt := 0, -1
			for i := 0; i < 30 && refusedAt < 0; i++ {
				st, code := rs.api(i%2, u).call("POST", "/v1/uploads", map[string]any{"filename": "r.bin", "size": 1}, nil)
				switch {
				case st == 201:
					issued++
				case st == 429 && code == "rate_limited":
					refusedAt = i
				default:
					t.Fatalf("ticket %d: %d %s", i, st, code)
				}
			}
			if time.Now().Unix()/60 != minute && attempt < 3 {
				continue
			}
			if issued != 20 || refusedAt != 20 {
				t.Fatalf("%d tickets issued alternately on two replicas before a refusal at %d; the limit is 20", issued, refusedAt)
			}
			return
		}
	})

	t.Run("failed logins are counted across both replicas", func(t *testing.T) {
		// The count is per fixed 15-minute window; a run that straddles two is repeated.
		for attempt := 0; ; attempt++ {
			// Created without logging in: an address the user logged in from is spared the
			// limit per username, which is the counter shared here.
			name := fmt.Sprintf("lockme%d", attempt)
			admin.must(201, "POST", "/v1/users", map[string]any{"username": name, "password": name + "-password"}, nil)
			window := time.Now().Unix() / 900
			for i := range 3 {
				if st, code := rs.api(i%2, admin.as("")).call("POST", "/v1/login", map[string]string{"username": name, "password": "not-the-password"}, nil); st != 401 {
					t.Fatalf("failure %d: %d %s", i, st, code)
				}
			}
			var codes []string
			for i := range 2 {
				st, code := rs.api(i, admin.as("")).call("POST", "/v1/login", map[string]string{"username": name, "password": name + "-password"}, nil)
				codes = append(codes, fmt.Sprint(st, " ", code))
			}
			if time.Now().Unix()/900 != window && attempt < 3 {
				continue
			}
			for i, c := range codes {
				if c != "429 login_throttled" {
					t.Fatalf("login on replica %d after 3 failures spread over both: %s", i, c)
				}
			}
			return
		}
	})

	t.Run("an event delivered to both replicas at once makes one file", func(t *testing.T) {
		u, _ := admin.newUser("eve", nil)
		before := rs.endings("event")
		const n = 6
		var ids []string
		for i := range n {
			var tk ticket
			rs.api(i%2, u).must(201, "POST", "/v1/uploads", map[string]any{"filename": "e.txt", "size": 5, "content_type": "text/plain"}, &tk)
			if st, code := put(t, tk, []byte("event")); st != 200 {
				t.Fatalf("PUT: %d %s", st, code)
			}
			ids = append(ids, tk.ID)
		}
		for i, id := range ids {
			rs.api(i%2, u).waitState(id, "completed", 15*time.Second)
		}
		rs.checkOnce(t, ids, n)
		stored = append(stored, ids...)
		if got := rs.endings("event") - before; got != n {
			t.Fatalf("the replicas' metrics count %d completions by event for %d uploads", got, n)
		}
	})

	t.Run("complete sent to both replicas at once makes one file", func(t *testing.T) {
		rs.fan.held.Store(true) // no event may settle the uploads first
		defer rs.fan.held.Store(false)
		u, _ := admin.newUser("cal", nil)
		before := rs.endings("client")
		const n, callers = 4, 6
		var ids []string
		for range n {
			var tk ticket
			u.must(201, "POST", "/v1/uploads", map[string]any{"filename": "c.txt", "size": 4, "content_type": "text/plain"}, &tk)
			if st, code := put(t, tk, []byte("race")); st != 200 {
				t.Fatalf("PUT: %d %s", st, code)
			}
			files := make([]fileView, callers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					<-start
					rs.api(i%2, u).must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &files[i])
				})
			}
			close(start)
			wg.Wait()
			for _, f := range files {
				if f != files[0] || f.ID != tk.ID {
					t.Fatalf("callers got different files: %+v", files)
				}
			}
			ids = append(ids, tk.ID)
		}
		rs.checkOnce(t, ids, n)
		stored = append(stored, ids...)
		if got := rs.endings("client") - before; got != n {
			t.Fatalf("the replicas' metrics count %d completions by complete for %d uploads", got, n)
		}
	})

	t.Run("the reconcilers of both replicas claim each overdue upload once", func(t *testing.T) {
		rs.fan.held.Store(true) // completion must come from the reconciler
		defer rs.fan.held.Store(false)
		u, _ := admin.newUser("rec", map[string]any{"url_ttl_seconds": 4})
		claimsBefore, endingsBefore := rs.metricSum("presign_control_reconciler_claims_total", ""), rs.endings("reconciler")
		const n = 16
		var ids []string
		uploaded := map[string]bool{}
		for i := range n {
			var tk ticket
			rs.api(i%2, u).must(201, "POST", "/v1/uploads", map[string]any{"filename": "o.txt", "size": 7, "content_type": "text/plain"}, &tk)
			if i%2 == 0 { // half arrive and are never completed by the client; half never arrive
				if st, code := put(t, tk, []byte("overdue")); st != 200 {
					t.Fatalf("PUT: %d %s", st, code)
				}
				uploaded[tk.ID] = true
			}
			ids = append(ids, tk.ID)
		}
		for _, id := range ids {
			want := "expired"
			if uploaded[id] {
				want = "completed"
			}
			u.waitState(id, want, 20*time.Second)
		}
		rs.checkOnce(t, ids, n/2)
		for id := range uploaded {
			stored = append(stored, id)
		}
		t.Logf("claims per replica (whole test): %d, %d", rs.replicaMetric(0, "presign_control_reconciler_claims_total"), rs.replicaMetric(1, "presign_control_reconciler_claims_total"))
		if got := rs.metricSum("presign_control_reconciler_claims_total", "") - claimsBefore; got != n {
			t.Fatalf("the reconcilers claimed %d times for %d overdue uploads", got, n)
		}
		if got := rs.endings("reconciler") - endingsBefore; got != n {
			t.Fatalf("the reconcilers ended %d uploads of %d", got, n)
		}
	})

	t.Run("the held-back events reach both replicas late and change nothing", func(t *testing.T) {
		// Each stored object made one event; both replicas get each (one applies it, the
		// other sees a duplicate), some more than once (a delivery half refused is retried).
		deadline := time.Now().Add(30 * time.Second)
		for rs.metricSum("presign_control_storage_events_total", `result="applied"`)+
			rs.metricSum("presign_control_storage_events_total", `result="duplicate"`) < 2*len(stored) {
			if time.Now().After(deadline) {
				t.Fatalf("the held deliveries did not arrive:\n%s", rs.node.logs())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if applied := rs.metricSum("presign_control_storage_events_total", `result="applied"`); applied != len(stored) {
			t.Fatalf("%d events applied for %d objects stored", applied, len(stored))
		}
		rs.checkOnce(t, stored, len(stored))
	})
}
