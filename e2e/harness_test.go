package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/internal/testenv/seaweed"
)

// These tests run the presign binary as a real process, built once by TestMain, and talk to it
// with real S3 SDKs over loopback.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "presign-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "presign")
	build := exec.Command("go", "build", "-o", binary, "../cmd/presign")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	seaweed.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	testAccessKey = "PSTESTACCESSKEY"
	testSecretKey = "test-secret-key/with+symbols="
	testRegion    = "us-east-1"
)

// process is a running presign command.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	urls   map[string]string // service name → base URL, from the "listening" log lines
	data   string
	args   []string
	env    []string
	mu     sync.Mutex
	stderr strings.Builder
	done   chan error
	// keyLimit, when set, is the longest key of bucket "keys" the node can store (see maxKey).
	keyLimit int
	// maxFiles, when set, is the open-file limit the process runs under (soft and hard, so
	// that the Go runtime cannot raise it).
	maxFiles int
}

var listening = regexp.MustCompile(`msg="([^"]+) listening" url=(\S+)`)

// start runs the binary with args and waits until every expected service is listening.
func start(t *testing.T, env []string, args []string, services ...string) *process {
	t.Helper()
	p := &process{t: t, args: args, env: env}
	p.run(services)
	t.Cleanup(func() { p.stop() })
	return p
}

func (p *process) run(services []string) {
	t := p.t
	t.Helper()
	p.cmd = exec.Command(binary, p.args...)
	if p.maxFiles > 0 {
		p.cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, p.maxFiles), binary}, p.args...)...)
	}
	p.cmd.Env = append(os.Environ(), p.env...)
	stderr, _ := p.cmd.StderrPipe()
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.urls = map[string]string{}
	ready := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stderr)
		signalled := false
		for s.Scan() {
			line := s.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				p.urls[m[1]] = m[2]
			}
			all := len(p.urls) >= len(services)
			p.mu.Unlock()
			if all && !signalled {
				signalled = true
				close(ready)
			}
		}
	}()
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	select {
	case <-ready:
	case err := <-p.done:
		t.Fatalf("presign %v exited early: %v\n%s", p.args, err, p.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("presign %v did not start\n%s", p.args, p.logs())
	}
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *process) url(service string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.urls[service]
}

// stop sends SIGTERM and waits for the exit; it returns the exit error.
func (p *process) stop() error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(90 * time.Second):
		p.cmd.Process.Kill()
		return fmt.Errorf("did not stop after SIGTERM")
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() {
	p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// restart starts the same command again after it stopped.
func (p *process) restart(services ...string) {
	p.run(services)
}

// storageNode starts "presign storage" on a free port with fixed root keys.
func storageNode(t *testing.T, extra ...string) *process {
	t.Helper()
	data := t.TempDir()
	args := append([]string{"storage", "--data", data, "--addr", "127.0.0.1:0"}, extra...)
	p := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey}, args, "storage node")
	p.data = data
	return p
}

func awsClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:                     testRegion,
		Credentials:                credentials.NewStaticCredentialsProvider(testAccessKey, testSecretKey, ""),
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
}

func minioClient(t *testing.T, endpoint string) *minio.Client {
	t.Helper()
	host := strings.TrimPrefix(endpoint, "http://")
	c, err := minio.New(host, &minio.Options{
		Creds:           miniocreds.NewStaticV4(testAccessKey, testSecretKey, ""),
		Region:          testRegion,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpDo sends a request with a plain HTTP client and returns status, S3 error code and body.
func httpDo(t *testing.T, method, u string, h http.Header, body io.Reader) (int, string, []byte) {
	t.Helper()
	st, code, b, _ := httpDoHeader(t, method, u, h, body)
	return st, code, b
}

// httpDoHeader is httpDo that also returns the response's headers.
func httpDoHeader(t *testing.T, method, u string, h http.Header, body io.Reader) (int, string, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code := ""
	if m := regexp.MustCompile(`<Code>([^<]+)</Code>`).FindSubmatch(b); m != nil {
		code = string(m[1])
	}
	return resp.StatusCode, code, b, resp.Header
}
