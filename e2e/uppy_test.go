package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/internal/testenv/browser"
)

// uppyDir holds the application pages of the browser-app tests — with Uppy (page.js,
// index.html) and with presign.js (module.html, module-page.js) — their Node drivers (uppy.js,
// module.js), and their npm install: Uppy 6, esbuild, playwright-core.
const uppyDir = "testdata/uppy"

// uppyBundle builds page.js with esbuild once per test binary and returns the directory holding
// index.html, bundle.js and bundle.css.
var uppyBundle = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "presign-uppy-bundle")
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(uppyDir)
	cmd := exec.Command(filepath.Join(abs, "node_modules", ".bin", "esbuild"), "page.js", "--bundle", "--format=esm",
		"--outfile="+filepath.Join(dir, "bundle.js"), "--log-level=warning")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("esbuild: %v\n%s", err, out)
	}
	// The module tests' page needs no bundling: it imports presign.js from the control plane.
	for _, name := range []string{"index.html", "module.html", "module-page.js"} {
		b, err := os.ReadFile(filepath.Join(abs, name))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// requireUppy ends the test when the browser, Node or the npm install is missing, and returns
// the driver's directory and the bundle's.
func requireUppy(t *testing.T) (string, string) {
	t.Helper()
	dir := browser.Require(t, uppyDir)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@uppy", "aws-s3")); err != nil {
		browser.Require(t, filepath.Join(dir, "missing-uppy")) // reports the npm ci to run
	}
	bundle, err := uppyBundle()
	if err != nil {
		t.Fatal(err)
	}
	return dir, bundle
}

// uppyRig is presign serve with a user whose application (its own origin, serving the Uppy
// page) mints upload tokens with an API key.
type uppyRig struct {
	p       *process
	pageURL string // the application's origin
	user    *api   // the application's API key
	userID  string
	admin   *api
	dir     string // the driver's directory
}

func newUppyRig(t *testing.T, policy map[string]any, serveArgs ...string) *uppyRig {
	t.Helper()
	dir, bundle := requireUppy(t)
	return newAppRig(t, dir, bundle, policy, serveArgs...)
}

// newAppRig serves the application's pages from bundle on an origin of their own and starts
// presign serve admitting it.
func newAppRig(t *testing.T, dir, bundle string, policy map[string]any, serveArgs ...string) *uppyRig {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(bundle))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r := &uppyRig{pageURL: "http://" + ln.Addr().String(), dir: dir}
	r.p = serveProcess(t, append([]string{"--cors-origin", r.pageURL}, serveArgs...)...)
	r.admin = adminAPI(t, r.p)
	session, id := r.admin.newUser("app", policy)
	var key struct{ Key string }
	session.must(201, "POST", "/v1/apikeys", map[string]any{"name": "app server", "password": "app-password"}, &key)
	r.user, r.userID = session.as(key.Key), id
	return r
}

// uploadToken is the answer of POST /v1/upload-tokens.
type uploadToken struct {
	ID                string `json:"id"`
	Token             string `json:"token"`
	Subject           string `json:"subject"`
	CompanionEndpoint string `json:"companion_endpoint"`
}

// mint is the application's server asking for an upload token.
func (r *uppyRig) mint(t *testing.T, req map[string]any) uploadToken {
	t.Helper()
	var tok uploadToken
	r.user.must(201, "POST", "/v1/upload-tokens", req, &tok)
	if !strings.HasPrefix(tok.CompanionEndpoint, r.p.url("control plane")+"/v1/companion/") || tok.Token == "" {
		t.Fatalf("token answer %+v", tok)
	}
	return tok
}

// uppyRun is what the driver saw (testdata/uppy/uppy.js).
type uppyRun struct {
	Error      string
	Console    []string
	PageErrors []string
	Requests   []struct {
		Method, Origin, Path, Query string
		Part                        int
		Outcome                     any
		At                          int64
	}
	Events []struct {
		Type, Name, Message, Details, Cause, ResponseText string
		Status, Part, Successful, Failed                  int
		At                                                int64
		Body                                              struct{ Location, Key string }
	}
	Files []struct {
		Name, Type, Error string
		Size              int64
		Complete          bool
	}
	PausedAt, ResumedAt, CancelledAt int64
	PartsAtPause, PartsAfterWait     int
	FailureScreenshot                string
}

