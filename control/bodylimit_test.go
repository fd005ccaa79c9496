package control_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"presign/control"
)

// errorRecorder is a slog.Handler that keeps the messages logged at ERROR.
type errorRecorder struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *errorRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.errs = append(l.errs, r.Message)
	}
	return nil
}
func (l *errorRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorRecorder) WithGroup(string) slog.Handler      { return l }

func (l *errorRecorder) logged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// hostileEnv is newEnv with a short body deadline, its metrics and its errors kept.
func hostileEnv(t *testing.T) (*env, *prometheus.Registry, *errorRecorder) {
	reg := prometheus.NewRegistry()
	logs := &errorRecorder{}
	e := newEnv(t, func(c *control.Config) {
		c.BodyTimeout = 500 * time.Millisecond
		c.Registerer = reg
		c.Logger = slog.New(logs)
	})
	return e, reg, logs
}

// TestTrickledBodiesAreCutOff: a body sent one byte at a time, each long before any idle
// timeout, is cut off once the whole body's deadline has passed (408), on a public route
// (login) and on the storage node's webhook alike.
func TestTrickledBodiesAreCutOff(t *testing.T) {
	e, _, logs := hostileEnv(t)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, path := range []string{"/v1/login", "/v1/storage-events"} {
		body := `{"username": "admin", "password": "` + strings.Repeat("x", 200) + `"}`
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, len(body))
		stop := time.Now().Add(10 * time.Second)
		for i := 0; i < len(body) && time.Now().Before(stop); i++ {
			if _, err := c.Write([]byte{body[i]}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer to the trickled body: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("%s: status %d, want 408", path, resp.StatusCode)
		}
	}
	if errs := logs.logged(); len(errs) > 0 {
		t.Fatalf("slow clients logged as errors: %q", errs)
	}
}

// TestAbortedBodiesAre499: a body cut short by a client that went away is counted as 499 in
// the metrics and logged at debug, not as a 500 error.
func TestAbortedBodiesAre499(t *testing.T) {
	e, reg, logs := hostileEnv(t)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"username\": ")
	c.Close()
	count := func(code string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "presign_control_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["route"] == "POST /v1/login" && labels["code"] == code {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for count("499") == 0 && count("500") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := count("499"); got != 1 {
		t.Fatalf("499 counted %v times (500: %v), want once", got, count("500"))
	}
	if errs := logs.logged(); len(errs) > 0 {
		t.Fatalf("an aborted body logged as an error: %q", errs)
	}
}

// TestDownloadURLsAreSignedPrivate: the download URLs the control plane signs make the
// storage answer Cache-Control: private, so no shared cache keeps a file past its deletion or
// the revocation of its links.
func TestDownloadURLsAreSignedPrivate(t *testing.T) {
	e := newEnv(t, nil)
	_, tok := e.user("ivy", nil)
	var tk control.Ticket
	e.must(201, "POST", "/v1/uploads", tok, ticketReq("page.html", 9, "text/html"), &tk)
	if _, err := e.store.TransitionUpload(t.Context(), tk.ID, []control.UploadState{control.StatePending}, control.StateCompleted,
		control.Change{At: e.clock.Now(), ETag: "abc"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/files/"+tk.ID+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	a := verifyTicket(t, "GET", resp.Header.Get("Location"), nil, e.clock.Now())
	if cc, _ := a.Query("response-cache-control"); cc != "private" {
		t.Fatalf("response-cache-control %q, want private, signed", cc)
	}
}
