package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"

	"presign/control/provider/azure/azuritetest"
)

// The browser clients over the other object stores: presign serve --storage-provider azure
// (Azurite) and gcs (fake-gcs-server, in process, behind the handler of gcsBucket), with the
// store's CORS set for the page's origin as docs/providers.md shows.

// azureStore starts Azurite with a container and returns serve's flags for it. Its key is put in
// the environment serve inherits.
func azureStore(t *testing.T) (args []string, endpoint string) {
	t.Helper()
	emu, err := azuritetest.Start()
	if err == nil {
		t.Cleanup(emu.Stop)
	}
	name := emu.Container(t, err)
	t.Setenv("AZURE_STORAGE_KEY", azuritetest.Key)
	return []string{"--storage-provider", "azure", "--azure-account", azuritetest.Account, "--azure-container", name,
		"--azure-endpoint", emu.Endpoint}, emu.Endpoint
}

// allowAzureOrigin sets the blob service's CORS for origin with the rule docs/providers.md gives
// (Set Blob Service Properties, which Azurite enforces like Azure).
func allowAzureOrigin(t *testing.T, endpoint, origin string) {
	t.Helper()
	cred, err := service.NewSharedKeyCredential(azuritetest.Account, azuritetest.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := service.NewClientWithSharedKeyCredential(endpoint+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetProperties(t.Context(), &service.SetPropertiesOptions{CORS: []*service.CORSRule{{
		AllowedOrigins: to.Ptr(origin), AllowedMethods: to.Ptr("PUT,GET,HEAD,OPTIONS"),
		AllowedHeaders: to.Ptr("content-type,x-ms-blob-type,content-md5"), ExposedHeaders: to.Ptr("etag,content-md5"),
		MaxAgeInSeconds: to.Ptr(int32(3600)),
	}}}); err != nil {
		t.Fatal(err)
	}
}

// TestUppyUploadsAFormAndAMultipartFileToGCS: an unmodified Uppy 6, whose page sets Uppy's own
// multipart threshold to 8 MiB, uploads a 1 MiB file as one form (a GCS POST policy) and a
// 12 MiB file in Uppy's parts (each a signed PUT of a part object that asks for no header,
// since Uppy sends none); both become files of the token's subject with their bytes. The form,
// which no storage event reports on GCS, is completed by the reconciler once its URL expired;
// the parts by Uppy's complete call.
func TestUppyUploadsAFormAndAMultipartFileToGCS(t *testing.T) {
	dir, bundle := requireUppy(t)
	bucket := gcsStore(t)
	r := newAppRig(t, dir, bundle, map[string]any{"url_ttl_seconds": 5},
		append(bucket.args, "--reconcile-interval", "1s", "--reconcile-grace", "0")...)
	bucket.allowOrigin(t, r.pageURL)
	small, smallSum := randomFile(t, "small photo.bin", 1<<20)
	big, bigSum := randomFile(t, "big video.bin", 12<<20)
	tok := r.mint(t, map[string]any{"subject": "gcs-user"})
	page := r.pageURL + "/?" + url.Values{"companion": {tok.CompanionEndpoint}, "multipartOver": {"8388608"}}.Encode()
	run := r.drive(t, tok.CompanionEndpoint, "upload", []string{small, big}, map[string]any{"pageURL": page})

	for _, name := range []string{"small photo.bin", "big video.bin"} {
		if _, ok := run.event("upload-success", name); !ok {
			t.Errorf("no upload-success for %s: %+v", name, run.Events)
		}
	}
	var forms, parts int
	for _, q := range run.Requests {
		switch {
		case q.Method == http.MethodPost && q.Path == "/uploads" && q.Outcome == float64(201):
			forms++
		case q.Method == http.MethodPut && strings.Contains(q.Path, "~part/") && q.Outcome == float64(200):
			parts++
			// What Google would check: the URL signs the host alone, so Uppy's bare PUT fits it.
			if !strings.Contains(q.Query, "X-Goog-SignedHeaders=host&") {
				t.Errorf("a part URL signs headers Uppy does not send: %s", q.Query)
			}
		}
	}
	if forms != 1 || parts != 3 {
		t.Errorf("%d forms and %d parts stored, want the small file's form and the big file's 3 parts of 5 MiB", forms, parts)
	}
	files := r.filesOf(t, 2)
	for name, sum := range map[string][32]byte{"small photo.bin": smallSum, "big video.bin": bigSum} {
		if f := files[name]; f.Subject != "gcs-user" || f.Metadata["app_ref"] != "page-7" {
			t.Errorf("%s: subject %q, metadata %q", name, f.Subject, f.Metadata)
		}
		r.checkCompletedOnce(t, files[name], sum)
	}
}

// TestUppyOnAzureIsRefusedWithWhatToUseInstead: Uppy's S3 plugin cannot upload to Azure Blob
// Storage — it sends a single file as a POST form, which Azure has no such thing as, and it
// fails every part whose answer has no ETag, which Put Block never gives — so both Companion
// routes that start an upload answer 501 before anything is recorded, saying so and naming
// what works instead; Uppy reports each file failed.
func TestUppyOnAzureIsRefusedWithWhatToUseInstead(t *testing.T) {
	dir, bundle := requireUppy(t)
	args, endpoint := azureStore(t)
	r := newAppRig(t, dir, bundle, nil, args...)
	allowAzureOrigin(t, endpoint, r.pageURL)
	small, _ := randomFile(t, "small photo.bin", 1<<20)
	big, _ := randomFile(t, "big video.bin", 12<<20)
	tok := r.mint(t, map[string]any{"subject": "azure-user"})
	page := r.pageURL + "/?" + url.Values{"companion": {tok.CompanionEndpoint}, "multipartOver": {"8388608"}}.Encode()
	run := r.drive(t, tok.CompanionEndpoint, "upload", []string{small, big}, map[string]any{"pageURL": page})

	for _, name := range []string{"small photo.bin", "big video.bin"} {
		i, ok := run.event("upload-error", name)
		if !ok {
			t.Errorf("no upload-error for %s: %+v", name, run.Events)
			continue
		}
		if !strings.Contains(run.Events[i].Message, "Not Implemented") {
			t.Errorf("%s: %q, want Uppy's report of the 501", name, run.Events[i].Message)
		}
	}
	// The JSON body says why and what to use: neither of Uppy's ways works on Azure, so no
	// Uppy option is offered.
	for _, route := range []struct{ method, path, body string }{
		{http.MethodGet, "/s3/params?filename=a.bin&type=application/octet-stream", ""},
		{http.MethodPost, "/s3/multipart", `{"filename":"a.bin","type":"application/octet-stream"}`},
	} {
		req, _ := http.NewRequest(route.method, tok.CompanionEndpoint+route.path, strings.NewReader(route.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, Message string }
		json.Unmarshal(body, &e)
		if resp.StatusCode != http.StatusNotImplemented || e.Error != "not_supported" || !strings.Contains(e.Message, "Uppy") ||
			!strings.Contains(e.Message, "presign.js") || strings.Contains(e.Message, "shouldUseMultipart") {
			t.Errorf("%s %s: %d %s", route.method, route.path, resp.StatusCode, body)
		}
	}
	var log struct {
		Entries []struct{ Action string }
	}
	r.admin.must(200, "GET", "/v1/audit?limit=1000&user_id="+r.userID, nil, &log)
	for _, e := range log.Entries {
		if e.Action == "ticket.issue" {
			t.Errorf("a refused route recorded an upload: %+v", log.Entries)
			break
		}
	}
}

// moduleUploadsSmallAndBig: the browser module, with an upload token for subject, uploads a 1
// MiB file in one PUT and a 12 MiB file in three 5 MiB parts (serve plans multipart from 8 MiB);
// both complete once with the token's subject and the same bytes. It returns what the driver
// saw, for the store's own checks.
func (r *uppyRig) moduleUploadsSmallAndBig(t *testing.T, subject string) *moduleRun {
	t.Helper()
	small, smallSum := randomFile(t, "small.bin", 1<<20)
	big, bigSum := randomFile(t, "big.bin", 12<<20)
	tok := r.mint(t, map[string]any{"subject": subject})
	run := r.driveModule(t, tok.Token, "upload", []string{small, big}, nil)
	for _, x := range run.Transfers {
		if x.State != "completed" || x.Result == nil || x.Result.Subject != subject {
			t.Errorf("%s ended %s (%+v): %+v", x.Name, x.State, x.Error, x.Result)
		}
	}
	files := r.filesOf(t, 2)
	r.checkCompletedOnce(t, files["small.bin"], smallSum)
	r.checkCompletedOnce(t, files["big.bin"], bigSum)
	return run
}

// TestModuleUploadsToAzureWithAnUploadToken: the browser module over Azure: a 1 MiB file in
// one Put Blob with the ticket's x-ms-blob-type and type, a 12 MiB file in three blocks (Put
// Block answers no ETag; completion commits the blocks the blob holds); both complete once
// with the token's subject and the same bytes.
func TestModuleUploadsToAzureWithAnUploadToken(t *testing.T) {
	dir, bundle := requireUppy(t)
	args, endpoint := azureStore(t)
	r := newAppRig(t, dir, bundle, nil, append(args, "--multipart-threshold", "8MiB", "--part-size", "5MiB")...)
	allowAzureOrigin(t, endpoint, r.pageURL)
	run := r.moduleUploadsSmallAndBig(t, "module-azure")
	store, _ := url.Parse(endpoint)
	var blobs, blocks int
	for _, q := range run.Requests {
		if q.Origin == "http://"+store.Host && q.Method == http.MethodPut && q.Outcome == float64(http.StatusCreated) {
			if q.Comp == "block" {
				blocks++
			} else {
				blobs++
			}
		}
	}
	if blobs != 1 || blocks != 3 {
		t.Errorf("%d Put Blob and %d Put Block stored, want 1 and 3", blobs, blocks)
	}
}

// TestModuleUploadsToGCSWithAnUploadToken: the browser module over GCS, against a bucket that
// checks every V4 signature as Google does: a 1 MiB file in one signed PUT with the ticket's
// Content-Type, x-goog-content-length-range and x-goog-if-generation-match, a 12 MiB file in
// three part objects, each with the size range its URL signs, composed at completion; both
// complete once with the token's subject and the same bytes.
func TestModuleUploadsToGCSWithAnUploadToken(t *testing.T) {
	dir, bundle := requireUppy(t)
	bucket := gcsStore(t)
	r := newAppRig(t, dir, bundle, nil, append(bucket.args, "--multipart-threshold", "8MiB", "--part-size", "5MiB")...)
	bucket.allowOrigin(t, r.pageURL)
	r.moduleUploadsSmallAndBig(t, "module-gcs")
	if singles, parts := bucket.signedPUTs(t); singles != 1 || parts != 3 {
		t.Errorf("the bucket stored %d single PUTs and %d part objects, want 1 and 3", singles, parts)
	}
}

// TestWebPageOverAzureResumesAfterAReloadAndPutsSmallFiles: presign's own page, served by
// presign serve --storage-provider azure, in headless Chromium: a 30 MiB file goes up in Put
// Blocks, the page is reloaded in the middle, and choosing the file again takes up the same
// upload (no new ticket), sends the blocks Azure lacks and completes; a chosen and a dropped
// small file go up in one Put Blob each with their ticket's headers. Every file is stored with
// its bytes.
func TestWebPageOverAzureResumesAfterAReloadAndPutsSmallFiles(t *testing.T) {
	requireWebBrowser(t)
	const fileName = "resumed on azure.bin"
	args, endpoint := azureStore(t)
	s := newWebSetup(t, fileName, args...)
	allowAzureOrigin(t, endpoint, s.pageURL)
	run, want := s.driveReload(t, fileName)
	// Block ids carry no part number the driver could read: Azure's listing is the reference.
	if len(run.StoredAtResume) == 0 || len(run.StoredAtResume) >= 6 {
		t.Errorf("Azure held blocks %v when the page resumed, want some of the 6", run.StoredAtResume)
	}
	s.checkReload(t, run, fileName, want)
}

// TestWebPageOverGCSResumesAfterAReloadAndPutsSmallFiles: presign's own page, unchanged, served
// by presign serve --storage-provider gcs, in headless Chromium, against a bucket that checks
// every V4 signature as Google does (gcsBucket): a 30 MiB file goes up in part objects, each a
// signed PUT with the x-goog-content-length-range its URL signs; the page is reloaded in the
// middle, and choosing the file again takes up the same upload, sends only the part objects the
// bucket lacks, and completion composes them; a chosen and a dropped small file go up in one
// signed PUT each with the ticket's Content-Type, x-goog-content-length-range and
// x-goog-if-generation-match. Every file is recorded with its bytes and type, read back from
// the emulator, and no part object is left.
func TestWebPageOverGCSResumesAfterAReloadAndPutsSmallFiles(t *testing.T) {
	requireWebBrowser(t)
	const fileName = "resumed on gcs.bin"
	bucket := gcsStore(t)
	s := newWebSetup(t, fileName, bucket.args...)
	bucket.allowOrigin(t, s.pageURL)
	run, want := s.driveReload(t, fileName)
	run.checkResumeSentOnlyMissingParts(t, run.ResumedAt)
	if n := run.singlePUTs(); n != 2 {
		t.Errorf("%d single PUTs stored, want 2 (the small files)", n)
	}
	s.checkReload(t, run, fileName, want)

	if singles, parts := bucket.signedPUTs(t); singles != 2 || parts < 6 {
		t.Errorf("the bucket stored %d single PUTs and %d part objects, want 2 and at least the 6 parts", singles, parts)
	}
	var list struct {
		Files []struct {
			Filename    string `json:"filename"`
			Key         string `json:"key"`
			ContentType string `json:"content_type"`
		}
	}
	s.user.must(200, "GET", "/v1/files", nil, &list)
	var keys []string
	for _, f := range list.Files {
		body, ct := bucket.object(t, f.Key)
		if w, ok := want[f.Filename]; !ok || !bytes.Equal(body, w) || ct != f.ContentType {
			t.Errorf("%s: the emulator holds %d bytes of type %q, want the file's %d bytes of type %q", f.Filename, len(body), ct, len(w), f.ContentType)
		}
		keys = append(keys, f.Key)
	}
	if names := bucket.objectNames(t); !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(keys))) {
		t.Errorf("the bucket holds %q, want only the files' objects %q (no part object left)", names, keys)
	}
}
