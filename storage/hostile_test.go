package storage_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

// Clients that hold connections open (dripping bytes, never reading) or break them off: the
// node cuts the slow ones after bounded time, frees what they held, and logs the clients'
// doing at debug level with the status 499, not as its own failure.

// logRecorder is a slog.Handler that keeps every record, for tests that read the log.
type logRecorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// accessStatuses returns the status of every access log line so far, and the messages logged
// at ERROR.
func (l *logRecorder) accessStatuses() (statuses []int64, errs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Level >= slog.LevelError {
			errs = append(errs, r.Message)
		}
		if r.Message != "request" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "status" {
				statuses = append(statuses, a.Value.Int64())
			}
			return true
		})
	}
	return statuses, errs
}

// waitStatuses waits until the access log has n lines of status, or fails the test after
// 20 seconds.
func (l *logRecorder) waitStatuses(t *testing.T, status int64, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, errs := l.accessStatuses()
		count := 0
		for _, s := range got {
			if s == status {
				count++
			}
		}
		if count >= n {
			if len(errs) > 0 {
				t.Fatalf("errors logged for the clients' doing: %q", errs)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log statuses %v (errors %q), want %d of %d", got, errs, n, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dripRequest writes head, then the body one byte per gap until the server closes the
// connection or ten seconds pass; it returns the answer, or an error when none came.
func dripRequest(addr, head string, body []byte, gap time.Duration) (*http.Response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		return nil, err
	}
	stop := time.Now().Add(10 * time.Second)
	for _, b := range body {
		if time.Now().After(stop) {
			return nil, fmt.Errorf("still sending after 10s")
		}
		if _, err := c.Write([]byte{b}); err != nil {
			break // the server closed the connection
		}
		time.Sleep(gap)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func TestSlowClientsAreCutOff(t *testing.T) {
	form, ct := multipartForm(t, []formField{{"key", "trickled"}, {"padding", strings.Repeat("p", 500)}}, "f.txt", []byte("data"), nil)
	for _, tc := range []struct {
		name string
		cfg  storage.Config
		// request returns the head and body of the request to drip.
		request func(n *formNode, u *url.URL) (string, []byte)
	}{
		{
			// Each byte comes long before the idle timeout, which used to start over with
			// every byte; the fields as a whole must arrive within SmallBodyTimeout.
			name: "POST form fields past their total deadline",
			cfg:  storage.Config{SmallBodyTimeout: 500 * time.Millisecond, MinRate: -1},
			request: func(n *formNode, u *url.URL) (string, []byte) {
				return fmt.Sprintf("POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", formBucket, u.Host, ct, len(form)), form
			},
		},
		{
			name: "PUT below the minimum rate",
			cfg:  storage.Config{MinRate: 1000, RateWindow: 300 * time.Millisecond},
			request: func(n *formNode, u *url.URL) (string, []byte) {
				pu, _ := url.Parse(n.presign(t, http.MethodPut, "/"+formBucket+"/trickled", time.Minute))
				body := bytes.Repeat([]byte("x"), 1000)
				return fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), u.Host, len(body)), body
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.BodyIdleTimeout = time.Minute
			n := startFormNode(t, tc.cfg, nil)
			u, _ := url.Parse(n.URL)
			head, body := tc.request(n, u)
			resp, err := dripRequest(u.Host, head, body, 50*time.Millisecond)
			if err != nil && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("the node kept the slow client: %v", err)
			}
			if err == nil && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 RequestTimeout", resp.StatusCode)
			}
			n.requireAbsent(t, "trickled")
		})
	}
}

// TestDownloadsNeverReadEndAndFreeTheirFiles: GETs whose clients never read end once they
// fall below the minimum rate, so their handlers return and close the object's file; the
// access log shows each as 499.
func TestDownloadsNeverReadEndAndFreeTheirFiles(t *testing.T) {
	logs := &logRecorder{}
	n := startFormNode(t, storage.Config{MinRate: 1 << 20, RateWindow: 300 * time.Millisecond,
		AccessLog: true, Logger: slog.New(logs)}, nil)
	resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"/big", nil, bytes.Repeat([]byte("b"), 32<<20))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(n.presign(t, http.MethodGet, "/"+formBucket+"/big", time.Minute))
	const clients = 20
	for range clients {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)
	}
	logs.waitStatuses(t, 499, clients)
}

// TestClientAbortsAre499AtDebug: bodies cut short by their clients (a form, a presigned PUT)
// are logged at debug and counted as 499, not as the node's failure.
func TestClientAbortsAre499AtDebug(t *testing.T) {
	logs := &logRecorder{}
	n := startFormNode(t, storage.Config{AccessLog: true, Logger: slog.New(logs)}, nil)
	u, _ := url.Parse(n.URL)
	// Cut within the fields, which are read before anything else is checked.
	form, ct := multipartForm(t, []formField{{"key", "cut"}, {"padding", strings.Repeat("p", 1000)}}, "f.txt", []byte("f"), nil)
	pu, _ := url.Parse(n.presign(t, http.MethodPut, "/"+formBucket+"/cut", time.Minute))
	heads := []string{
		fmt.Sprintf("POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", formBucket, u.Host, ct, len(form)),
		fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", pu.RequestURI(), u.Host, len(form)),
	}
	for _, head := range heads {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, head)
		c.Write(form[:len(form)/2])
		c.Close()
	}
	logs.waitStatuses(t, 499, len(heads))
	n.requireAbsent(t, "cut")
}