// drive runs the driver's scenario on the page configured with the companion endpoint.
func (r *uppyRig) drive(t *testing.T, endpoint, scenario string, files []string, extra map[string]any) *uppyRun {
	t.Helper()
	cfg := map[string]any{"pageURL": r.pageURL + "/?companion=" + endpoint, "userDataDir": t.TempDir(), "files": files,
		"scenario": scenario, "failureScreenshotPath": filepath.Join(webArtifacts(t), strings.ReplaceAll(t.Name(), "/", "_")+"-failure.png")}
	for k, v := range extra {
		cfg[k] = v
	}
	arg, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "uppy.js", string(arg))
	cmd.Dir = r.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var run uppyRun
	if err := json.Unmarshal(out, &run); err != nil || runErr != nil || run.Error != "" {
		t.Fatalf("driver: %v; output %s (%v)\n%s\nserve log:\n%s", runErr, out, err, stderr.String(), r.p.logs())
	}
	if len(run.PageErrors) > 0 {
		t.Errorf("errors in the page: %q", run.PageErrors)
	}
	return &run
}

// event returns the first event of the type for the file name.
func (run *uppyRun) event(typ, name string) (int, bool) {
	for i, e := range run.Events {
		if e.Type == typ && e.Name == name {
			return i, true
		}
	}
	return -1, false
}

// storagePartPuts are the part numbers of the PUTs to storage that got 200, in order.
func (run *uppyRun) storagePartPuts(storage string) []int {
	var out []int
	for _, q := range run.Requests {
		if q.Origin == storage && q.Method == http.MethodPut && q.Part > 0 && q.Outcome == float64(200) {
			out = append(out, q.Part)
		}
	}
	return out
}

// uppyFile is a file as GET /v1/files shows it.
type uppyFile struct {
	ID, Filename, Key, ContentType, Subject string
	Size                                    int64
	Metadata                                map[string]string
}

