package main

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// startSink runs a sink over a new directory on a real listener; closed receives each
// connection the server has finished with.
func startSink(t *testing.T) (url, dir string, closed chan struct{}) {
	t.Helper()
	dir = t.TempDir()
	closed = make(chan struct{}, 16)
	ts := httptest.NewUnstartedServer(newSink(dir, true, true))
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, dir, closed
}

func do(t *testing.T, method, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestObjectIsKeptServedAndDeleted(t *testing.T) {
	url, dir, _ := startSink(t)
	// Larger than the copy buffer, and not a multiple of it.
	body := make([]byte, 16*copyBuf+12345)
	rand.NewChaCha8([32]byte{1}).Read(body)
	if resp, msg := do(t, "PUT", url+"/bucket/some/key?X-Amz-Signature=ignored", body); resp.StatusCode != 200 {
		t.Fatalf("PUT: %s %s", resp.Status, msg)
	}
	if resp, got := do(t, "GET", url+"/bucket/some/key", nil); resp.StatusCode != 200 || !bytes.Equal(got, body) {
		t.Fatalf("GET: %s, %d bytes, same as sent: %v", resp.Status, len(got), bytes.Equal(got, body))
	}
	if resp, _ := do(t, "HEAD", url+"/bucket/some/key", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("HEAD: %s, Content-Length %q", resp.Status, resp.Header.Get("Content-Length"))
	}
	if resp, _ := do(t, "DELETE", url+"/bucket/some/key", nil); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if resp, _ := do(t, "GET", url+"/bucket/some/key", nil); resp.StatusCode != 404 {
		t.Fatalf("GET after DELETE: %s", resp.Status)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("left behind: %v", f)
	}
}

func TestKeysAreDistinctAndAPutReplaces(t *testing.T) {
	url, dir, _ := startSink(t)
	for _, p := range []struct{ key, body string }{{"a", "one"}, {"b", "two"}, {"a", "three"}, {"empty", ""}} {
		if resp, msg := do(t, "PUT", url+"/bucket/"+p.key, []byte(p.body)); resp.StatusCode != 200 {
			t.Fatalf("PUT %s: %s %s", p.key, resp.Status, msg)
		}
	}
	for key, want := range map[string]string{"a": "three", "b": "two", "empty": ""} {
		if resp, got := do(t, "GET", url+"/bucket/"+key, nil); resp.StatusCode != 200 || string(got) != want {
			t.Errorf("GET %s: %s %q, want %q", key, resp.Status, got, want)
		}
	}
	if f := files(t, dir); len(f) != 3 {
		t.Errorf("want 3 files, got %v", f)
	}
}

func TestUploadCutShortLeavesNothing(t *testing.T) {
	url, dir, closed := startSink(t)
	c, err := net.Dial("tcp", url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	// 500 of the 1000 bytes announced, then the client is gone.
	req := "PUT /bucket/cut HTTP/1.1\r\nHost: sink\r\nContent-Length: 1000\r\n\r\n" + string(bytes.Repeat([]byte("x"), 500))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-closed // the handler has returned
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("a cut upload left %v", f)
	}
	if resp, _ := do(t, "GET", url+"/bucket/cut", nil); resp.StatusCode != 404 {
		t.Fatalf("GET of the cut upload: %s", resp.Status)
	}
}

func TestPathCannotLeaveTheDirectory(t *testing.T) {
	url, dir, _ := startSink(t)
	c, err := net.Dial("tcp", url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Sent raw: a client would clean the path.
	if _, err := io.WriteString(c, "PUT /../../escaped HTTP/1.1\r\nHost: sink\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %s", resp.Status)
	}
	if f := files(t, dir); len(f) != 1 {
		t.Fatalf("want the object in the directory, got %v", f)
	}
	for _, p := range []string{filepath.Join(dir, "..", "escaped"), filepath.Join(dir, "..", "..", "escaped")} {
		if _, err := os.Stat(p); err == nil {
			t.Fatalf("the object landed at %s", p)
		}
	}
}

func TestOtherMethodsAreRefused(t *testing.T) {
	url, _, _ := startSink(t)
	resp, _ := do(t, "POST", url+"/bucket/key", []byte("x"))
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Fatalf("POST: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
}

func TestBadArgumentsExit2(t *testing.T) {
	for _, args := range [][]string{{"-no-such-flag"}, {"extra"}} {
		var errb bytes.Buffer
		if code := run(args, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}
