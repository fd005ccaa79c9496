package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/sigv4"
)

// TestNodeCountsRequestsByOperationAndStatus: the storage node's /_presign/metrics count its
// S3 requests by operation and status, a client that hangs up mid-upload as 499, with neither
// bucket nor key among the labels.
func TestNodeCountsRequestsByOperationAndStatus(t *testing.T) {
	creds := sigv4.Credentials{AccessKeyID: "AKNODEMETRICS", SecretAccessKey: "node-metrics-secret-0123456789"}
	stor := startStorage(t, creds)
	signer := &sigv4.Signer{Credentials: creds, Region: "us-east-1"}
	presign := func(method, path string) string {
		u, err := signer.Presign(method, &url.URL{Scheme: "http", Host: strings.TrimPrefix(stor, "http://"), Path: path}, nil, time.Now(), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	send := func(method, u, body string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, u, resp.StatusCode, want)
		}
	}
	send("PUT", presign("PUT", "/metered-bucket"), "", 200)
	send("PUT", presign("PUT", "/metered-bucket/secret-key.txt"), "hello", 200)
	send("GET", presign("GET", "/metered-bucket/secret-key.txt"), "", 200)
	send("GET", presign("GET", "/metered-bucket/secret-key.txt"), "", 200)
	send("GET", presign("GET", "/metered-bucket/missing-key.txt"), "", 404)
	send("GET", stor+"/metered-bucket/secret-key.txt", "", 403) // anonymous
	send("GET", stor+"/Not_A_Bucket/x", "", 400)                // names no operation
	// An upload whose client hangs up halfway: 499, never sent.
	pu, _ := url.Parse(presign("PUT", "/metered-bucket/cut-key.txt"))
	c, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n%s", pu.RequestURI(), pu.Host, strings.Repeat("x", 500))
	c.Close()

	want := map[string]float64{
		`code="200",op="CreateBucket"`: 1,
		`code="200",op="PutObject"`:    1,
		`code="200",op="GetObject"`:    2,
		`code="404",op="GetObject"`:    1,
		`code="403",op="GetObject"`:    1,
		`code="400",op="None"`:         1,
		`code="499",op="PutObject"`:    1,
	}
	// A request is counted once its handler has returned, which may be just after its client
	// read the answer, and the cut upload once the node has noticed: wait for the counts.
	var got map[string]float64
	var text string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, text = scrapeRequestCounts(t, stor); maps.Equal(got, want) {
			break
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("presign_storage_requests_total:\n got %v\nwant %v", got, want)
	}
	for _, leak := range []string{"metered-bucket", "secret-key", "missing-key", "cut-key"} {
		if strings.Contains(text, leak) {
			t.Errorf("the metrics name %q, a bucket or a key", leak)
		}
	}
}

// startStorage runs "presign storage" in this process with the root credentials, and returns
// its base URL once it answers its health check.
func startStorage(t *testing.T, creds sigv4.Credentials) string {
	t.Helper()
	addr := freePort(t)
	m, _, errb := testMain(map[string]string{"PRESIGN_ACCESS_KEY": creds.AccessKeyID, "PRESIGN_SECRET_KEY": creds.SecretAccessKey})
	m.registry = prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []string{"storage", "--data", filepath.Join(t.TempDir(), "data"), "--addr", addr})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("storage: %v\n%s", err, errb)
		}
	})
	for {
		resp, err := http.Get("http://" + addr + "/_presign/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr
			}
		}
		select {
		case err := <-done:
			t.Fatalf("storage ended: %v\n%s", err, errb)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// scrapeRequestCounts reads the node's metrics and returns presign_storage_requests_total by
// its labels (as the text format writes them), and the lines of that metric.
func scrapeRequestCounts(t *testing.T, stor string) (map[string]float64, string) {
	t.Helper()
	st, body := get(t, stor+"/_presign/metrics", nil)
	if st != 200 {
		t.Fatalf("metrics: %d %s", st, body)
	}
	counts := map[string]float64{}
	var lines strings.Builder
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		labels, ok := strings.CutPrefix(sc.Text(), "presign_storage_requests_total{")
		if !ok {
			continue
		}
		lines.WriteString(sc.Text() + "\n")
		labels, value, _ := strings.Cut(labels, "} ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		counts[labels] = v
	}
	return counts, lines.String()
}
