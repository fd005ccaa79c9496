package e2e

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The browser module, /v1/presign.js, imported by an application's page on another origin and
// used with an upload token: the same scenarios as Uppy's, and a resume after a reload. presign
// serve plans multipart uploads from 8 MiB in 5 MiB parts here, so a 30 MiB file has six parts.

// moduleRun is what the driver saw (testdata/uppy/module.js).
type moduleRun struct {
	Error      string
	Console    []string
	PageErrors []string
	Requests   []struct {
		Method, Origin, Path string
		Comp                 string // Azure's comp= ("block" for Put Block)
		Part                 int
		Auth                 bool
		Outcome              any
		Start                int64 // when the browser began it (ms); 0 without a response
		Listed               []int // the parts a listing of stored parts answered
	}
	Transfers []struct {
		Name, ID, State    string
		States             []string
		Resumed, Multipart bool
		Parts, PartCount   int
		Result             *struct{ ID, Subject string }
		Error              *struct {
			Name, Message, Code string
			Status              int
		}
	}
	PausedAt, ResumedAt, CancelledAt, ReloadedAt int64
	PartsAtPause                                 int
	StateWhilePaused                             string
	FirstID                                      string
}

func newModuleRig(t *testing.T) *uppyRig {
	t.Helper()
	dir, bundle := requireUppy(t)
	return newAppRig(t, dir, bundle, nil, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
}

// driveModule runs the driver's scenario on the page with the token.
func (r *uppyRig) driveModule(t *testing.T, token, scenario string, files []string, extra map[string]any) *moduleRun {
	t.Helper()
	q := url.Values{"module": {r.p.url("control plane") + "/v1/presign.js"}, "token": {token}}
	cfg := map[string]any{"pageURL": r.pageURL + "/module.html?" + q.Encode(), "userDataDir": t.TempDir(), "files": files, "scenario": scenario}
	for k, v := range extra {
		cfg[k] = v
	}
	arg, _ := json.Marshal(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "module.js", string(arg))
	cmd.Dir = r.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var run moduleRun
	if err := json.Unmarshal(out, &run); err != nil || runErr != nil || run.Error != "" {
		t.Fatalf("driver: %v; output %s (%v)\n%s\nserve log:\n%s", runErr, out, err, stderr.String(), r.p.logs())
	}
	if len(run.PageErrors) > 0 {
		t.Errorf("errors in the page: %q", run.PageErrors)
	}
	// The token goes in the Authorization header of every call to the control plane, never in
	// a URL.
	control := r.p.url("control plane")
	for _, q := range run.Requests {
		if q.Origin == control && strings.HasPrefix(q.Path, "/v1/") && q.Path != "/v1/presign.js" && !q.Auth {
			t.Errorf("%s %s without Authorization", q.Method, q.Path)
		}
		if strings.Contains(q.Path, token) {
			t.Errorf("%s %s carries the token", q.Method, q.Path)
		}
	}
	return &run
}

// storedPuts are the part numbers (0 for a single PUT) stored with 200 by PUTs started in
// [from, to).
func (run *moduleRun) storedPuts(storage string, from, to int64) []int {
	var out []int
	for _, q := range run.Requests {
		if q.Origin == storage && q.Method == http.MethodPut && q.Outcome == float64(200) && q.Start >= from && q.Start < to {
			out = append(out, q.Part)
		}
	}
	return out
}

// TestModuleUploadsWithAnUploadToken: a page on another origin imports /v1/presign.js and
// uploads a 1 MiB file (one PUT) and a 30 MiB file (six parts in parallel) with an upload token;
// both complete once, with the token's subject and the same bytes.
func TestModuleUploadsWithAnUploadToken(t *testing.T) {
	r := newModuleRig(t)
	small, smallSum := randomFile(t, "small.bin", 1<<20)
	big, bigSum := randomFile(t, "big.bin", 30<<20)
	tok := r.mint(t, map[string]any{"subject": "module-user"})
	run := r.driveModule(t, tok.Token, "upload", []string{small, big}, nil)
	for _, x := range run.Transfers {
		if x.State != "completed" || x.Result == nil || x.Result.Subject != "module-user" {
			t.Errorf("%s ended %s (%+v): %+v", x.Name, x.State, x.Error, x.Result)
		}
	}
	files := r.filesOf(t, 2)
	for name, f := range files {
		if want := map[string]string{"app_ref": "module-page", "chosen_as": name}; !maps.Equal(f.Metadata, want) {
			t.Errorf("%s: metadata %q, want the page's %q", name, f.Metadata, want)
		}
	}
	r.checkCompletedOnce(t, files["small.bin"], smallSum)
	r.checkCompletedOnce(t, files["big.bin"], bigSum)
	if puts := run.storedPuts(r.p.url("storage node"), 0, math.MaxInt64); len(puts) != 7 {
		t.Errorf("stored PUTs %v, want one single PUT and six parts", puts)
	}
}

// TestModulePausesResumesCancelsAndResumesAfterAReload: paused, no part is stored until resumed,
// and then only the missing parts go up; cancelled, the upload fails on the server and its
// parts are gone; reloaded in the middle, choosing the same file again takes up the same upload
// and sends only the parts storage lacks.
func TestModulePausesResumesCancelsAndResumesAfterAReload(t *testing.T) {
	r := newModuleRig(t)
	storage := r.p.url("storage node")
	tok := r.mint(t, map[string]any{"subject": "module-user-2"})

	t.Run("pause and resume", func(t *testing.T) {
		path, sum := randomFile(t, "paused.bin", 30<<20)
		run := r.driveModule(t, tok.Token, "pause", []string{path}, map[string]any{"afterParts": 2, "uploadBps": 20 << 20})
		if run.StateWhilePaused != "paused" {
			t.Errorf("state while paused: %s", run.StateWhilePaused)
		}
		if puts := run.storedPuts(storage, run.PausedAt, run.ResumedAt); len(puts) > 0 {
			t.Errorf("parts %v sent while paused", puts)
		}
		checkOnlyMissingAfter(t, run, storage, run.ResumedAt)
		r.checkCompletedOnce(t, r.fileNamed(t, "paused.bin"), sum)
	})

	t.Run("cancel", func(t *testing.T) {
		path, _ := randomFile(t, "cancelled.bin", 30<<20)
		run := r.driveModule(t, tok.Token, "cancel", []string{path}, map[string]any{"afterParts": 2, "uploadBps": 20 << 20})
		x := run.Transfers[0]
		if x.State != "cancelled" || x.Error == nil || x.Error.Name != "CancelledError" {
			t.Errorf("transfer ended %s, finished with %+v", x.State, x.Error)
		}
		var u struct{ State, Key string }
		r.user.must(200, "GET", "/v1/uploads/"+x.ID, nil, &u)
		if u.State != "failed" {
			t.Errorf("the cancelled upload is %s", u.State)
		}
		out, err := rootS3(t, r.p).ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String("presign"), Prefix: aws.String(u.Key)})
		if err != nil || len(out.Uploads) != 0 {
			t.Errorf("multipart uploads left for the cancelled key: %v %+v", err, out)
		}
	})

	t.Run("resume after a reload", func(t *testing.T) {
		path, sum := randomFile(t, "reloaded.bin", 30<<20)
		run := r.driveModule(t, tok.Token, "reload", []string{path}, map[string]any{"afterParts": 2, "uploadBps": 20 << 20})
		x := run.Transfers[0]
		if !x.Resumed || x.ID != run.FirstID || x.State != "completed" {
			t.Errorf("after the reload: resumed %v, id %s (first %s), %s", x.Resumed, x.ID, run.FirstID, x.State)
		}
		checkOnlyMissingAfter(t, run, storage, run.ReloadedAt)
		r.checkCompletedOnce(t, r.fileNamed(t, "reloaded.bin"), sum)
	})
}

