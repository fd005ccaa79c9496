package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/internal/testenv/s3tools"
)

// The client tests drive the S3 command-line tools people use (rclone, s3cmd, the aws CLI,
// boto3, mc, s5cmd) against "presign storage" run as a process, each doing the ordinary
// things: make a bucket; small, big, streamed and forced-multipart uploads; metadata; stat;
// ranged reads; copy; move; sync both ways; listings past 1,000 keys; the tool's presign
// command with its default settings, fetched with curl; deletes; forced bucket removal; and
// the versioning, policy and ACL reads the tool makes. What a tool did is checked with
// aws-sdk-go-v2, not with the tool's own word.

// toolRig is one tool's storage node, scratch folder and environment.
type toolRig struct {
	node     *process
	endpoint string
	dir      string   // scratch files; also the tools' HOME, so no user configuration leaks in
	env      []string // added to every command's environment
	sdk      *s3.Client
}

// bigSize is the size of the "big" upload: above every tool's multipart threshold as the
// tests set it (5 MiB parts), three parts.
const bigSize = 12<<20 + 12345

func newToolRig(t *testing.T, extra ...string) *toolRig {
	t.Helper()
	node := storageNode(t, extra...)
	ep := node.url("storage node")
	g := &toolRig{node: node, endpoint: ep, dir: t.TempDir(), sdk: awsClient(ep)}
	g.env = []string{"HOME=" + g.dir, "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(g.dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(g.dir, "aws-credentials"), "AWS_ACCESS_KEY_ID=" + testAccessKey,
		"AWS_SECRET_ACCESS_KEY=" + testSecretKey, "AWS_DEFAULT_REGION=" + testRegion, "AWS_REGION=" + testRegion}
	return g
}

// environ is the process environment without the caller's AWS settings, plus the rig's.
func (g *toolRig) environ() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "RCLONE_") || strings.HasPrefix(kv, "MC_")
	})
	return append(env, g.env...)
}

// exec runs a command with stdin (may be nil) and returns its standard output; a failure's
// error carries the standard error.
func (g *toolRig) exec(stdin io.Reader, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = g.environ()
	cmd.Dir = g.dir
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\nstdout: %s\nstderr: %s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// run runs a command that must succeed.
func (g *toolRig) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := g.exec(nil, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pipe runs a command that must succeed, with data on its standard input.
func (g *toolRig) pipe(t *testing.T, data []byte, name string, args ...string) string {
	t.Helper()
	out, err := g.exec(bytes.NewReader(data), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// file writes a scratch file and returns its path.
func (g *toolRig) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(g.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// object returns an object's bytes, read with the SDK.
func (g *toolRig) object(t *testing.T, bucket, key string) []byte {
	t.Helper()
	out, err := g.sdk.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%s: %v", bucket, key, err)
	}
	return readAll(t, out.Body)
}

// head returns an object's HEAD answer, or nil when it does not exist.
func (g *toolRig) head(t *testing.T, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	out, err := g.sdk.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil
	}
	return out
}

// keys lists a prefix with the SDK.
func (g *toolRig) keys(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(g.sdk, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("listing %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

// bucketExists asks the node with the SDK.
func (g *toolRig) bucketExists(bucket string) bool {
	_, err := g.sdk.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	return err == nil
}

// manyKeys is how many objects the listing step lists: past S3's 1,000 per page.
const manyKeys = 1001

// populate puts n small objects under prefix with the SDK, in parallel, so that a tool's
// listing has more than one page to walk.
func (g *toolRig) populate(t *testing.T, bucket, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := g.sdk.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
				Key: aws.String(fmt.Sprintf("%sk%04d", prefix, i)), Body: strings.NewReader("x")})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// curl fetches a URL with curl, as a user pastes a presigned link, and returns the status and
// body. Headers are "Name: value".
func curl(t *testing.T, method, u string, headers ...string) (int, []byte) {
	t.Helper()
	bin := s3tools.Debian(t, "curl")
	args := []string{"-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}", u}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", u, err)
	}
	i := bytes.LastIndexByte(out, '\n')
	var status int
	fmt.Sscan(string(out[i+1:]), &status)
	return status, out[:i]
}

// presignedFetch fetches a URL a tool presigned and checks it returns want.
func presignedFetch(t *testing.T, u string, want []byte) {
	t.Helper()
	u = strings.TrimSpace(u)
	if !strings.HasPrefix(u, "http") {
		t.Fatalf("not a URL: %q", u)
	}
	status, body := curl(t, http.MethodGet, u)
	if status != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("curl of the presigned URL %s: %d %s", u, status, body)
	}
}

// sameTree checks that two local folders hold the same files.
func sameTree(t *testing.T, a, b string) {
	t.Helper()
	read := func(root string) map[string]string {
		files := map[string]string{}
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				data, _ := os.ReadFile(p)
				rel, _ := filepath.Rel(root, p)
				files[filepath.ToSlash(rel)] = string(data)
			}
			return nil
		})
		return files
	}
	fa, fb := read(a), read(b)
	if len(fa) == 0 || fmt.Sprint(fa) != fmt.Sprint(fb) {
		t.Fatalf("folders differ:\n%s: %v\n%s: %v", a, keysOf(fa), b, keysOf(fb))
	}
}

func keysOf(m map[string]string) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

// syncSource writes the local folder the sync steps upload: nested files, one with a space.
func (g *toolRig) syncSource(t *testing.T) string {
	t.Helper()
	for name, data := range map[string]string{"up/a.txt": "alpha\n", "up/sub/b.txt": "beta\n", "up/sub/deeper/c d.txt": "gamma\n"} {
		g.file(t, name, []byte(data))
	}
	return filepath.Join(g.dir, "up")
}

// checkSynced checks the objects the sync-up step made under prefix.
func (g *toolRig) checkSynced(t *testing.T, bucket, prefix string) {
	t.Helper()
	got := g.keys(t, bucket, prefix)
	want := []string{prefix + "a.txt", prefix + "sub/b.txt", prefix + "sub/deeper/c d.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("after sync: %q, want %q", got, want)
	}
	if string(g.object(t, bucket, prefix+"sub/b.txt")) != "beta\n" {
		t.Fatal("synced content differs")
	}
}

// isMultipart reports whether an object's ETag is a multipart one ("<md5>-<parts>").
func isMultipart(h *s3.HeadObjectOutput) bool {
	return h != nil && h.ETag != nil && strings.Contains(*h.ETag, "-")
}

// fails runs a command that must fail, and checks that its output names the S3 error code.
func (g *toolRig) fails(t *testing.T, code string, name string, args ...string) {
	t.Helper()
	_, err := g.exec(nil, name, args...)
	if err == nil {
		t.Fatalf("%s %v succeeded; want %s", filepath.Base(name), args, code)
	}
	if !strings.Contains(err.Error(), code) {
		t.Fatalf("want %s: %v", code, err)
	}
}
