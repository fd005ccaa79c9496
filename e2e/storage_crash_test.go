package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/storage/disk"
)

// TestCrashDuringUploads runs 200 concurrent uploads against the node, kills it with SIGKILL
// while they are in flight, and restarts it: every upload that got its 200 reads back
// byte-identical, every visible object is whole, and no temporary or orphan file remains.
// One upload in ten stops halfway through its body until the kill, so that some are in
// flight whatever the machine's speed: concurrent uploads share the node evenly and would
// otherwise all end at about the same moment, on a quiet machine before the kill.
func TestCrashDuringUploads(t *testing.T) {
	node := storageNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "crash")

	const uploads = 200
	type upload struct {
		key  string
		body []byte
	}
	rng := rand.New(rand.NewPCG(1, 2))
	all := make([]upload, uploads)
	for i := range all {
		// Sizes on both sides of the disk node's 1 MiB segment threshold: small objects go to
		// segment files, larger ones to files of their own, whose count is checked below.
		body := make([]byte, 100<<10+rng.IntN(2<<20))
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		all[i] = upload{fmt.Sprintf("obj-%03d", i), body}
	}

	var acked sync.Map
	var nAcked atomic.Int32
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	killed := make(chan struct{}) // the stalled bodies go on once it is closed
	client := &http.Client{Timeout: time.Minute}
	for i, u := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			// Half presigned PUTs from a plain client, half header-signed by the SDK.
			if i%2 == 0 {
				pu := presignURL(t, http.MethodPut, ep, "/crash/"+u.key, nil, nil, time.Now(), time.Hour)
				var body io.Reader = bytes.NewReader(u.body)
				if i%10 == 0 {
					half := len(u.body) / 2
					body = io.MultiReader(bytes.NewReader(u.body[:half]), waitReader(killed), bytes.NewReader(u.body[half:]))
				}
				req, _ := http.NewRequest(http.MethodPut, pu, body)
				req.ContentLength = int64(len(u.body))
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Store(u.key, true)
					nAcked.Add(1)
				}
				return
			}
			_, err := awsClient(ep).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String(u.key), Body: bytes.NewReader(u.body)},
				func(o *s3.Options) { o.RetryMaxAttempts = 1 })
			if err == nil {
				acked.Store(u.key, true)
				nAcked.Add(1)
			}
		}()
	}
	close(startGate)
	deadline := time.Now().Add(30 * time.Second)
	for nAcked.Load() < 40 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	node.kill()
	close(killed)
	wg.Wait()
	t.Logf("%d of %d uploads acknowledged before SIGKILL", nAcked.Load(), uploads)
	if nAcked.Load() == uploads {
		t.Fatal("every upload finished before the kill; the test proved nothing")
	}

	node.restart("storage node")
	ep = node.url("storage node")
	c := awsClient(ep)
	ctx := context.Background()
	byKey := map[string][]byte{}
	for _, u := range all {
		byKey[u.key] = u.body
	}
	visible := map[string]bool{}
	ownFiles := 0 // visible objects above the segment threshold: each is one file
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("crash")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			visible[*o.Key] = true
			if *o.Size > disk.DefaultSmallMax {
				ownFiles++
			}
		}
	}
	for key := range visible {
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("crash"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("visible %s: %v", key, err)
		}
		got := readAll(t, g.Body)
		if sha256.Sum256(got) != sha256.Sum256(byKey[key]) {
			t.Errorf("%s is visible but not whole: %d bytes of %d", key, len(got), len(byKey[key]))
		}
	}
	acked.Range(func(k, _ any) bool {
		if !visible[k.(string)] {
			t.Errorf("%s was acknowledged but is gone after the crash", k)
		}
		return true
	})
	t.Logf("%d objects visible after restart", len(visible))

	tmp, _ := os.ReadDir(filepath.Join(node.data, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("%d temporary files remain after restart", len(tmp))
	}
	// Orphans (renamed but never committed) are removed by a background scan after start-up.
	countFiles := func() int {
		n := 0
		filepath.WalkDir(filepath.Join(node.data, "objects"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	deadline = time.Now().Add(10 * time.Second)
	for countFiles() != ownFiles && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := countFiles(); n != ownFiles {
		t.Errorf("%d object files for %d visible objects above 1 MiB: orphans remain", n, ownFiles)
	}
}

// TestKeysAreNeverPaths stores keys that would be dangerous or ambiguous as file names.
func TestKeysAreNeverPaths(t *testing.T) { forEachBackend(t, testKeysAreNeverPaths) }

func testKeysAreNeverPaths(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "keys")
	c := awsClient(ep)
	ctx := context.Background()
	keys := []string{
		"unicode/日本語/ünïcødé ✓.txt", "with spaces/a b c", "../x", "../../etc/passwd", "a", "a/b", "a/b/c",
		"./dot", "trailing/", "//double", "%2F", "null-free\u00a0nbsp", strings.Repeat("k", node.maxKey()),
	}
	for _, k := range keys {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(k), Body: strings.NewReader("v:" + k)}); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for _, k := range keys {
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("keys"), Key: aws.String(k)})
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		if got := readAll(t, g.Body); string(got) != "v:"+k {
			t.Fatalf("%q holds %q", k, got)
		}
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(strings.Repeat("k", node.maxKey()+1)), Body: strings.NewReader("x")})
	if apiCode(err) != "KeyTooLongError" {
		t.Fatalf("%d-byte key: %v", node.maxKey()+1, err)
	}
	// Nothing escaped the data directory.
	if _, err := os.Stat(filepath.Join(filepath.Dir(node.data), "x")); err == nil {
		t.Fatal("a key became a file outside the data directory")
	}
}

// TestSIGTERMDrainsUploads: an upload in flight when SIGTERM arrives completes, and the node
// then exits 0.
func TestSIGTERMDrainsUploads(t *testing.T) { forEachBackend(t, testSIGTERMDrainsUploads) }

func testSIGTERMDrainsUploads(t *testing.T, storageNode nodeFactory) {
	node := storageNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "drain")
	pr, pw := io.Pipe()
	u := presignURL(t, http.MethodPut, ep, "/drain/slow", nil, nil, time.Now(), time.Hour)
	req, _ := http.NewRequest(http.MethodPut, u, pr)
	req.ContentLength = 3 << 20
	result := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- -1
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	chunk := make([]byte, 1<<20)
	pw.Write(chunk)
	// The first megabyte may still sit in the kernel's accept queue; SIGTERM closes the
	// listener, and a connection the node never accepted is not one it must drain.
	waitInFlight(t, ep, 1)
	stopped := make(chan error, 1)
	go func() { stopped <- node.stop() }()
	time.Sleep(300 * time.Millisecond)
	pw.Write(chunk)
	time.Sleep(200 * time.Millisecond)
	pw.Write(chunk)
	pw.Close()
	if status := <-result; status != 200 {
		t.Fatalf("in-flight upload ended with %d", status)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, node.logs())
	}
}

// waitInFlight waits until the node at ep reports n S3 requests in flight.
func waitInFlight(t *testing.T, ep string, n int) {
	t.Helper()
	want := fmt.Sprintf("presign_storage_requests_in_flight %d\n", n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, b := httpDo(t, http.MethodGet, ep+"/_presign/metrics", nil, nil)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never reported %d requests in flight:\n%s", n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReader is a reader that blocks until done is closed, then ends: the pause in the middle
// of a body.
type waitReader chan struct{}

func (w waitReader) Read([]byte) (int, error) {
	<-w
	return 0, io.EOF
}
