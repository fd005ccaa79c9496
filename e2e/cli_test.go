package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"presign/client"
)

// These tests run the client commands of the presign binary as real processes against
// presign serve, each with a config dir of its own.

// cli runs client commands with one config dir.
type cli struct {
	t   *testing.T
	dir string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, dir: filepath.Join(t.TempDir(), "config")}
}

func (c *cli) command(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "PRESIGN_CONFIG_DIR="+c.dir, "PRESIGN_TOKEN=", "PRESIGN_URL=")
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// run runs one command to its end and returns its stdout, stderr and exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := c.command(stdin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		c.t.Fatalf("presign %v: %v", args, err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

// must runs a command that must succeed and returns its stdout.
func (c *cli) must(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("presign %v: exit %d\n%s", args, code, errOut)
	}
	return out
}

func (c *cli) login(p *process, user string) {
	c.t.Helper()
	c.must(user+"-password\n", "login", p.url("control plane"), "--username", user, "--password-stdin")
}

// background is a client command running while the test watches it.
type background struct {
	cmd          *exec.Cmd
	mu           sync.Mutex
	stdout, errs bytes.Buffer
	done         chan struct{}
}

func (c *cli) start(args ...string) *background {
	c.t.Helper()
	b := &background{cmd: c.command("", args...), done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = lockedWriter{&b.mu, &b.stdout}, lockedWriter{&b.mu, &b.errs}
	if err := b.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	c.t.Cleanup(func() { b.cmd.Process.Kill(); <-b.done })
	return b
}

// wait returns the exit code, stdout and stderr once the command ends.
func (b *background) wait(t *testing.T) (int, string, string) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the command did not end")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd.ProcessState.ExitCode(), b.stdout.String(), b.errs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCLILoginUploadListGetShareRemoveLogout(t *testing.T) {
	p := serveProcess(t)
	adminAPI(t, p).newUser("uli", nil)
	c := newCLI(t)
	c.login(p, "uli")
	st, err := os.Stat(filepath.Join(c.dir, "config.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	if st, err := os.Stat(c.dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("config dir: %v %v", st, err)
	}
	var cfg struct{ URL, Token string }
	raw, _ := os.ReadFile(filepath.Join(c.dir, "config.json"))
	if json.Unmarshal(raw, &cfg); cfg.URL != p.url("control plane") || !strings.HasPrefix(cfg.Token, "pss_") {
		t.Fatalf("config %s", raw)
	}

	small, smallSum := randomFile(t, "notes.txt", 1000)
	big, bigSum := randomFile(t, "video.bin", 12<<20)
	empty := filepath.Join(t.TempDir(), "empty.txt")
	os.WriteFile(empty, nil, 0o644)
	out, errOut, code := c.run("", "upload", small, big, empty)
	ids := strings.Fields(out)
	if code != 0 || len(ids) != 3 || !strings.Contains(errOut, "upload video.bin: done") {
		t.Fatalf("upload: exit %d, stdout %q\n%s", code, out, errOut)
	}

	lines := strings.Split(strings.TrimSpace(c.must("", "ls")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], ids[2]+"\t0\t") || !strings.HasPrefix(lines[1], ids[1]+"\t12582912\t") ||
		!strings.HasSuffix(lines[1], "\tvideo.bin") || !strings.HasPrefix(lines[2], ids[0]+"\t1000\t") {
		t.Fatalf("ls:\n%s", strings.Join(lines, "\n"))
	}

	dst := filepath.Join(t.TempDir(), "copy.bin")
	c.must("", "get", ids[1], "-o", dst)
	if fileSHA256(t, dst) != bigSum {
		t.Fatal("get: bytes differ")
	}
	if _, errOut, code := c.run("", "get", ids[1], "-o", dst); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("get over an existing file: exit %d %s", code, errOut)
	}
	c.must("", "get", ids[1], "-o", dst, "--force")
	dir := t.TempDir()
	c.must("", "get", ids[0], "-o", dir)
	if fileSHA256(t, filepath.Join(dir, "notes.txt")) != smallSum {
		t.Fatal("get into a directory: bytes differ")
	}
	if got := c.must("", "get", ids[0], "-o", "-"); len(got) != 1000 || string(must(os.ReadFile(small))) != got {
		t.Fatal("get -o -: bytes differ")
	}

	link := strings.TrimSpace(c.must("", "share", ids[0], "--ttl", "10m"))
	if !strings.Contains(link, "X-Amz-Expires=600") {
		t.Fatalf("share URL %s", link)
	}
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(must(os.ReadFile(small))) {
		t.Fatalf("shared URL: %d", resp.StatusCode)
	}

	if got := c.must("", "get", ids[2], "-o", "-"); got != "" {
		t.Fatalf("an empty file downloads as %q", got)
	}
	c.must("", "rm", ids[0], ids[2])
	if lines := strings.Fields(c.must("", "ls")); len(lines) != 4 || lines[0] != ids[1] {
		t.Fatalf("ls after rm: %v", lines)
	}
	c.must("", "logout")
	if _, _, code := c.run("", "ls"); code != 3 {
		t.Fatalf("ls after logout: exit %d", code)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestCLIExitCodesTellScriptsWhatWentWrong(t *testing.T) {
	p := serveProcess(t)
	adminAPI(t, p).newUser("vera", map[string]any{"max_object_bytes": 1500})
	cp := p.url("control plane")
	fresh := newCLI(t)
	c := newCLI(t)
	c.login(p, "vera")
	small, _ := randomFile(t, "ok.txt", 100)
	tooBig, _ := randomFile(t, "big.txt", 2000)
	id := strings.TrimSpace(c.must("", "upload", small))

	for _, tc := range []struct {
		name  string
		c     *cli
		stdin string
		args  []string
		want  int
	}{
		{"wrong password", fresh, "nope-nope\n", []string{"login", cp, "--username", "vera", "--password-stdin"}, 3},
		{"unknown user", fresh, "whatever1\n", []string{"login", cp, "--username", "nobody", "--password-stdin"}, 3},
		{"login without a username", fresh, "x\n", []string{"login", cp, "--password-stdin"}, 2},
		{"login without a URL", fresh, "x\n", []string{"login", "--username", "vera", "--password-stdin"}, 2},
		{"login without a terminal or --password-stdin", fresh, "", []string{"login", cp, "--username", "vera"}, 2},
		{"control plane unreachable", fresh, "vera-password\n", []string{"login", "http://127.0.0.1:1", "--username", "vera", "--password-stdin"}, 1},
		{"ls when not logged in", fresh, "", []string{"ls"}, 3},
		{"upload when not logged in", fresh, "", []string{"upload", small}, 3},
		{"get when not logged in", fresh, "", []string{"get", id}, 3},
		{"missing local file", c, "", []string{"upload", filepath.Join(t.TempDir(), "nothing.txt")}, 4},
		{"get an unknown id", c, "", []string{"get", "01nosuchfile0000000000000", "-o", filepath.Join(t.TempDir(), "x")}, 4},
		{"rm an unknown id", c, "", []string{"rm", "01nosuchfile0000000000000"}, 4},
		{"share an unknown id", c, "", []string{"share", "01nosuchfile0000000000000"}, 4},
		{"upload above max_object_bytes", c, "", []string{"upload", tooBig}, 5},
		{"share longer than the policy's URL lifetime", c, "", []string{"share", id, "--ttl", "2h"}, 5},
		{"unknown command", c, "", []string{"uplaod", small}, 2},
		{"upload without files", c, "", []string{"upload"}, 2},
		{"bad flag", c, "", []string{"share", id, "--ttl", "soon"}, 2},
		{"get with two ids", c, "", []string{"get", id, id}, 2},
	} {
		_, errOut, code := tc.c.run(tc.stdin, tc.args...)
		if code != tc.want || (code != 0 && !strings.Contains(errOut, "presign")) && code != 2 {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.want, errOut)
		}
	}

	// A revoked session is "not logged in" too.
	raw, _ := os.ReadFile(filepath.Join(c.dir, "config.json"))
	var cfg struct{ Token string }
	json.Unmarshal(raw, &cfg)
	(&api{t: t, base: cp}).as(cfg.Token).must(204, "POST", "/v1/logout", nil, nil)
	if _, errOut, code := c.run("", "ls"); code != 3 || !strings.Contains(errOut, "presign login") {
		t.Errorf("revoked session: exit %d %s", code, errOut)
	}
}

func TestCLIUploadInterruptedBySIGINTThenSIGKILLResumesSendingOnlyMissingParts(t *testing.T) {
	p, px := serveBehindProxy(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	sdk := sdkUser(t, p, "walt", nil)
	c := newCLI(t)
	c.login(p, "walt")
	path, sum := randomFile(t, "film.bin", 80<<20) // 16 parts
	px.set(func(px *faultProxy) { px.upRate = 4 << 20 })
	stored := func() int {
		n := 0
		for _, r := range px.requests(false) {
			if r.Part > 0 && r.Status == 200 {
				n++
			}
		}
		return n
	}

	// 1: Ctrl-C after a few parts.
	run := c.start("upload", path)
	waitFor(t, "4 parts stored", func() bool { return stored() >= 4 })
	run.cmd.Process.Signal(syscall.SIGINT)
	code, out, errOut := run.wait(t)
	if code != 130 || out != "" || !strings.Contains(errOut, "run the same command again to resume") {
		t.Fatalf("after SIGINT: exit %d, stdout %q\n%s", code, out, errOut)
	}
	states, _ := filepath.Glob(filepath.Join(c.dir, "uploads", "*.json"))
	if len(states) != 1 {
		t.Fatalf("resume state after SIGINT: %v", states)
	}
	var state struct {
		UploadID string `json:"upload_id"`
	}
	json.Unmarshal(must(os.ReadFile(states[0])), &state)

	// 2: resumed, then killed outright.
	px.requests(true)
	run = c.start("upload", path)
	waitFor(t, "4 more parts stored", func() bool { return stored() >= 4 })
	run.cmd.Process.Kill()
	run.wait(t)
	time.Sleep(300 * time.Millisecond) // a part whose last byte was sent may still be committing
	parts, err := sdk.StoredParts(t.Context(), state.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	var have []int
	for _, pt := range parts {
		have = append(have, pt.Number)
	}
	if len(have) < 8 || len(have) >= 16 {
		t.Fatalf("stored after two interruptions: %v", have)
	}

	// 3: runs to the end, sending exactly the parts the store lacks.
	px.set(func(px *faultProxy) { px.upRate = 0 })
	px.requests(true)
	out, errOut, code = c.run("", "upload", path)
	if code != 0 || strings.TrimSpace(out) != state.UploadID {
		t.Fatalf("third run: exit %d, stdout %q (upload %s)\n%s", code, out, state.UploadID, errOut)
	}
	if want := "resuming upload " + state.UploadID + ": " + strconv.Itoa(len(have)) + " of 16 parts already in the store"; !strings.Contains(errOut, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	sent := partPUTs(px.requests(false))
	slices.Sort(sent)
	if !slices.Equal(sent, missing(16, have)) {
		t.Fatalf("third run sent parts %v; the store had %v", sent, have)
	}
	if states, _ := filepath.Glob(filepath.Join(c.dir, "uploads", "*.json")); len(states) != 0 {
		t.Fatalf("resume state left after completion: %v", states)
	}
	back := filepath.Join(t.TempDir(), "back.bin")
	if _, err := sdk.DownloadFile(context.Background(), state.UploadID, back, nil); err != nil || fileSHA256(t, back) != sum {
		t.Fatalf("download: %v", err)
	}
}

func TestCLIGetInterruptedResumesWithRange(t *testing.T) {
	p, px := serveBehindProxy(t)
	sdk := sdkUser(t, p, "xena", nil)
	c := newCLI(t)
	c.login(p, "xena")
	path, sum := randomFile(t, "data.tar", 40<<20)
	f, err := sdk.UploadFile(t.Context(), path, &client.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "data.tar")
	partial := client.PartialPath(dst, f.ID)
	px.set(func(px *faultProxy) { px.downRate = 8 << 20 })
	run := c.start("get", f.ID, "-o", dst)
	waitFor(t, "10 MiB downloaded", func() bool { st, err := os.Stat(partial); return err == nil && st.Size() >= 10<<20 })
	run.cmd.Process.Signal(syscall.SIGINT)
	if code, _, errOut := run.wait(t); code != 130 || !strings.Contains(errOut, "resume") {
		t.Fatalf("after SIGINT: exit %d\n%s", code, errOut)
	}
	st, err := os.Stat(partial)
	if err != nil {
		t.Fatal(err)
	}
	px.set(func(px *faultProxy) { px.downRate = 0 })
	px.requests(true)
	c.must("", "get", f.ID, "-o", dst)
	reqs := px.requests(false)
	if len(reqs) != 1 || reqs[0].Header.Get("Range") != "bytes="+strconv.FormatInt(st.Size(), 10)+"-" {
		t.Fatalf("resumed get: %d requests, first Range %q; partial had %d bytes", len(reqs), reqs[0].Header.Get("Range"), st.Size())
	}
	if fileSHA256(t, dst) != sum {
		t.Fatal("bytes differ")
	}
}
