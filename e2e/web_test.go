package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/internal/testenv/browser"
)

// webBrowserDir holds the Node driver of the page test and its playwright-core install.
const webBrowserDir = "testdata/browser"

// requireWebBrowser returns the driver's directory, or ends the test when the browser is missing.
func requireWebBrowser(t *testing.T) string {
	t.Helper()
	return browser.Require(t, webBrowserDir)
}

// tappedRequest is one request that reached the control plane through controlTap.
type tappedRequest struct {
	Method, Path, Query string
	Body                int
	Bearer              bool
	Accept              string
}

// controlTap is a reverse proxy in front of the control plane that records every request and
// the size of its body. The browser loads the page through it, so everything the page sends to
// the control plane passes here.
type controlTap struct {
	mu   sync.Mutex
	reqs []tappedRequest
}

func newControlTap(t *testing.T, ln net.Listener, target string) *controlTap {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tap := &controlTap{}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A reload cuts requests in flight; the page's own view of that is what the test checks.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The whole body is read here, whatever the control plane would do with it.
		body, _ := io.ReadAll(r.Body)
		tap.mu.Lock()
		tap.reqs = append(tap.reqs, tappedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: len(body),
			Bearer: strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "), Accept: r.Header.Get("Accept")})
		tap.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return tap
}

func (c *controlTap) all() []tappedRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reqs)
}

// count is the number of requests with the method whose path matches match.
func (c *controlTap) count(method string, match func(path string) bool) int {
	n := 0
	for _, r := range c.all() {
		if r.Method == method && match(r.Path) {
			n++
		}
	}
	return n
}

// webRun is what the driver saw (e2e/testdata/browser/web.js).
type webRun struct {
	Error      string
	Console    []string
	PageErrors []string
	Storage    []struct {
		Method  string
		Part    int
		Outcome any
		At      int64
	}
	Whoami string
	Token  string
	Tabs   []struct {
		ID, Tag, Role, Outline string
	}
	Progress []struct {
		Value, Max    float64
		State, Status string
	}
	BarName           string
	PausedAt          int64
	PausedValue       float64
	PausedValueLater  float64
	PausedStatus      string
	ResumedAt         int64
	FinalStatus       string
	FinalState        string
	Row               []string
	Injected          int
	DownloadName      string
	DownloadFailure   *string
	DialogText        string
	RowsAfterEscape   int
	FocusAfterEscape  string
	EmptyShown        bool
	Announced         []string
	TokenAfterSignOut *string
	StoredAtResume    []int
	BeforeUnload      []string
	Rows              int
	SmallState        string
	SmallRow          []string
	Drop              struct {
		EnterCancelled, DraggingOnEnter, OverCancelled, DraggingAfterDrop bool
	}
	DropState         string
	DropRow           []string
	DropAnnounced     []string
	FailureScreenshot string
}

// partsStored are the part numbers the page PUT with a 200 answer, before or after t (ms).
func (w *webRun) partsStored(before bool, t int64) []int {
	var out []int
	for _, s := range w.Storage {
		if s.Method == http.MethodPut && s.Part > 0 && s.Outcome == float64(200) && (s.At < t) == before {
			out = append(out, s.Part)
		}
	}
	slices.Sort(out)
	return out
}

// webSetup is presign serve with a user, seen by the browser through a controlTap, and a
// 30 MiB file to upload (six 5 MiB parts: the threshold is lowered to 8 MiB).
type webSetup struct {
	p         *process
	tap       *controlTap
	pageURL   string
	user      *api
	data      []byte
	filePath  string
	artifacts string // where screenshots go (see webArtifacts)
}