// filesOf waits until the user has n files (a form upload completes by the storage event, after
// Uppy's success) and returns them by name.
func (r *uppyRig) filesOf(t *testing.T, n int) map[string]uppyFile {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page struct {
			Files []struct {
				ID          string            `json:"id"`
				Filename    string            `json:"filename"`
				Key         string            `json:"key"`
				ContentType string            `json:"content_type"`
				Subject     string            `json:"subject"`
				Size        int64             `json:"size"`
				Metadata    map[string]string `json:"metadata"`
			}
		}
		r.user.must(200, "GET", "/v1/files", nil, &page)
		if len(page.Files) >= n || time.Now().After(deadline) {
			out := map[string]uppyFile{}
			for _, f := range page.Files {
				out[f.Filename] = uppyFile{f.ID, f.Filename, f.Key, f.ContentType, f.Subject, f.Size, f.Metadata}
			}
			if len(out) != n {
				t.Fatalf("the user has %d files, want %d: %+v", len(out), n, out)
			}
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCompletedOnce: the audit log has exactly one completion of the upload, and its bytes
// downloaded are those sent.
func (r *uppyRig) checkCompletedOnce(t *testing.T, f uppyFile, want [32]byte) {
	t.Helper()
	var log struct {
		Entries []struct {
			Action   string `json:"action"`
			UploadID string `json:"upload_id"`
		}
	}
	r.admin.must(200, "GET", "/v1/audit?limit=1000&user_id="+r.userID, nil, &log)
	n := 0
	for _, e := range log.Entries {
		if e.UploadID == f.ID && e.Action == "upload.complete" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%s completed %d times in the audit log, want 1", f.Filename, n)
	}
	var d struct{ URL string }
	r.user.must(200, "GET", "/v1/files/"+f.ID+"/download", nil, &d)
	resp, err := http.Get(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("download of %s: %d %v", f.Filename, resp.StatusCode, err)
	}
	if [32]byte(h.Sum(nil)) != want {
		t.Errorf("%s downloaded with another SHA-256 than the bytes sent", f.Filename)
	}
}

// TestUppyUploadsAFormAndAMultipartFileThroughPresign: an unmodified Uppy 6 (Dashboard, S3
// plugin with nothing but the companion_endpoint of an upload token) uploads a 1 MiB file in
// one form and a 120 MiB file in Uppy's own 5 MiB parts; each becomes one file of the API key's
// user, completed exactly once (by the storage event for the form, by Uppy's complete call for
// the parts), with the token's subject, and the same bytes.
func TestUppyUploadsAFormAndAMultipartFileThroughPresign(t *testing.T) {
	r := newUppyRig(t, nil)
	small, smallSum := randomFile(t, "small photo.bin", 1<<20)
	big, bigSum := randomFile(t, "big video.bin", 120<<20)
	tok := r.mint(t, map[string]any{"subject": "app-user-7"})
	run := r.drive(t, tok.CompanionEndpoint, "upload", []string{small, big}, nil)

	for _, name := range []string{"small photo.bin", "big video.bin"} {
		if _, ok := run.event("upload-success", name); !ok {
			t.Errorf("no upload-success for %s: %+v", name, run.Events)
		}
	}
	storage := r.p.url("storage node")
	if parts := run.storagePartPuts(storage); len(parts) != 24 || parts[23] != 24 {
		t.Errorf("120 MiB went up in parts %v, want Uppy's 24 parts of 5 MiB", parts)
	}
	forms := 0
	for _, q := range run.Requests {
		if q.Origin == storage && q.Method == http.MethodPost && q.Outcome == float64(201) {
			forms++
		}
	}
	if forms != 1 {
		t.Errorf("%d form posts to storage, want 1 (the small file)", forms)
	}
	files := r.filesOf(t, 2)
	for name, sum := range map[string][32]byte{"small photo.bin": smallSum, "big video.bin": bigSum} {
		f := files[name]
		if f.Subject != "app-user-7" || !strings.HasPrefix(f.Key, "u/"+r.userID+"/") {
			t.Errorf("%s: subject %q, key %q", name, f.Subject, f.Key)
		}
		// Uppy sends each file's meta (the page's app_ref, and its own name and type) to the
		// Companion routes: s3/params as a query, s3/multipart in the body.
		if f.Metadata["app_ref"] != "page-7" || f.Metadata["name"] != name {
			t.Errorf("%s: metadata %q, want app_ref page-7 and the name", name, f.Metadata)
		}
		r.checkCompletedOnce(t, f, sum)
	}
	if files["big video.bin"].Size != 120<<20 || files["small photo.bin"].Size != 1<<20 {
		t.Errorf("sizes recorded %d and %d", files["big video.bin"].Size, files["small photo.bin"].Size)
	}
	if strings.Contains(r.p.logs(), tok.Token) {
		t.Error("the upload token, which travelled in URL paths, is in presign's log")
	}
}

// TestUppyPausesResumesAndCancelsAMultipartUpload: paused in the middle, no part is stored
// until it resumes, and then only the parts storage lacks are sent (Uppy asks presign which
// it holds); the file completes once with its bytes. Cancelled in the middle, the upload ends
// failed and storage no longer holds its parts.
func TestUppyPausesResumesAndCancelsAMultipartUpload(t *testing.T) {
	r := newUppyRig(t, nil)
	big, bigSum := randomFile(t, "paused.bin", 120<<20)
	tok := r.mint(t, map[string]any{"subject": "app-user-8"})
	storage := r.p.url("storage node")

	t.Run("pause and resume", func(t *testing.T) {
		run := r.drive(t, tok.CompanionEndpoint, "pause", []string{big}, map[string]any{"afterParts": 4, "uploadBps": 40 << 20})
		if run.PartsAfterWait != run.PartsAtPause {
			t.Errorf("%d parts when paused, %d a while later", run.PartsAtPause, run.PartsAfterWait)
		}
		for _, q := range run.Requests {
			if q.Origin == storage && q.Method == http.MethodPut && q.Outcome == float64(200) && q.At > run.PausedAt+200 && q.At < run.ResumedAt {
				t.Errorf("part %d stored while paused", q.Part)
			}
		}
		before, after := map[int]bool{}, []int{}
		for _, q := range run.Requests {
			if q.Origin == storage && q.Method == http.MethodPut && q.Outcome == float64(200) {
				if q.At < run.ResumedAt {
					before[q.Part] = true
				} else {
					after = append(after, q.Part)
				}
			}
		}
		for _, n := range after {
			if before[n] {
				t.Errorf("part %d sent again after resuming", n)
			}
		}
		if len(before)+len(after) != 24 {
			t.Errorf("parts stored before resuming %v, after %v: want 24 in all", before, after)
		}
		lists := 0
		for _, q := range run.Requests {
			if _, rest, ok := strings.Cut(q.Path, "/s3/multipart/"); ok && q.Method == http.MethodGet && !strings.Contains(rest, "/") && q.At >= run.ResumedAt {
				lists++
			}
		}
		if lists != 1 {
			t.Errorf("on resuming Uppy asked for the stored parts %d times, want 1", lists)
		}
		f := r.filesOf(t, 1)["paused.bin"]
		r.checkCompletedOnce(t, f, bigSum)
	})

	t.Run("cancel", func(t *testing.T) {
		run := r.drive(t, tok.CompanionEndpoint, "cancel", []string{big}, map[string]any{"afterParts": 3, "uploadBps": 40 << 20})
		// The upload is the one whose parts were signed; Uppy's abort call is not waited for
		// by the page, so what the control plane did is read from it, not from the browser.
		var aborted string
		for _, q := range run.Requests {
			if _, rest, ok := strings.Cut(q.Path, "/s3/multipart/"); ok && strings.Contains(rest, "/") {
				aborted, _, _ = strings.Cut(rest, "/")
			}
		}
		if aborted == "" {
			t.Fatalf("no part was signed: %+v", run.Requests)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !r.audited(t, aborted, "upload.abort") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		var u struct{ State, Key, FailReason string }
		r.user.must(200, "GET", "/v1/uploads/"+aborted, nil, &u)
		if u.State != "failed" {
			t.Errorf("the cancelled upload is %s (%s)", u.State, u.FailReason)
		}
		// No multipart upload is left for the key: its parts are gone.
		out, err := rootS3(t, r.p).ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("presign"), Prefix: aws.String(u.Key)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Uploads) != 0 {
			t.Errorf("storage still holds the cancelled multipart upload: %+v", out.Uploads)
		}
	})
}

// audited reports whether the audit log has an entry of the action for the upload.
func (r *uppyRig) audited(t *testing.T, uploadID, action string) bool {
	t.Helper()
	var log struct {
		Entries []struct {
			Action   string `json:"action"`
			UploadID string `json:"upload_id"`
		}
	}
	r.admin.must(200, "GET", "/v1/audit?limit=1000&user_id="+r.userID, nil, &log)
	for _, e := range log.Entries {
		if e.UploadID == uploadID && e.Action == action {
			return true
		}
	}
	return false
}

// TestUppyRefusalsReachThePage: with a token for images of at most 2 MiB, a 3 MiB image and a
// text file are refused, and the reason reaches Uppy's upload-error event: storage's
// EntityTooLarge for the form over the size, the signing route's 415 for the type. Nothing is
// stored as a file.
func TestUppyRefusalsReachThePage(t *testing.T) {
	r := newUppyRig(t, nil)
	tooBig, _ := randomFile(t, "too big.png", 3<<20)
	text, _ := randomFile(t, "notes.txt", 1000)
	tok := r.mint(t, map[string]any{"subject": "app-user-9", "max_file_bytes": 2 << 20, "allowed_content_types": []string{"image/*"}})
	run := r.drive(t, tok.CompanionEndpoint, "upload", []string{tooBig, text}, nil)

	i, ok := run.event("upload-error", "too big.png")
	if !ok {
		t.Fatalf("no upload-error for the file over the limit: %+v", run.Events)
	}
	if e := run.Events[i]; e.Status != 400 || !strings.Contains(e.ResponseText, "<Code>EntityTooLarge</Code>") {
		t.Errorf("the oversized file's error: status %d, %q, %q", e.Status, e.Message, e.ResponseText)
	}
	i, ok = run.event("upload-error", "notes.txt")
	if !ok {
		t.Fatalf("no upload-error for the text file: %+v", run.Events)
	}
	if e := run.Events[i]; !strings.Contains(e.Message, "Unsupported Media Type") {
		t.Errorf("the text file's error %q does not name the refused type", e.Message)
	}
	var page struct{ Files []json.RawMessage }
	r.user.must(200, "GET", "/v1/files", nil, &page)
	if len(page.Files) != 0 {
		t.Errorf("refused uploads became files: %s", page.Files)
	}
	if strings.Contains(r.p.logs(), tok.Token) {
		t.Error("the upload token, which travelled in URL paths, is in presign's log")
	}
}
