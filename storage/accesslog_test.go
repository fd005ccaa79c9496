package storage_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/sigv4"
	"presign/storage"
)

// lockedBuffer is a log sink for a server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

// TestAccessLogOneLinePerRequest: with the access log on, each request gets one line saying
// what it was, how it was authenticated and how it ended; no line carries a signature or a
// secret.
func TestAccessLogOneLinePerRequest(t *testing.T) {
	var buf lockedBuffer
	n := startFormNode(t, storage.Config{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, nil)
	n.signedSend(t, http.MethodPut, "/"+formBucket+"/log/a.txt", nil, []byte("12345"))
	signed := n.presign(t, http.MethodGet, "/"+formBucket+"/log/a.txt", time.Hour)
	send(t, http.MethodGet, signed, nil, nil)
	v2 := n.v2URL(t, http.MethodGet, "/"+formBucket+"/log/missing", nil, time.Now().Add(time.Hour))
	send(t, http.MethodGet, v2, nil, nil)
	send(t, http.MethodGet, n.URL+"/"+formBucket+"/log/a.txt", nil, nil)

	lines := buf.lines(t)
	want := []struct {
		op, auth, code string
		status         float64
		in, out        float64
	}{
		{"PutObject", "v4-header", "", 200, 5, 0},
		{"GetObject", "v4-query", "", 200, 0, 5},
		{"GetObject", "v2-query", "NoSuchKey", 404, 0, -1},
		{"GetObject", "anonymous", "AccessDenied", 403, 0, -1},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d request lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l["op"] != w.op || l["auth"] != w.auth || l["code"] != w.code || l["status"] != w.status || l["bytes_in"] != w.in ||
			(w.out >= 0 && l["bytes_out"] != w.out) || l["bucket"] != formBucket || !strings.HasPrefix(l["key"].(string), "log/") || l["request_id"] == "" {
			t.Errorf("line %d: %v, want %+v", i, l, w)
		}
		if l["level"] != "INFO" {
			t.Errorf("line %d at level %v", i, l["level"])
		}
	}
	pu, _ := url.Parse(signed)
	vu, _ := url.Parse(v2)
	all := buf.b.String()
	for _, secret := range []string{formSecretKey, pu.Query().Get("X-Amz-Signature"), vu.Query().Get("Signature"), "Signature="} {
		if strings.Contains(all, secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
}

// TestAccessLogOffByDefault: at the default info level and without AccessLog, requests log
// nothing; at debug level they do.
func TestAccessLogOffByDefault(t *testing.T) {
	var quiet, debug lockedBuffer
	q := startFormNode(t, storage.Config{Logger: slog.New(slog.NewJSONHandler(&quiet, nil))}, nil)
	d := startFormNode(t, storage.Config{Logger: slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))}, nil)
	q.signedSend(t, http.MethodPut, "/"+formBucket+"/x", nil, []byte("x"))
	d.signedSend(t, http.MethodPut, "/"+formBucket+"/x", nil, []byte("x"))
	if l := quiet.lines(t); len(l) != 0 {
		t.Fatalf("access lines at info level: %v", l)
	}
	if l := debug.lines(t); len(l) != 1 || l[0]["level"] != "DEBUG" || l[0]["op"] != "PutObject" {
		t.Fatalf("access lines at debug level: %v", l)
	}
}

// TestAccessLogNamesHowARefusedRequestSigned: a request whose signature fails is logged with
// the kind of signature it carried, not as anonymous: those are the lines an operator reads to
// find out why a tool is refused.
func TestAccessLogNamesHowARefusedRequestSigned(t *testing.T) {
	var buf lockedBuffer
	n := startFormNode(t, storage.Config{AccessLog: true, Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, nil)
	path := "/" + formBucket + "/log/a.txt"
	// Each request is signed for path and sent for another key, or carries a signature changed
	// after signing.
	v4, _ := http.NewRequest(http.MethodGet, n.URL+path, nil)
	if _, err := n.Signer.SignRequest(v4, sigv4.EmptySHA256, time.Now()); err != nil {
		t.Fatal(err)
	}
	send(t, http.MethodGet, n.URL+path+"x", v4.Header, nil)
	pu, err := url.Parse(n.presign(t, http.MethodGet, path, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	q.Set("X-Amz-Signature", strings.Repeat("0", 64))
	pu.RawQuery = q.Encode()
	send(t, http.MethodGet, pu.String(), nil, nil)
	v2, _ := http.NewRequest(http.MethodGet, n.URL+path, nil)
	if err := v2Signer.SignRequest(v2, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	send(t, http.MethodGet, n.URL+path+"x", v2.Header, nil)
	send(t, http.MethodGet, strings.Replace(n.v2URL(t, http.MethodGet, path, nil, time.Now().Add(time.Hour)), "Signature=", "Signature=A", 1), nil, nil)
	var v4form []formField
	for name, value := range n.signForm(t, "log/form.txt", 0, 100, nil) {
		if name == "x-amz-signature" {
			value = strings.Repeat("0", len(value))
		}
		v4form = append(v4form, formField{name, value})
	}
	postForm(t, n.URL+"/"+formBucket, v4form, "f.txt", []byte("x"), nil)
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"` + formBucket + `"},["starts-with","$key",""]]}`))
	postForm(t, n.URL+"/"+formBucket, []formField{{"key", "log/form.txt"}, {"AWSAccessKeyId", formAccessKey}, {"policy", policy},
		{"signature", v2Signer.SignPolicy(policy + "x")}}, "f.txt", []byte("x"), nil)

	lines := buf.lines(t)
	want := []string{"v4-header", "v4-query", "v2-header", "v2-query", "post-v4", "post-v2"}
	if len(lines) != len(want) {
		t.Fatalf("%d request lines, want %d: %v", len(lines), len(want), lines)
	}
	for i, auth := range want {
		if l := lines[i]; l["auth"] != auth || l["status"] != float64(http.StatusForbidden) || l["code"] != "SignatureDoesNotMatch" {
			t.Errorf("line %d: %v, want auth %s, 403 SignatureDoesNotMatch", i, l, auth)
		}
	}
}
