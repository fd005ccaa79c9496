package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/client"
)

func TestClientFailuresMapToDocumentedExitCodes(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"wrong password", context.Background(), &client.APIError{Status: 401, Code: "invalid_credentials"}, exitAuth},
		{"expired token", context.Background(), fmt.Errorf("list: %w", &client.APIError{Status: 401, Code: "unauthenticated"}), exitAuth},
		{"disabled account", context.Background(), &client.APIError{Status: 403, Code: "account_disabled"}, exitAuth},
		{"unknown id", context.Background(), &client.APIError{Status: 404, Code: "not_found"}, exitNotFound},
		{"missing local file", context.Background(), &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}, exitNotFound},
		{"quota", context.Background(), &client.APIError{Status: 403, Code: "quota_exceeded"}, exitRefused},
		{"type", context.Background(), &client.APIError{Status: 415, Code: "content_type_refused"}, exitRefused},
		{"share TTL", context.Background(), &client.APIError{Status: 403, Code: "ttl_too_long"}, exitRefused},
		{"server fault", context.Background(), &client.APIError{Status: 500, Code: "internal"}, exitFailure},
		{"store refusal", context.Background(), &client.StorageError{Status: 400, Code: "BadDigest"}, exitFailure},
		{"network", context.Background(), errors.New("dial tcp: connection refused"), exitFailure},
		{"interrupted", cancelled, context.Canceled, exitInterrupted},
		{"interrupted, whatever the error", cancelled, &client.APIError{Status: 404}, exitInterrupted},
	} {
		var ee *exitError
		if err := clientFailure(tc.ctx, tc.err); !errors.As(err, &ee) || ee.code != tc.want || ee.msg == "" {
			t.Errorf("%s: got %v (%#v), want exit %d", tc.name, err, ee, tc.want)
		}
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantPos []string
		wantO   string
	}{
		{[]string{"ID", "-o", "out"}, []string{"ID"}, "out"},
		{[]string{"-o", "out", "ID"}, []string{"ID"}, "out"},
		{[]string{"a", "-o", "out", "b"}, []string{"a", "b"}, "out"},
		{[]string{"a", "--", "-o", "b"}, []string{"a", "-o", "b"}, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o := fs.String("o", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.wantPos) || *o != tc.wantO {
			t.Errorf("%q: positional %q, -o %q, %v", tc.args, pos, *o, err)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var ee *exitError
	if _, err := parseInterspersed(fs, []string{"x", "--nope"}); !errors.As(err, &ee) || ee.code != exitUsage {
		t.Errorf("an unknown flag: %v", err)
	}
}

func TestGetWritesToASafeNameOrInsideADirectory(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ out, name, want string }{
		{"", "report.pdf", "report.pdf"},
		{"", "../../etc/passwd", "passwd"},
		{"", `C:\Users\x\evil.exe`, "evil.exe"},
		{"", "..", "download"},
		{dir, "a.txt", filepath.Join(dir, "a.txt")},
		{filepath.Join(dir, "new.txt"), "a.txt", filepath.Join(dir, "new.txt")},
	} {
		if got, err := targetPath(tc.out, tc.name); err != nil || got != tc.want {
			t.Errorf("targetPath(%q, %q) = %q, %v; want %q", tc.out, tc.name, got, err, tc.want)
		}
	}
}

func TestClientCommandsWithoutALoginExitWith3(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"ls"}, {"upload", "x"}, {"get", "x"}, {"rm", "x"}, {"share", "x"}} {
		m, _, _ := testMain(map[string]string{"PRESIGN_CONFIG_DIR": dir})
		var ee *exitError
		if err := m.Run(context.Background(), args); !errors.As(err, &ee) || ee.code != exitAuth || !strings.Contains(ee.msg, "presign login") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a command without a login wrote %v", ents)
	}
}

func TestHelpListsEveryClientCommand(t *testing.T) {
	m, out, _ := testMain(nil)
	if err := m.Run(context.Background(), []string{"--help"}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "storage", "control", "login", "logout", "upload", "ls", "get", "rm", "share", "version"} {
		if !strings.Contains(out.String(), "presign "+cmd) {
			t.Errorf("--help does not list %s", cmd)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.00 KiB", 1536: "1.50 KiB", 150 << 20: "150 MiB", 2 << 30: "2.00 GiB", 12345678: "11.8 MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestProgressBarsKeepUpWithUpdatesWhileDrawing: the bar's renderer reads the transfer's
// status while updates arrive; neither may wait for the other.
func TestProgressBarsKeepUpWithUpdatesWhileDrawing(t *testing.T) {
	var out lockedBuffer
	ui := barsUI(&out, time.Millisecond)
	tr := ui.Add("upload", "f.bin", 1<<20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(0); i <= 1<<20; i += 64 {
			tr.Update(client.Progress{Name: "f.bin", Done: i, Total: 1 << 20})
		}
		tr.Done()
		ui.Wait()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("updates and drawing are stuck on each other")
	}
	if !strings.Contains(out.String(), "1.00 MiB / 1.00 MiB (100%") {
		t.Fatalf("last drawing: %q", out.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
