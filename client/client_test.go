package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestRetryDelayBacksOffWithJitterUpToTheCap(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}.withDefaults()
	for retry, full := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		full *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.delay(retry, 0)
			if d < full/2 || d > full {
				t.Fatalf("retry %d: delay %v outside [%v, %v]", retry, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("retry %d: only %d distinct delays in 200: not jittered", retry, len(seen))
		}
	}
	if d := p.delay(0, time.Second); d != time.Second {
		t.Errorf("a server's Retry-After of 1s gave %v", d)
	}
	if d := p.delay(0, time.Hour); d != 2*time.Second {
		t.Errorf("a Retry-After above the cap gave %v", d)
	}
	if d := p.delay(1000, 0); d < time.Second || d > 2*time.Second {
		t.Errorf("a very late retry waited %v", d)
	}
}

func TestTransientErrorsAreNetworkFailuresAnd5xxOnly(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&StorageError{Status: 500, Code: "InternalError"}, true},
		{&StorageError{Status: 503, Code: "SlowDown"}, true},
		{&StorageError{Status: 501}, false},
		{&StorageError{Status: 400, Code: "BadDigest"}, false},
		{&StorageError{Status: 403, Code: "AccessDenied"}, false},
		{&APIError{Status: 502, Code: "storage_unavailable"}, true},
		{&APIError{Status: 409, Code: "not_uploaded"}, false},
		{&APIError{Status: 429, Code: "rate_limited"}, false},
		{fmt.Errorf("part 3: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{fmt.Errorf("upload: %w", syscall.EPIPE), true},
		{fmt.Errorf("download: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("upload: %w", errStalled), true},
		{errors.New(`Put "http://x": net/http: HTTP/1.x transport connection broken: write: broken pipe`), true},
		{&localError{os.ErrPermission}, false},
		{fmt.Errorf("upload: %w", &localError{io.ErrUnexpectedEOF}), false},
		{context.Canceled, false},
		{errors.New("some other failure"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestResumeStateIsPrivateAndKeyedByServerAndContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uploads")
	c1, _ := New("http://a.example:8080", nil)
	c2, _ := New("http://b.example:8080", nil)
	mk := func(c *Client, key string) *upload {
		return &upload{c: c, name: "f.bin", size: 100, id: "up-" + key, plan: plan{PartSize: 50, PartCount: 2},
			o: UploadOptions{StateDir: dir, ResumeKey: key}}
	}
	u := mk(c1, "k1")
	if err := u.saveState(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(u.statePath())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", st, err)
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v", dst.Mode())
	}
	if s := mk(c1, "k1").loadState(); s == nil || s.UploadID != "up-k1" || s.Plan != u.plan {
		t.Fatalf("reloaded %+v", s)
	}
	for _, other := range []*upload{mk(c1, "k2"), mk(c2, "k1")} {
		if s := other.loadState(); s != nil {
			t.Errorf("another key or server found %+v", s)
		}
	}
	bigger := mk(c1, "k1")
	bigger.size = 101
	if s := bigger.loadState(); s != nil {
		t.Errorf("content of another size found %+v", s)
	}
	u.dropState()
	if s := mk(c1, "k1").loadState(); s != nil {
		t.Errorf("dropped state found %+v", s)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left: %v", ents)
	}
}

func TestEtagMatchesOnlyTheLocalMD5(t *testing.T) {
	sum := []byte{0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e}
	for _, tc := range []struct {
		etag string
		sum  []byte
		want bool
	}{
		{"d41d8cd98f00b204e9800998ecf8427e", sum, true},
		{"D41D8CD98F00B204E9800998ECF8427E", sum, true},
		{"d41d8cd98f00b204e9800998ecf8427f", sum, false},
		{"opaque-etag-of-an-encrypting-store", sum, true},
		{"d41d8cd98f00b204e9800998ecf8427f", nil, true},
	} {
		if got := etagMatches(tc.etag, tc.sum); got != tc.want {
			t.Errorf("etagMatches(%q) = %v, want %v", tc.etag, got, tc.want)
		}
	}
}

func TestNewRefusesWhatIsNotAControlPlaneURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://", "http://x/?a=b", "http://x/#f"} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New("https://files.example.com/presign/", nil)
	if err != nil || c.BaseURL() != "https://files.example.com/presign" {
		t.Fatalf("New with a prefix: %v %v", c, err)
	}
}
