// Package seaweed runs a real SeaweedFS server ("weed server -s3") for tests that need a
// third-party S3 service: the storage node's S3 backend, the control plane against a foreign
// S3 cluster, and the gateway's end-to-end tests.
//
// The weed binary is built once per machine by scripts/build-seaweedfs.sh and cached in
// ~/.cache/presign/ (or $XDG_CACHE_HOME/presign/); PRESIGN_WEED names another binary. When it
// is missing, or the server does not come up, tests are skipped — except under CI=true, where
// they fail, so that CI never passes by not testing.
//
// Start gives a test a server of its own, stopped when the test ends. Shared gives every test
// of a test binary the same one, started on first use; a package using it stops it from its
// TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		seaweed.StopShared()
//		os.Exit(code)
//	}
//
// Each server has one bucket, created and written to before it is handed out (the first write
// to a new bucket makes SeaweedFS grow volumes, which takes seconds); tests share it by giving
// their objects distinct key prefixes.
package seaweed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/internal/testenv"
)

// Server is a running SeaweedFS with its S3 gateway on loopback.
type Server struct {
	// Endpoint is the S3 API's base URL, e.g. "http://127.0.0.1:40123". Address buckets in
	// the path (path-style).
	Endpoint string
	// AccessKey and SecretKey are the S3 credentials of an identity allowed everything.
	AccessKey, SecretKey string
	// Region to sign for; SeaweedFS accepts any.
	Region string
	// Bucket exists and has taken a first write.
	Bucket string
	// Dir holds the server's data and log (weed.log, in a numbered folder per start attempt).
	Dir string
	// PID is the weed process's id.
	PID int

	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a server for t alone and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Run(t.TempDir())
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return s
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Shared returns the server shared by the tests of this test binary, starting it on first
// use. StopShared stops it.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		dir, err := os.MkdirTemp("", "presign-seaweed-")
		if err == nil {
			shared.srv, err = Run(dir)
			if err != nil {
				os.RemoveAll(dir)
			}
		}
		shared.err = err
	}
	if shared.err != nil {
		unavailable(t, shared.err)
	}
	return shared.srv
}

// StopShared stops the shared server, if one was started, and removes its data.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		os.RemoveAll(shared.srv.Dir)
		shared.srv = nil
	}
}

// unavailable skips t, or fails it under CI.
func unavailable(t testing.TB, err error) {
	t.Helper()
	testenv.Missing(t, "SeaweedFS not available (%v); run scripts/build-seaweedfs.sh", err)
}

// Binary returns the path of the weed binary, or an error saying how to get it.
func Binary() (string, error) {
	if p := os.Getenv("PRESIGN_WEED"); p != "" {
		return p, nil
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "..", "scripts", "build-seaweedfs.sh")
	text, err := os.ReadFile(script)
	if err != nil {
		return "", fmt.Errorf("reading the build script for the version: %w", err)
	}
	m := regexp.MustCompile(`(?m)^version="([^"]+)"`).FindSubmatch(text)
	if m == nil {
		return "", fmt.Errorf("no version in %s", script)
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "presign", "weed-"+string(m[1]))
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("no weed binary at %s", bin)
	}
	return bin, nil
}

const (
	accessKey = "PRESIGNSEAWEEDKEY"
	secretKey = "presign-seaweed-secret"
	bucket    = "presign-test"
)

// Run starts a server keeping its data in dir (which stays the caller's to remove), and waits
// until its S3 API stores objects. Programs that are not tests (benchmarks) use it directly;
// Stop ends the server. A port taken between choosing and binding makes it try again.
func Run(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := range 3 {
		s, err := launch(bin, filepath.Join(dir, strconv.Itoa(attempt)))
		if err == nil {
			s.Dir = dir
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(bin, dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	config := fmt.Sprintf(`{"identities":[{"name":"presign","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","List","Tagging","Write"]}]}`, accessKey, secretKey)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(8)
	if err != nil {
		return nil, err
	}
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + dir,
		"-master.port=" + p(0), "-master.port.grpc=" + p(1), "-master.telemetry=false",
		"-master.volumeSizeLimitMB=256", "-volume.max=0",
		"-volume.port=" + p(2), "-volume.port.grpc=" + p(3),
		"-filer.port=" + p(4), "-filer.port.grpc=" + p(5), "-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + p(6), "-s3.port.grpc=" + p(7), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config=" + filepath.Join(dir, "s3.json"), "-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
	}
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// Node names of up to 1024 bytes (SeaweedFS allows 255 by default).
	cmd.Env = append(os.Environ(), "WEED_FILER_OPTIONS_MAX_FILE_NAME_LENGTH=1024")
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  "http://127.0.0.1:" + p(6),
		AccessKey: accessKey, SecretKey: secretKey, Region: "us-east-1", Bucket: bucket, PID: cmd.Process.Pid,
		cmd: cmd, done: make(chan struct{}),
	}
	go func() {
		cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(2 * time.Minute); err != nil {
		s.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "weed.log"))
		return nil, fmt.Errorf("%w\n%s", err, tail(log, 20))
	}
	return s, nil
}

// waitReady waits for the S3 API to answer, then creates the bucket and writes to it until a
// write succeeds (the first one waits for SeaweedFS to grow volumes).
func (s *Server) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	c := s3.New(s3.Options{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
	})
	var err error
	for ctx.Err() == nil {
		select {
		case <-s.done:
			return errors.New("weed exited during start-up")
		default:
		}
		if _, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err == nil || strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
			_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("ready"), Body: bytes.NewReader([]byte("ok"))})
			if err == nil {
				_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("ready")})
			}
			if err == nil {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("SeaweedFS S3 not ready after %v: %v", limit, err)
}

// Stop ends the server: SIGTERM, then SIGKILL after 15 seconds.
func (s *Server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func tail(b []byte, lines int) string {
	parts := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
