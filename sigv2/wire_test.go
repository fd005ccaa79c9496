package sigv2_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/internal/testenv"
	"presign/sigv2"
)

const (
	wireAccessKey = "AKIASIGV2WIRETEST"
	wireSecretKey = "sigv2/wire+secret=key"
)

type creds map[string]string

func (c creds) SecretKey(id string) (string, bool) { s, ok := c[id]; return s, ok }

// v2Server is a minimal S3 endpoint on a real listener that authenticates every request with
// sigv2.Verifier and keeps objects in memory: enough for a client's put, get, ls and delete.
type v2Server struct {
	*httptest.Server
	v sigv2.Verifier

	mu       sync.Mutex
	objs     map[string][]byte
	verified []string // "METHOD path" of each request that verified
	refused  []string // the failures, with the string to sign
}

func newV2Server(t *testing.T) *v2Server {
	s := &v2Server{v: sigv2.Verifier{Credentials: creds{wireAccessKey: wireSecretKey}}, objs: map[string][]byte{}}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *v2Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := s.v.Verify(r, "", time.Now()); err != nil {
		e := err.(*sigv2.Error)
		s.mu.Lock()
		s.refused = append(s.refused, fmt.Sprintf("%s %s: %v (string to sign %q)", r.Method, r.RequestURI, err, e.StringToSign))
		s.mu.Unlock()
		w.WriteHeader(e.Status())
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", e.Code(), e.S3Message())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verified = append(s.verified, r.Method+" "+r.URL.Path)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodPut && key != "":
		b, _ := io.ReadAll(r.Body)
		s.objs[bucket+"/"+key] = b
		sum := md5.Sum(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	case (r.Method == http.MethodGet || r.Method == http.MethodHead) && key != "":
		b, ok := s.objs[bucket+"/"+key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<Error><Code>NoSuchKey</Code></Error>")
			return
		}
		sum := md5.Sum(b)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Write(b)
	case r.Method == http.MethodDelete && key != "":
		delete(s.objs, bucket+"/"+key)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet:
		type content struct {
			Key          string
			LastModified string
			ETag         string
			Size         int
		}
		var list struct {
			XMLName     xml.Name `xml:"ListBucketResult"`
			Name        string
			Prefix      string
			IsTruncated bool
			Contents    []content
		}
		list.Name, list.Prefix = bucket, r.URL.Query().Get("prefix")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range s.objs {
				if !yield(k) {
					return
				}
			}
		}) {
			if name, ok := strings.CutPrefix(k, bucket+"/"); ok && strings.HasPrefix(name, list.Prefix) {
				sum := md5.Sum(s.objs[k])
				list.Contents = append(list.Contents, content{name, time.Now().UTC().Format(time.RFC3339), `"` + hex.EncodeToString(sum[:]) + `"`, len(s.objs[k])})
			}
		}
		xml.NewEncoder(w).Encode(list)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// TestS3cmdOverTheWire runs the s3cmd command with --signature-v2 against a server verifying
// with this package: put, ls, get, signurl fetched with a plain GET, delete. Every request must
// verify.
func TestS3cmdOverTheWire(t *testing.T) {
	bin, err := exec.LookPath("s3cmd")
	if err != nil {
		testenv.Missing(t, "s3cmd is not installed (Debian: s3cmd)")
	}
	s := newV2Server(t)
	host := strings.TrimPrefix(s.URL, "http://")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = %s\nhost_bucket = %s\n"+
		"use_https = False\nsignature_v2 = True\n", wireAccessKey, wireSecretKey, host, host)), 0o600)
	src := filepath.Join(dir, "src.txt")
	os.WriteFile(src, []byte("hello from s3cmd\n"), 0o600)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"-c", cfg, "--no-progress"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("s3cmd %v: %v\n%s\nrefused: %v", args, err, out, s.refused)
		}
		return string(out)
	}
	key := "s3://bucket/dir/f\u00fcr m+e.txt"
	run("put", src, key)
	if out := run("ls", "s3://bucket/dir/"); !strings.Contains(out, "dir/f\u00fcr m+e.txt") {
		t.Fatalf("ls: %s", out)
	}
	dst := filepath.Join(dir, "dst.txt")
	run("get", key, dst)
	if b, _ := os.ReadFile(dst); string(b) != "hello from s3cmd\n" {
		t.Fatalf("get: %q", b)
	}
	u := strings.TrimSpace(run("signurl", key, "+600"))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello from s3cmd\n" {
		t.Fatalf("GET of the signurl %s: %d %s", u, resp.StatusCode, b)
	}
	run("del", key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refused) > 0 || len(s.verified) < 5 {
		t.Fatalf("verified %v, refused %v", s.verified, s.refused)
	}
}
