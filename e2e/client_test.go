package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/client"
)

// These tests drive the Go SDK against presign serve as a real process, with a TCP proxy
// between the client and the storage node that counts and injures the traffic.

func TestSDKUploads200MiBInFourParallelPartsAndDownloadsTheSameBytes(t *testing.T) {
	p, px := serveBehindProxy(t)
	c := sdkUser(t, p, "olga", nil)
	const size = 200 << 20
	path, sum := randomFile(t, "big.bin", size)
	var mu sync.Mutex
	var seen []client.Progress
	var start client.Start
	f, err := c.UploadFile(t.Context(), path, &client.UploadOptions{
		Progress: func(pr client.Progress) { mu.Lock(); seen = append(seen, pr); mu.Unlock() },
		Started:  func(s client.Start) { start = s },
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != size || f.Filename != "big.bin" || f.ContentType != "application/octet-stream" {
		t.Fatalf("file %+v", f)
	}
	if !start.Multipart || start.PartCount != 13 || start.Resumed {
		t.Fatalf("start %+v: want a new 13-part upload (16 MiB parts)", start)
	}
	if last := seen[len(seen)-1]; last.Done != size || last.Total != size {
		t.Fatalf("last progress %+v", last)
	}
	reqs := px.requests(false)
	parts := partPUTs(reqs)
	slices.Sort(parts)
	if !slices.Equal(parts, missing(13, nil)) {
		t.Fatalf("part PUTs %v: want each of the 13 parts once", parts)
	}
	for _, r := range reqs {
		// The part's CRC-32C is signed into its URL, so the store checks the bytes without the
		// client paying for an MD5.
		crc, signed := r.Header.Get("X-Amz-Checksum-Crc32c"), r.URL.Query().Get("X-Amz-SignedHeaders")
		if r.Part > 0 && (len(crc) != 8 || !strings.Contains(signed, "x-amz-checksum-crc32c") || r.Header.Get("Content-Md5") != "" ||
			r.Status != 200 || r.Header.Get("Authorization") != "") {
			t.Fatalf("part %d: CRC-32C %q signed in %q, Content-MD5 %q, status %d, Authorization %q", r.Part, crc, signed,
				r.Header.Get("Content-Md5"), r.Status, r.Header.Get("Authorization"))
		}
	}
	if px.maxInflight != 4 {
		t.Fatalf("at most %d parts were in flight at once, want 4", px.maxInflight)
	}

	out := filepath.Join(t.TempDir(), "back.bin")
	if _, err := c.DownloadFile(t.Context(), f.ID, out, nil); err != nil {
		t.Fatal(err)
	}
	if fileSHA256(t, out) != sum {
		t.Fatal("the downloaded bytes differ from the uploaded ones")
	}
}

func TestSDKUploadCompletesThroughConnectionsCutMidPart(t *testing.T) {
	p, px := serveBehindProxy(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	c := sdkUser(t, p, "pete", nil)
	attempts := map[string]int{}
	px.set(func(px *faultProxy) {
		px.cutUpload = func(r *proxiedRequest) int64 {
			if r.Method != "PUT" {
				return -1
			}
			k := r.URL.Path + "#" + r.URL.Query().Get("partNumber")
			attempts[k]++
			// Every even part is cut twice, 1 MiB in; the single PUT once, half way.
			switch {
			case r.Part == 0 && attempts[k] == 1:
				return 1 << 20
			case r.Part%2 == 0 && r.Part > 0 && attempts[k] <= 2:
				return 1<<20 + int64(r.Part)*4096
			}
			return -1
		}
	})
	for _, tc := range []struct {
		name     string
		size     int64
		wantCuts int
	}{
		{"parts.bin", 38 << 20, 8}, // 8 parts, 4 of them even, each cut twice
		{"single.bin", 3 << 20, 1}, // a single PUT with a once-URL, released by the failed write
	} {
		px.requests(true)
		path, sum := randomFile(t, tc.name, tc.size)
		f, err := c.UploadFile(t.Context(), path, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if px.cuts != tc.wantCuts {
			t.Errorf("%s: %d cuts, want %d", tc.name, px.cuts, tc.wantCuts)
		}
		var buf bytes.Buffer
		if _, err := c.DownloadTo(t.Context(), f.ID, &buf, nil); err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(buf.Bytes()) != sum {
			t.Fatalf("%s: the downloaded bytes differ", tc.name)
		}
	}
}

func TestSDKDownloadResumesWithRangeAfterCutsAndAcrossCalls(t *testing.T) {
	p, px := serveBehindProxy(t)
	c := sdkUser(t, p, "quin", nil)
	const size = 30 << 20
	path, sum := randomFile(t, "movie.mp4", size)
	f, err := c.UploadFile(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.SHA256 == "" || f.ContentType != "video/mp4" {
		t.Fatalf("a single PUT declares its SHA-256 and type: %+v", f)
	}

	// Within one call: the first three connections are cut after 4, 8 and 12 MiB of answer.
	px.requests(true)
	px.set(func(px *faultProxy) {
		px.cutDownload = func(conn int) int64 {
			if conn <= 3 {
				return int64(conn) * 4 << 20
			}
			return -1
		}
	})
	out := filepath.Join(t.TempDir(), "movie.mp4")
	if _, err := c.DownloadFile(t.Context(), f.ID, out, nil); err != nil {
		t.Fatal(err)
	}
	if fileSHA256(t, out) != sum {
		t.Fatal("downloaded bytes differ")
	}
	var ranges []string
	for _, r := range px.requests(true) {
		if r.Method == "GET" {
			ranges = append(ranges, r.Header.Get("Range"))
		}
	}
	if len(ranges) != 4 || ranges[0] != "" || !strings.HasPrefix(ranges[1], "bytes=") || !strings.HasPrefix(ranges[3], "bytes=") {
		t.Fatalf("GETs with ranges %q: want a whole GET, then three resumed with Range", ranges)
	}

	// Across calls: a download cancelled at 10 MiB leaves its partial file; the next call
	// starts where it stopped.
	px.set(func(px *faultProxy) { px.cutDownload = nil })
	out2 := filepath.Join(t.TempDir(), "again.mp4")
	ctx, cancel := context.WithCancel(t.Context())
	_, err = c.DownloadFile(ctx, f.ID, out2, &client.DownloadOptions{Progress: func(pr client.Progress) {
		if pr.Done >= 10<<20 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled download: %v", err)
	}
	st, err := os.Stat(client.PartialPath(out2, f.ID))
	if err != nil || st.Size() < 10<<20 || st.Size() >= size {
		t.Fatalf("partial file: %v, %v", st, err)
	}
	if _, err := os.Stat(out2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the target exists before the download is complete: %v", err)
	}
	px.requests(true)
	var resumed int64
	if _, err := c.DownloadFile(t.Context(), f.ID, out2, &client.DownloadOptions{Progress: func(pr client.Progress) { resumed = pr.Resumed }}); err != nil {
		t.Fatal(err)
	}
	gets := px.requests(false)
	if len(gets) != 1 || gets[0].Header.Get("Range") != "bytes="+strconv.FormatInt(st.Size(), 10)+"-" || resumed != st.Size() {
		t.Fatalf("resumed download: %d requests, Range %q, resumed %d; want one GET from byte %d", len(gets), gets[0].Header.Get("Range"), resumed, st.Size())
	}
	if fileSHA256(t, out2) != sum {
		t.Fatal("resumed download differs")
	}
	if _, err := os.Stat(client.PartialPath(out2, f.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the partial file is left behind")
	}
}

// interruptedUpload starts an upload of data under key and cancels it once cancelAt bytes
// are in flight or stored; it returns the upload's id and the part numbers the store holds.
func interruptedUpload(t *testing.T, c *client.Client, stateDir, key string, data []byte, cancelAt int64) (string, []int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var start client.Start
	_, err := c.Upload(ctx, "data.bin", bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
		StateDir: stateDir, ResumeKey: key, Concurrency: 2,
		Started: func(s client.Start) { start = s },
		Progress: func(pr client.Progress) {
			if pr.Done >= cancelAt {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted upload: %v", err)
	}
	stored, err := c.StoredParts(t.Context(), start.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	var have []int
	for _, pt := range stored {
		have = append(have, pt.Number)
	}
	if len(have) < 2 || len(have) > 6 || !slices.Contains(have, 1) {
		t.Fatalf("stored after the interruption: %v", have)
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) != 1 {
		t.Fatalf("state files: %v", ents)
	}
	return start.UploadID, have
}

func TestSDKResumedUploadSendsOnlyMissingPartsAndResendsChangedOnes(t *testing.T) {
	p, px := serveBehindProxy(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	c := sdkUser(t, p, "rita", nil)
	data := make([]byte, 105<<20) // 21 parts; from 100 MiB on no whole-file SHA-256 is declared
	if _, err := io.ReadFull(rand.Reader, data); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	id, have := interruptedUpload(t, c, stateDir, "rita/data", data, 25<<20)

	// Part 1 changes locally: its stored copy no longer matches and is sent again.
	data[100] ^= 0xff
	px.requests(true)
	var second client.Start
	f, err := c.Upload(t.Context(), "data.bin", bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
		StateDir: stateDir, ResumeKey: "rita/data", Started: func(s client.Start) { second = s }})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || second.UploadID != id || second.StoredParts != len(have) {
		t.Fatalf("second run %+v; first %s with parts %v", second, id, have)
	}
	sent := partPUTs(px.requests(false))
	slices.Sort(sent)
	if want := append([]int{1}, missing(21, have)...); !slices.Equal(sent, want) {
		t.Fatalf("parts sent when resuming: %v, want %v (stored: %v)", sent, want, have)
	}
	var buf bytes.Buffer
	if _, err := c.DownloadTo(t.Context(), f.ID, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("the object is not the local bytes")
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) != 0 {
		t.Fatalf("state left after completion: %v", ents)
	}
}

func TestSDKResumeStartsOverWhenTheDeclaredSHA256NoLongerMatches(t *testing.T) {
	p, px := serveBehindProxy(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	c := sdkUser(t, p, "ruth", nil)
	data := make([]byte, 40<<20) // 8 parts, whole-file SHA-256 declared
	if _, err := io.ReadFull(rand.Reader, data); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	id, _ := interruptedUpload(t, c, stateDir, "ruth/data", data, 20<<20)
	data[len(data)-1] ^= 0xff
	px.requests(true)
	var second client.Start
	f, err := c.Upload(t.Context(), "data.bin", bytes.NewReader(data), int64(len(data)), &client.UploadOptions{
		StateDir: stateDir, ResumeKey: "ruth/data", Started: func(s client.Start) { second = s }})
	if err != nil {
		t.Fatal(err)
	}
	if second.Resumed || second.UploadID == id || len(partPUTs(px.requests(false))) != 8 {
		t.Fatalf("second run %+v (first %s): want a new upload of all 8 parts", second, id)
	}
	if u, err := c.UploadStatus(t.Context(), id); err != nil || u.State != "failed" {
		t.Fatalf("the abandoned upload: %+v %v", u, err)
	}
	sum := sha256.Sum256(data)
	if f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("recorded SHA-256 %s is not the content's", f.SHA256)
	}
	var buf bytes.Buffer
	if _, err := c.DownloadTo(t.Context(), f.ID, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("download: %v", err)
	}
}

func TestSDKErrorsAreTypedAndChecksumsAreVerifiedByTheStore(t *testing.T) {
	p, px := serveBehindProxy(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB")
	adminAPI(t, p).newUser("sven", map[string]any{"max_object_bytes": 20 << 20})
	c, err := client.New(p.url("control plane"), &client.Options{Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var ae *client.APIError
	if _, err := c.List(ctx, "", 0); !client.IsUnauthenticated(err) {
		t.Errorf("no token: %v", err)
	}
	if _, err := c.Login(ctx, "sven", "wrong-password"); !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "invalid_credentials" || !client.IsUnauthenticated(err) {
		t.Errorf("wrong password: %#v", err)
	}
	if _, err := c.Login(ctx, "sven", "sven-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.File(ctx, "01nosuchfile"); !client.IsNotFound(err) {
		t.Errorf("unknown id: %v", err)
	}
	if err := c.Delete(ctx, "01nosuchfile"); !client.IsNotFound(err) {
		t.Errorf("delete unknown id: %v", err)
	}
	if _, err := c.Upload(ctx, "big.iso", bytes.NewReader(nil), 21<<20, &client.UploadOptions{NoChecksums: true}); !errors.As(err, &ae) || ae.Code != "object_too_large" || !client.IsRefused(err) {
		t.Errorf("policy refusal: %v", err)
	}

	// A byte flipped on the wire: the store refuses the part by its signed CRC-32C
	// (BadDigest), the client does not retry a 4xx, and the upload is aborted.
	px.set(func(px *faultProxy) {
		px.corrupt = func(r *proxiedRequest) int64 {
			if r.Part == 2 {
				return 12345
			}
			return -1
		}
	})
	path, _ := randomFile(t, "flip.bin", 12<<20)
	var start client.Start
	_, err = c.UploadFile(ctx, path, &client.UploadOptions{Started: func(s client.Start) { start = s }})
	var se *client.StorageError
	if !errors.As(err, &se) || se.Status != 400 || se.Code != "BadDigest" {
		t.Fatalf("corrupted part: %v", err)
	}
	sends := 0
	for _, n := range partPUTs(px.requests(false)) {
		if n == 2 {
			sends++
		}
	}
	if sends != 1 {
		t.Errorf("part 2 was sent %d times, want once", sends)
	}
	if u, err := c.UploadStatus(ctx, start.UploadID); err != nil || u.State != "failed" {
		t.Errorf("upload after a refused part: %+v, %v", u, err)
	}

	// Part checksums must be one valid CRC-32C per part number.
	tk, err := c.NewTicket(ctx, client.TicketRequest{Filename: "p.bin", Size: 12 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, crc := range [][]string{{"AAAAAA==", "AAAAAA=="}, {"not base64"}, {"AAAAAAAA"}} {
		if _, err := c.PartURLs(ctx, tk.ID, []int{1}, crc); !errors.As(err, &ae) || ae.Code != "invalid_request" {
			t.Errorf("part checksums %q: %v", crc, err)
		}
	}
}

func TestSDKSharesListsAndDeletesAndAnAppHandsATicketToABrowser(t *testing.T) {
	p := serveProcess(t)
	c := sdkUser(t, p, "tess", nil)
	ctx := t.Context()
	body := []byte("hello, presigned world\n")
	f, err := c.Upload(ctx, "hello.txt", bytes.NewReader(body), int64(len(body)), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Share(ctx, f.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(l.Expires); d < 9*time.Minute || d > 10*time.Minute+5*time.Second {
		t.Errorf("share expires in %v, want 10m", d)
	}
	resp, err := http.Get(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, body) || !strings.Contains(resp.Header.Get("Content-Disposition"), `filename="hello.txt"`) {
		t.Fatalf("shared URL: %d %q %q", resp.StatusCode, got, resp.Header.Get("Content-Disposition"))
	}
	if _, err := c.Share(ctx, f.ID, 2*time.Hour); !client.IsRefused(err) {
		t.Errorf("share longer than the policy allows: %v", err)
	}

	// An application's server holds an API key, asks for a ticket, and hands the URL and
	// headers to a browser (here: net/http), which PUTs the bytes straight to the store.
	key, err := c.CreateAPIKey(ctx, "web app", "tess-password", 0)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := client.New(p.url("control plane"), &client.Options{Token: key.Key})
	avatar := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	sum := sha256.Sum256(avatar)
	tk, err := app.NewTicket(ctx, client.TicketRequest{Filename: "avatar.png", Size: int64(len(avatar)), ContentType: "image/png", SHA256: hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(tk.Method, tk.URL, bytes.NewReader(avatar))
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("browser PUT: %v %v", resp, err)
	}
	resp.Body.Close()
	af, err := app.Complete(ctx, tk.ID, nil)
	if err != nil || af.Size != int64(len(avatar)) {
		t.Fatalf("complete: %+v %v", af, err)
	}

	var names []string
	for f, err := range c.Files(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, f.Filename)
	}
	if !slices.Equal(names, []string{"avatar.png", "hello.txt"}) {
		t.Fatalf("files %v", names)
	}
	if err := c.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.File(ctx, f.ID); !client.IsNotFound(err) {
		t.Fatalf("deleted file: %v", err)
	}
	if _, err := c.Share(ctx, f.ID, time.Minute); !client.IsNotFound(err) {
		t.Fatalf("share of a deleted file: %v", err)
	}
}
