package load

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

const (
	testAccessKey = "LOADTESTKEY"
	testSecretKey = "load-test-secret"
)

// startNode runs a presign storage node on a disk backend on a real listener, its handler
// wrapped by wrap when wrap is not nil, and returns a Target for it.
func startNode(t *testing.T, wrap func(http.Handler) http.Handler) Target {
	t.Helper()
	b, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	srv, err := storage.New(storage.Config{Backend: b, Nonces: b, Credentials: sigv4.StaticCredentials{testAccessKey: testSecretKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // after the HTTP server, which stops first
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return Target{Endpoint: ts.URL, AccessKey: testAccessKey, SecretKey: testSecretKey, Bucket: "load"}
}

func TestBigObjectRoundTripsThroughAStorageNode(t *testing.T) {
	const size = 6<<20 + 5 // not a whole number of noise blocks
	res, err := Run(t.Context(), Config{Target: startNode(t, nil), CreateBucket: true, Scenario: ScenarioBig,
		Size: size, ServerPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Phase != "put" || res[1].Phase != "get" {
		t.Fatalf("want a put and a get result, got %+v", res)
	}
	for _, r := range res {
		if r.Scenario != ScenarioBig || r.Size != size || r.Ops != 1 || r.Seconds <= 0 || r.MBps <= 0 {
			t.Errorf("%s: %+v", r.Phase, r)
		}
		// The node runs in this process, whose peak RSS holds at least the test binary.
		if r.ServerPeakRSSMiB < 1 {
			t.Errorf("%s: server peak RSS %.1f MiB", r.Phase, r.ServerPeakRSSMiB)
		}
	}
}

func TestSmallObjectsAreAllReadBackAndChecked(t *testing.T) {
	res, err := Run(t.Context(), Config{Target: startNode(t, nil), CreateBucket: true, Scenario: ScenarioSmall,
		Size: 1000, Concurrency: 4, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("want a put and a get result, got %+v", res)
	}
	put, get := res[0], res[1]
	if put.Phase != "put" || get.Phase != "get" || put.Ops == 0 || put.Concurrency != 4 {
		t.Fatalf("put %+v, get %+v", put, get)
	}
	if get.Ops != put.Ops {
		t.Errorf("%d objects read back, %d put", get.Ops, put.Ops)
	}
	for _, r := range res {
		if r.P50ms <= 0 || r.P99ms < r.P50ms || r.OpsPerSec <= 0 || r.ServerPeakRSSMiB != 0 {
			t.Errorf("%s: %+v", r.Phase, r)
		}
	}
}

// corruptGets flips the first byte every GET response body carries.
func corruptGets(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w = &flipper{ResponseWriter: w}
		}
		next.ServeHTTP(w, r)
	})
}

// flipper is a ResponseWriter without ReadFrom, so every byte passes through Write.
type flipper struct {
	http.ResponseWriter
	done bool
}

func (f *flipper) Write(p []byte) (int, error) {
	if !f.done && len(p) > 0 {
		f.done = true
		q := append([]byte(nil), p...)
		q[0] ^= 1
		return f.ResponseWriter.Write(q)
	}
	return f.ResponseWriter.Write(p)
}

func TestBigObjectWithOneByteChangedFails(t *testing.T) {
	_, err := Run(t.Context(), Config{Target: startNode(t, corruptGets), CreateBucket: true, Scenario: ScenarioBig, Size: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("a GET with a byte changed: got %v, want a CRC-32C mismatch", err)
	}
}

// firstObjectServer keeps what is PUT to it, without authentication, and answers every GET
// with the first object it received: the server that mixes up keys.
type firstObjectServer struct {
	mu    sync.Mutex
	first []byte
}

func (s *firstObjectServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if s.first == nil && strings.Count(r.URL.Path, "/") > 1 { // an object, not the bucket
			s.first = b
		}
		s.mu.Unlock()
	case http.MethodGet:
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Write(s.first)
	}
}

func TestSmallObjectAnsweredWithAnothersBytesFails(t *testing.T) {
	// Below 8 bytes an object holds only the low bytes of its number; they still differ.
	for _, size := range []int64{4, 100} {
		ts := httptest.NewServer(&firstObjectServer{})
		_, err := Run(t.Context(), Config{Target: Target{Endpoint: ts.URL, AccessKey: "a", SecretKey: "b", Bucket: "load"},
			CreateBucket: true, Scenario: ScenarioSmall, Size: size, Concurrency: 2, Duration: 50 * time.Millisecond})
		ts.Close()
		if err == nil || !strings.Contains(err.Error(), "CRC-32C") {
			t.Errorf("size %d: every GET answered with the first object: got %v, want a CRC-32C mismatch", size, err)
		}
	}
}

func TestBucketThatExistsIsNoErrorButABadSecretIs(t *testing.T) {
	target := startNode(t, nil)
	cfg := Config{Target: target, CreateBucket: true, Scenario: ScenarioBig, Size: 10}
	for i := range 2 {
		if _, err := Run(t.Context(), cfg); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	cfg.Target.SecretKey = "not-the-secret"
	_, err := Run(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("a wrong secret: got %v, want the node's 403 SignatureDoesNotMatch", err)
	}
	cfg.CreateBucket = false
	_, err = Run(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "PUT: 403") {
		t.Fatalf("a wrong secret, no bucket creation: got %v, want the PUT's 403", err)
	}
}

func TestSignScenarioSignsWithoutTheNetwork(t *testing.T) {
	// Nothing listens on port 1: a request would fail.
	res, err := Run(t.Context(), Config{Target: Target{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "x"},
		CreateBucket: true, Scenario: ScenarioSign, Duration: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Phase != "sign" || res[0].Ops == 0 || res[0].OpsPerSec <= 0 {
		t.Fatalf("got %+v", res)
	}
}

func TestRunRefusesABadConfig(t *testing.T) {
	good := Target{Endpoint: "http://127.0.0.1:1", AccessKey: "a", SecretKey: "b", Bucket: "x"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"unknown scenario", func(c *Config) { c.Scenario = "huge" }, `unknown scenario "huge"`},
		{"no size", func(c *Config) { c.Size = 0 }, "size above 0"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "negative"},
		{"endpoint without scheme", func(c *Config) { c.Target.Endpoint = "127.0.0.1:9000" }, "want an http:// or https:// URL"},
		{"no bucket", func(c *Config) { c.Target.Bucket = "" }, "want a bucket name"},
		{"bucket with a slash", func(c *Config) { c.Target.Bucket = "a/b" }, "want a bucket name"},
		{"no secret", func(c *Config) { c.Target.SecretKey = "" }, "secret key"},
		{"URL lifetime above 7 days", func(c *Config) { c.Expires = 8 * 24 * time.Hour }, "1 s to 7 days"},
	} {
		cfg := Config{Target: good, Scenario: ScenarioBig, Size: 1}
		tc.edit(&cfg)
		if _, err := Run(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4096", 4096, true},
		{"17B", 17, true},
		{"4KiB", 4 << 10, true},
		{"64MiB", 64 << 20, true},
		{"2GiB", 2 << 30, true},
		{"0", 0, true},
		{"", 0, false},
		{"GiB", 0, false},
		{"1.5GiB", 0, false},
		{"-1KiB", 0, false},
		{"4KB", 0, false},
		{"9999999999GiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestKeysWithAnyCharacterAreSignedAsSent(t *testing.T) {
	c, err := NewClient(startNode(t, nil), 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"plain", "a/b/c", "with space+plus", "ünïcødé/日本語", "semi;colon=eq&amp@at:colon$", "100%", "a//b", "tilde~dash-dot."} {
		crc, err := c.PutStream(t.Context(), key, 100)
		if err != nil {
			t.Errorf("PUT %q: %v", key, err)
			continue
		}
		if err := c.GetChecked(t.Context(), key, 100, crc); err != nil {
			t.Errorf("GET %q: %v", key, err)
		}
	}
}
