package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"presign/internal/testenv/browser"
	"presign/sigv4"
	"presign/storage"
)

// browserDir holds the Node driver of the browser test and its playwright-core install.
const browserDir = "testdata/browser"

// requireBrowser returns the driver's directory, or ends the test when the browser is missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	return browser.Require(t, browserDir)
}

// requestLog records the method and path of every request a handler sees.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

func (l *requestLog) count(method, path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seen {
		if s == method+" "+path {
			n++
		}
	}
	return n
}

// uploadPage is the page the browser loads from the application's origin. Its script uploads
// to the storage node, another origin, with a presigned PUT and a POST form, tries a PUT that
// CORS does not allow, and leaves what it saw in window.__result.
var uploadPage = template.Must(template.New("page").Parse(`<!doctype html>
<meta charset="utf-8">
<title>cross-origin upload</title>
<script>
const cfg = {{.}};
async function attempt(f) {
  try { return await f(); } catch (e) { return { error: String(e) }; }
}
async function run() {
  const put = await attempt(async () => {
    const r = await fetch(cfg.putURL, { method: 'PUT', body: cfg.putBody, headers: { 'Content-Type': 'text/plain' } });
    return { status: r.status, etag: r.headers.get('ETag'), body: await r.text() };
  });
  const post = await attempt(async () => {
    const fd = new FormData();
    for (const [name, value] of cfg.fields) fd.append(name, value);
    fd.append('file', new Blob([cfg.postBody], { type: 'text/plain' }), 'note.txt');
    const r = await fetch(cfg.postURL, { method: 'POST', body: fd });
    return { status: r.status, etag: r.headers.get('ETag'), body: await r.text() };
  });
  const denied = await attempt(async () => {
    const r = await fetch(cfg.deniedURL, { method: 'PUT', body: 'must not arrive', headers: { 'Content-Type': 'text/plain' } });
    return { status: r.status };
  });
  return { put, post, denied };
}
run().then((r) => { window.__result = r; }, (e) => { window.__result = { error: String(e) }; });
</script>
`))

type fetchResult struct {
	Status int
	ETag   string
	Body   string
	Error  string
}

// TestBrowserCrossOriginUpload: headless Chromium on a page of one origin uploads to the
// storage node on another, with a presigned PUT (after a real preflight) and a POST form, and
// reads the ETag of each answer; a PUT to a bucket without CORS is stopped by its preflight.
func TestBrowserCrossOriginUpload(t *testing.T) {
	dir := requireBrowser(t)
	var log requestLog
	n := startFormNode(t, storage.Config{}, log.wrap)
	const lockedBucket = "locked"
	if err := n.Backend.CreateBucket(t.Context(), lockedBucket); err != nil {
		t.Fatal(err)
	}

	// The page names the node's URLs, and the node's CORS rule names the page's origin: the
	// page is rendered once both listeners exist.
	var page atomic.Pointer[bytes.Buffer]
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" || page.Load() == nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.Load().Bytes())
	}))
	t.Cleanup(app.Close)
	n.putCORS(t, types.CORSRule{AllowedOrigins: []string{app.URL}, AllowedMethods: []string{"PUT", "POST"},
		AllowedHeaders: []string{"content-type"}, MaxAgeSeconds: aws.Int32(60)})

	const putBody, postBody = "bytes from a presigned PUT", "bytes from a POST form"
	now := time.Now()
	f, err := n.Signer.SignPost(map[string]string{"Content-Type": "text/plain", "success_action_status": "201"}, []sigv4.PolicyCondition{
		{Op: sigv4.OpEq, Field: "bucket", Value: formBucket},
		{Op: sigv4.OpStartsWith, Field: "key", Value: "u/9/"},
		{Op: sigv4.OpContentLengthRange, Min: 1, Max: 1024},
	}, now.Add(5*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	// The key comes first, as S3 documents; the browser puts the file name in.
	fields := [][2]string{{"key", "u/9/${filename}"}}
	for _, ff := range sortedFields(f) {
		fields = append(fields, [2]string{ff.name, ff.value})
	}
	pageConfig := map[string]any{
		"putURL":    n.presign(t, http.MethodPut, "/"+formBucket+"/u/9/put.txt", 5*time.Minute),
		"putBody":   putBody,
		"postURL":   n.URL + "/" + formBucket,
		"fields":    fields,
		"postBody":  postBody,
		"deniedURL": n.presign(t, http.MethodPut, "/"+lockedBucket+"/nope.txt", 5*time.Minute),
	}

	var buf bytes.Buffer
	if err := uploadPage.Execute(&buf, pageConfig); err != nil {
		t.Fatal(err)
	}
	page.Store(&buf)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "upload.js", app.URL+"/", t.TempDir())
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("driver: %v\n%s", err, stderr.String())
	}
	var res struct {
		Put, Post, Denied fetchResult
		Error             string
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Error != "" {
		t.Fatalf("driver output %q (%v)\n%s", out, err, stderr.String())
	}

	info, data, err := n.stored(t, "u/9/put.txt")
	if res.Put.Status != http.StatusOK || err != nil || string(data) != putBody || res.Put.ETag != `"`+info.ETag+`"` {
		t.Errorf("presigned PUT: page saw %+v; stored %q, %v", res.Put, data, err)
	}
	if log.count(http.MethodOptions, "/"+formBucket+"/u/9/put.txt") != 1 {
		t.Errorf("the browser sent no preflight before the PUT: %v", log.all())
	}
	info, data, err = n.stored(t, "u/9/note.txt")
	if res.Post.Status != http.StatusCreated || err != nil || string(data) != postBody || res.Post.ETag != `"`+info.ETag+`"` ||
		!strings.Contains(res.Post.Body, "<Key>u/9/note.txt</Key>") || info.Meta.ContentType != "text/plain" {
		t.Errorf("POST form: page saw %+v; stored %q %+v, %v", res.Post, data, info.Meta, err)
	}
	if res.Denied.Error == "" || log.count(http.MethodPut, "/"+lockedBucket+"/nope.txt") != 0 {
		t.Errorf("PUT to a bucket without CORS: page saw %+v; requests %v", res.Denied, log.all())
	}
	if log.count(http.MethodOptions, "/"+lockedBucket+"/nope.txt") != 1 {
		t.Errorf("no preflight to the bucket without CORS: %v", log.all())
	}
}