// checkOnlyMissingAfter: the first listing of stored parts after at (the page asking storage
// what it holds, on a resume) found some, and the parts stored by PUTs started after that
// listing are exactly the others, each once. Parts in flight at at may have been stored or
// not; the listing, not what the page saw of them, says which.
func checkOnlyMissingAfter(t *testing.T, run *moduleRun, storage string, at int64) {
	t.Helper()
	listing, listed := int64(math.MaxInt64), []int(nil)
	for _, q := range run.Requests {
		if q.Method == http.MethodGet && q.Listed != nil && q.Start >= at && q.Start < listing {
			listing, listed = q.Start, q.Listed
		}
	}
	if listed == nil {
		t.Fatalf("no listing of stored parts after %d: %+v", at, run.Requests)
	}
	before, after := run.storedPuts(storage, 0, listing), run.storedPuts(storage, listing+1, math.MaxInt64)
	seen := map[int]bool{}
	for _, n := range listed {
		seen[n] = true
	}
	for _, n := range before {
		if !seen[n] {
			t.Errorf("part %d stored before the listing is not in it (%v)", n, listed)
		}
	}
	for _, n := range after {
		if seen[n] {
			t.Errorf("part %d sent again (storage listed %v)", n, listed)
		}
		seen[n] = true
	}
	if len(listed) == 0 || len(seen) != 6 {
		t.Errorf("storage listed %v, parts stored after %v: want some listed, six in all", listed, after)
	}
}

// fileNamed returns the user's file with the name.
func (r *uppyRig) fileNamed(t *testing.T, name string) uppyFile {
	t.Helper()
	var page struct {
		Files []struct {
			ID       string `json:"id"`
			Filename string `json:"filename"`
			Subject  string `json:"subject"`
			Size     int64  `json:"size"`
		}
	}
	r.user.must(200, "GET", "/v1/files", nil, &page)
	for _, f := range page.Files {
		if f.Filename == name {
			return uppyFile{ID: f.ID, Filename: f.Filename, Subject: f.Subject, Size: f.Size}
		}
	}
	t.Fatalf("no file %s among %+v", name, page.Files)
	return uppyFile{}
}

// TestModuleRefusalsReachThePage: a file over the token's size and one of a type outside it
// are refused when the ticket is asked for, and the page gets the API's code and message.
func TestModuleRefusalsReachThePage(t *testing.T) {
	r := newModuleRig(t)
	tooBig, _ := randomFile(t, "too big.png", 3<<20)
	text, _ := randomFile(t, "notes.txt", 1000)
	tok := r.mint(t, map[string]any{"subject": "module-user-3", "max_file_bytes": 2 << 20, "allowed_content_types": []string{"image/*"}})
	run := r.driveModule(t, tok.Token, "upload", []string{tooBig, text}, nil)
	want := map[string]struct {
		code   string
		status int
	}{"too big.png": {"object_too_large", 413}, "notes.txt": {"content_type_refused", 415}}
	for _, x := range run.Transfers {
		w := want[x.Name]
		if x.State != "failed" || x.Error == nil || x.Error.Code != w.code || x.Error.Status != w.status || !strings.Contains(x.Error.Message, "token") {
			t.Errorf("%s ended %s with %+v, want %d %s naming the token's limit", x.Name, x.State, x.Error, w.status, w.code)
		}
	}
}