// webArtifacts is the directory the browser tests' screenshots go to: $PRESIGN_ARTIFACTS,
// which .ci/run sets to artifacts/ in the checkout so that CI keeps them, or else a temporary
// directory removed after the test. It must be absolute: go test runs in the package's
// directory, so a relative one would not be where whoever set it looks.
func webArtifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PRESIGN_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		t.Fatalf("PRESIGN_ARTIFACTS=%q is not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freshArtifact is the path of a file named name in the artifacts directory, with any file
// left there by an earlier run removed, so that its existence proves this run wrote it.
func (s *webSetup) freshArtifact(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(s.artifacts, name)
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return path
}

const (
	webFileSize = 30 << 20
	webUser     = "webuser"
)

// newWebSetup starts presign serve with serveArgs besides the page's (another object store's
// flags).
func newWebSetup(t *testing.T, fileName string, serveArgs ...string) *webSetup {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &webSetup{pageURL: "http://" + ln.Addr().String(), artifacts: webArtifacts(t)}
	s.p = serveProcess(t, append([]string{"--cors-origin", s.pageURL, "--multipart-threshold", "8MiB", "--part-size", "5MiB"}, serveArgs...)...)
	s.tap = newControlTap(t, ln, s.p.url("control plane"))
	s.user, _ = adminAPI(t, s.p).newUser(webUser, nil)
	s.data = make([]byte, webFileSize)
	rand.NewChaCha8([32]byte{'w', 'e', 'b'}).Read(s.data)
	s.filePath = filepath.Join(t.TempDir(), fileName)
	if err := os.WriteFile(s.filePath, s.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// drive runs a scenario of the driver (e2e/testdata/browser/web.js) and returns what it saw.
func (s *webSetup) drive(t *testing.T, scenario, fileName string, extra map[string]any) *webRun {
	t.Helper()
	dir := requireWebBrowser(t)
	failureShot := s.freshArtifact(t, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-failure.png")
	cfg := map[string]any{"scenario": scenario, "pageURL": s.pageURL + "/", "userDataDir": t.TempDir(),
		"username": webUser, "password": webUser + "-password", "filePath": s.filePath, "fileName": fileName,
		"failureScreenshotPath": failureShot}
	for k, v := range extra {
		cfg[k] = v
	}
	arg, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "web.js", string(arg))
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var run webRun
	if err := json.Unmarshal(out, &run); err != nil || runErr != nil || run.Error != "" {
		t.Fatalf("driver: %v; output %s (%v)\n%s\nscreenshot of the page when it failed: %q\ncontrol plane requests: %+v\nserve log:\n%s",
			runErr, out, err, stderr.String(), run.FailureScreenshot, s.tap.all(), s.p.logs())
	}
	return &run
}

// checkResumeSentOnlyMissingParts: the store held some parts, not all, when the page resumed
// (a part whose request the pause or reload cut may still have arrived whole, so the store's
// answer is the reference); after resumeAt the page sent none of those, and together they are
// parts 1..6.
func (w *webRun) checkResumeSentOnlyMissingParts(t *testing.T, resumeAt int64) {
	t.Helper()
	held := w.StoredAtResume
	after := w.partsStored(false, resumeAt)
	t.Logf("parts the store held on resuming %v; stored after %v; seen stored before %v", held, after, w.partsStored(true, resumeAt))
	if len(held) == 0 || len(held) >= 6 {
		t.Fatalf("the store held parts %v on resuming: want some, not all", held)
	}
	for _, n := range w.partsStored(true, resumeAt) {
		if !slices.Contains(held, n) {
			t.Errorf("part %d was stored before resuming but the store did not list it (%v)", n, held)
		}
	}
	for _, s := range w.Storage {
		if s.Method == http.MethodPut && s.Part > 0 && s.At >= resumeAt && slices.Contains(held, s.Part) {
			t.Errorf("part %d was sent again after resuming (the store held %v)", s.Part, held)
		}
	}
	all := slices.Concat(held, after)
	slices.Sort(all)
	if !slices.Equal(slices.Compact(all), []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("parts held %v and stored after resuming %v: want 1..6 together", held, after)
	}
}

// TestWebPageUploadsStraightToStorageWithPauseAndResume: in headless Chromium, a person signs
// in on the control plane's page, reaches the drop zone with the keyboard, uploads a 30 MiB
// file (multipart: six 5 MiB parts, four at a time) with a live progress bar, pauses it
// halfway and resumes it (only the parts the store lacks are sent), sees it listed as
// completed, downloads the same bytes, deletes it after a confirmation, and signs out. The
// control plane, watched by a proxy the page is loaded through, never receives more than a
// few KiB in any request body, and never a token in a URL.
func TestWebPageUploadsStraightToStorageWithPauseAndResume(t *testing.T) {
	requireWebBrowser(t)
	const fileName = `<img src=x onerror=alert(1)> Reise – "30 MiB" ü.bin`
	const size = webFileSize
	s := newWebSetup(t, fileName)
	tap, user, data := s.tap, s.user, s.data
	screenshot := s.freshArtifact(t, "web-after-upload.png")
	t.Logf("screenshot of the page after the upload: %s", screenshot)
	downloaded := filepath.Join(t.TempDir(), "downloaded.bin")
	run := s.drive(t, "tour", fileName, map[string]any{"screenshotPath": screenshot, "downloadPath": downloaded})

	t.Run("signs in and keeps the token out of URLs", func(t *testing.T) {
		if run.Whoami != "webuser" || run.Token == "" {
			t.Errorf("signed in as %q, token kept: %v", run.Whoami, run.Token != "")
		}
		for _, r := range tap.all() {
			if run.Token != "" && strings.Contains(r.Path+"?"+r.Query, run.Token) {
				t.Errorf("%s %s?%s carries the token", r.Method, r.Path, r.Query)
			}
			if strings.HasPrefix(r.Path, "/v1/") && r.Path != "/v1/login" && !r.Bearer {
				t.Errorf("%s %s without a bearer token", r.Method, r.Path)
			}
		}
		if run.TokenAfterSignOut != nil {
			t.Errorf("the session outlived sign-out: %q", *run.TokenAfterSignOut)
		}
		if n := tap.count("POST", func(p string) bool { return p == "/v1/logout" }); n != 1 {
			t.Errorf("sign-out sent %d logouts", n)
		}
	})

	t.Run("the drop zone is reached and opened with the keyboard", func(t *testing.T) {
		if len(run.Tabs) == 0 {
			t.Fatal("no Tab presses recorded")
		}
		last := run.Tabs[len(run.Tabs)-1]
		if last.ID != "drop-zone" || last.Role != "button" || strings.HasPrefix(last.Outline, "none") || len(run.Tabs) > 2 {
			t.Errorf("Tab stops %+v: want the drop zone (a focusable button with a visible outline) within two presses", run.Tabs)
		}
	})

	t.Run("progress is live and the upload pauses and resumes", func(t *testing.T) {
		live := slices.ContainsFunc(run.Progress, func(s struct {
			Value, Max    float64
			State, Status string
		}) bool {
			return s.State == "uploading" && s.Value > 0 && s.Value < s.Max && s.Max == size
		})
		if !live || !strings.Contains(run.BarName, fileName) {
			t.Errorf("no progress between 0 and %d on a bar named for the file (%q): %+v", size, run.BarName, run.Progress)
		}
		if run.PausedValue != run.PausedValueLater || !strings.HasPrefix(run.PausedStatus, "Paused") {
			t.Errorf("paused at %v, a second later %v (%q)", run.PausedValue, run.PausedValueLater, run.PausedStatus)
		}
		for _, s := range run.Storage {
			if s.Method == http.MethodPut && s.At > run.PausedAt+100 && s.At < run.ResumedAt {
				t.Errorf("a part ended while paused: %+v", s)
			}
		}
		run.checkResumeSentOnlyMissingParts(t, run.ResumedAt)
		isParts := func(p string) bool { return strings.HasPrefix(p, "/v1/uploads/") && strings.HasSuffix(p, "/parts") }
		if n := tap.count("GET", isParts); n != 1 {
			t.Errorf("resume asked for the stored parts %d times, want 1", n)
		}
		// Part URLs just in time: one request per part request sent (and at most one per
		// worker that the pause stopped between its URL and its request).
		sent := 0
		for _, s := range run.Storage {
			if s.Method == http.MethodPut && s.Part > 0 {
				sent++
			}
		}
		if n := tap.count("POST", isParts); n < sent || n > sent+4 {
			t.Errorf("%d part-URL requests for %d part requests sent", n, sent)
		}
		if run.FinalState != "completed" {
			t.Errorf("the upload ended %s: %q", run.FinalState, run.FinalStatus)
		}
	})

	t.Run("listed as completed with its name as text", func(t *testing.T) {
		if len(run.Row) < 5 || run.Row[0] != fileName || run.Row[1] != "30.0 MiB" || run.Row[2] != "application/octet-stream" || run.Row[3] != "Completed" || run.Row[4] == "" {
			t.Errorf("file row %q", run.Row)
		}
		if run.Injected != 0 {
			t.Errorf("the file name became %d elements", run.Injected)
		}
		if st, err := os.Stat(screenshot); err != nil || st.Size() < 1000 {
			t.Errorf("screenshot %s: %v", screenshot, err)
		}
	})

	t.Run("the download has the same bytes", func(t *testing.T) {
		got, err := os.ReadFile(downloaded)
		if err != nil || run.DownloadFailure != nil {
			t.Fatalf("download: %v %v", err, run.DownloadFailure)
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("downloaded %d bytes with another SHA-256 than the %d uploaded", len(got), len(data))
		}
		if n := tap.count("GET", func(p string) bool { return strings.HasSuffix(p, "/download") }); n != 1 {
			t.Errorf("%d download requests", n)
		}
		for _, r := range tap.all() {
			if strings.HasSuffix(r.Path, "/download") && !strings.Contains(r.Accept, "application/json") {
				t.Errorf("the download URL was asked for without Accept: application/json (%q)", r.Accept)
			}
		}
	})

	t.Run("deleted only after confirmation", func(t *testing.T) {
		if !strings.Contains(run.DialogText, fileName) || run.RowsAfterEscape != 1 || run.FocusAfterEscape != "Delete "+fileName {
			t.Errorf("dialog %q; rows after Escape %d, focus back on %q", run.DialogText, run.RowsAfterEscape, run.FocusAfterEscape)
		}
		if !run.EmptyShown {
			t.Error("the empty list is not shown after the delete")
		}
		var list struct{ Files []fileView }
		user.must(200, "GET", "/v1/files", nil, &list)
		if len(list.Files) != 0 {
			t.Errorf("files left: %+v", list.Files)
		}
		if n := tap.count("DELETE", func(p string) bool { return strings.HasPrefix(p, "/v1/files/") }); n != 1 {
			t.Errorf("%d deletes sent", n)
		}
	})

	t.Run("file bytes never reach the control plane", func(t *testing.T) {
		const limit = 4 << 10
		total := 0
		for _, r := range tap.all() {
			total += r.Body
			if r.Body > limit {
				t.Errorf("%s %s sent a %d-byte body to the control plane", r.Method, r.Path, r.Body)
			}
		}
		if total > 64<<10 {
			t.Errorf("%d bytes of request bodies reached the control plane in all", total)
		}
		if stored := slices.Concat(run.StoredAtResume, run.partsStored(false, run.ResumedAt)); len(stored) != 6 {
			t.Errorf("the storage node received parts %v, not the six", stored)
		}
	})

	t.Run("the page announces and runs cleanly", func(t *testing.T) {
		joined := strings.Join(run.Announced, "\n")
		for _, want := range []string{"Signed in as webuser", "Uploading " + fileName, "Paused " + fileName, fileName + " uploaded", "Deleted " + fileName} {
			if !strings.Contains(joined, want) {
				t.Errorf("the live region never said %q; it said %q", want, run.Announced)
			}
		}
		if len(run.PageErrors) > 0 {
			t.Errorf("page errors: %q", run.PageErrors)
		}
		for _, c := range run.Console {
			if strings.Contains(c, "Content Security Policy") || strings.HasPrefix(c, "error") {
				t.Errorf("console: %s", c)
			}
		}
	})
}

// TestWebPageResumesAnUploadAfterAReloadAndPutsSmallFilesChosenOrDroppedAtOnce: the page
// warns before a reload would cut an upload; after the reload, choosing the same file again
// takes up the earlier multipart upload (no new ticket) and sends only the parts the store does
// not hold, and the file is stored whole. Small files then go up in one PUT each with their
// ticket's headers: one chosen with the file chooser, one dropped on the drop zone. The zone
// accepts the drag (it cancels dragenter and dragover, without which a browser never fires the
// drop), is highlighted while the file is over it and not after the drop, and the dropped file
// is announced, uploaded, stored whole and listed as completed.
func TestWebPageResumesAnUploadAfterAReloadAndPutsSmallFilesChosenOrDroppedAtOnce(t *testing.T) {
	requireWebBrowser(t)
	const fileName = "resumed after reload.bin"
	s := newWebSetup(t, fileName)
	run, want := s.driveReload(t, fileName)
	run.checkResumeSentOnlyMissingParts(t, run.ResumedAt)
	if n := run.singlePUTs(); n != 2 {
		t.Errorf("%d single PUTs stored, want 2 (the small files)", n)
	}
	s.checkReload(t, run, fileName, want)
}

// The small files of the reload scenario: one chosen, one dropped.
const reloadSmallName, reloadDropName = "note.txt", "dropped.txt"

// driveReload runs the driver's reload scenario: the 30 MiB file is reloaded mid-upload and
// chosen again, then a small file is chosen and another dropped. It returns what the driver
// saw and the bytes each file must be stored with, by name.
func (s *webSetup) driveReload(t *testing.T, fileName string) (*webRun, map[string][]byte) {
	t.Helper()
	small := bytes.Repeat([]byte("a small note\n"), 120)
	smallPath := filepath.Join(t.TempDir(), reloadSmallName)
	if err := os.WriteFile(smallPath, small, 0o600); err != nil {
		t.Fatal(err)
	}
	dropped := strings.Repeat("dropped on the zone\n", 100)
	run := s.drive(t, "reload", fileName, map[string]any{"smallPath": smallPath, "smallName": reloadSmallName,
		"dropName": reloadDropName, "dropText": dropped})
	return run, map[string][]byte{fileName: s.data, reloadSmallName: small, reloadDropName: []byte(dropped)}
}

// singlePUTs is how many PUTs of a whole file the store answered 200.
func (w *webRun) singlePUTs() int {
	n := 0
	for _, st := range w.Storage {
		if st.Method == http.MethodPut && st.Part == 0 && st.Outcome == float64(200) {
			n++
		}
	}
	return n
}

// checkReload: what the reload scenario must leave on every store. The page warned before the
// reload; the reload took up the first upload (three tickets in all, one asking for the stored
// parts), which completed and is listed alone until the small files; the chosen small file and
// the dropped one (the zone cancelled dragenter and dragover, was highlighted while the file
// was over it and not after the drop, and announced it) completed and are listed; every file
// is stored with its bytes.
func (s *webSetup) checkReload(t *testing.T, run *webRun, fileName string, want map[string][]byte) {
	t.Helper()
	if !slices.Contains(run.BeforeUnload, "beforeunload") {
		t.Errorf("no warning before leaving the page mid-upload: dialogs %q", run.BeforeUnload)
	}
	if n := s.tap.count("POST", func(p string) bool { return p == "/v1/uploads" }); n != 3 {
		t.Errorf("%d tickets asked for, want 3: the reload resumes the first upload, each small file has its own", n)
	}
	if n := s.tap.count("GET", func(p string) bool { return strings.HasPrefix(p, "/v1/uploads/") && strings.HasSuffix(p, "/parts") }); n != 1 {
		t.Errorf("the stored parts were asked for %d times, want 1", n)
	}
	if run.FinalState != "completed" || run.Rows != 1 || !slices.ContainsFunc(run.Announced, func(a string) bool {
		return strings.Contains(a, "Resuming the earlier upload of "+fileName)
	}) {
		t.Errorf("after the reload: %s (%q), %d files listed, announced %q", run.FinalState, run.FinalStatus, run.Rows, run.Announced)
	}
	if run.SmallState != "completed" || len(run.SmallRow) < 4 || run.SmallRow[1] != "1.5 KiB" || run.SmallRow[2] != "text/plain" {
		t.Errorf("small file: %s, listed as %q", run.SmallState, run.SmallRow)
	}
	if d := run.Drop; !d.EnterCancelled || !d.DraggingOnEnter || !d.OverCancelled || d.DraggingAfterDrop {
		t.Errorf("dragging a file onto the drop zone: %+v; want dragenter and dragover cancelled, highlighted while over it, no highlight after the drop", d)
	}
	if !slices.Contains(run.DropAnnounced, "Added "+reloadDropName+".") {
		t.Errorf("the drop was not announced: %q", run.DropAnnounced)
	}
	if run.DropState != "completed" || len(run.DropRow) < 4 || run.DropRow[0] != reloadDropName || run.DropRow[2] != "text/plain" || run.DropRow[3] != "Completed" {
		t.Errorf("dropped file: %s, listed as %q", run.DropState, run.DropRow)
	}
	var list struct{ Files []fileView }
	s.user.must(200, "GET", "/v1/files", nil, &list)
	if len(list.Files) != len(want) {
		t.Fatalf("files: %+v", list.Files)
	}
	for _, f := range list.Files {
		w, ok := want[f.Filename]
		if got := s.stored(t, f.ID); !ok || got != sha256.Sum256(w) {
			t.Errorf("%s: the stored object is not the file's bytes", f.Filename)
		}
	}
}

// stored is the SHA-256 of the user's file as the storage node serves it.
func (s *webSetup) stored(t *testing.T, id string) [sha256.Size]byte {
	t.Helper()
	var d struct{ URL string }
	s.user.must(200, "GET", "/v1/files/"+id+"/download", nil, &d)
	resp, err := http.Get(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("download %s: %d %v", id, resp.StatusCode, err)
	}
	return [sha256.Size]byte(h.Sum(nil))
}
