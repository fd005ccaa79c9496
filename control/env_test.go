package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"presign/control"
	"presign/control/bucket"
	"presign/control/sqlite"
	"presign/internal/testenv/testclock"
	"presign/sigv4"
)

// These tests run the control plane's API over real HTTP on a real SQLite store. The object
// store of newEnv is a real S3 client pointed at a closed port, for the tests that need no
// bytes in storage; newNodeEnv (node_test.go) puts a real storage node behind it for those
// that do. Only these tests import the storage node: the control package itself never does.

const (
	adminPassword = "admin-password-1"
	eventSecret   = "event-secret-0123456789"
	testBucket    = "files"
)

var testCreds = sigv4.Credentials{AccessKeyID: "PSTESTKEY", SecretAccessKey: "test-secret"}

type env struct {
	t     testing.TB
	svc   *control.Service
	store control.Store
	srv   *httptest.Server
	clock *testclock.Clock
	admin string // the admin's session token
}

// newEnv starts the API on a fresh database; mut may change the configuration first.
func newEnv(t testing.TB, mut func(*control.Config)) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	objects, err := bucket.New(bucket.Config{Endpoint: "http://127.0.0.1:1", Bucket: testBucket,
		AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	clk := testclock.New(time.Now().UTC().Truncate(time.Second))
	cfg := control.Config{Store: store, Objects: objects, Bucket: testBucket, PublicStorageURL: "http://storage.test:9000",
		Credentials: testCreds, EventSecrets: [][]byte{[]byte(eventSecret)}, Now: clk.Now}
	if mut != nil {
		mut(&cfg)
	}
	svc, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if created, err := svc.EnsureAdmin(ctx, adminPassword); err != nil || !created {
		t.Fatalf("EnsureAdmin: %v, %v", created, err)
	}
	srv := httptest.NewServer(svc.Handler(nil))
	t.Cleanup(srv.Close)
	e := &env{t: t, svc: svc, store: store, srv: srv, clock: clk}
	e.admin = e.login("admin", adminPassword)
	return e
}

// call sends a JSON request with the token (none when empty) and decodes the answer into out
// (when not nil). It returns the status and the error code of an error answer.
func (e *env) call(method, path, token string, body, out any) (int, string) {
	e.t.Helper()
	st, ae := e.send(method, path, token, body, out)
	return st, ae.Error
}

// refusal is call for a request expected to be refused: it returns the status, the error code
// and the message of the answer.
func (e *env) refusal(method, path, token string, body any) (int, string, string) {
	e.t.Helper()
	st, ae := e.send(method, path, token, body, nil)
	return st, ae.Error, ae.Message
}

// apiError is the body of every error answer.
type apiError struct{ Error, Message string }

// send is call returning the whole error answer (zero for a success).
func (e *env) send(method, path, token string, body, out any) (int, apiError) {
	e.t.Helper()
	var reqBody []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		reqBody = b
	}
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(reqBody))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkAgainstSpec(e.t, req, reqBody, resp, raw)
	if resp.StatusCode >= 400 {
		var ae apiError
		if err := json.Unmarshal(raw, &ae); err != nil || ae.Error == "" || ae.Message == "" {
			e.t.Fatalf("%s %s: %d answer is not {error, message}: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, ae
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, apiError{}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// must is call that expects the status.
func (e *env) must(want int, method, path, token string, body, out any) {
	e.t.Helper()
	if got, code := e.call(method, path, token, body, out); got != want {
		e.t.Fatalf("%s %s: got %d %s, want %d", method, path, got, code, want)
	}
}

func (e *env) login(user, password string) string {
	e.t.Helper()
	var s control.Session
	e.must(200, "POST", "/v1/login", "", map[string]string{"username": user, "password": password}, &s)
	return s.Token
}

// user creates a user with the policy override and returns its id and a session token.
func (e *env) user(name string, pol *control.PolicyOverride) (string, string) {
	e.t.Helper()
	var u control.UserView
	e.must(201, "POST", "/v1/users", e.admin, control.NewUser{Username: name, Password: name + "-password", Policy: pol}, &u)
	return u.ID, e.login(name, name+"-password")
}

func ticketReq(name string, size int64, ct string) control.TicketRequest {
	return control.TicketRequest{Filename: name, Size: &size, ContentType: ct}
}

func ptr[T any](v T) *T { return &v }
