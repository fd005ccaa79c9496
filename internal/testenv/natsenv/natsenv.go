// Package natsenv gives tests a NATS server with JetStream: the machine's shared one
// (PRESIGN_NATS_URL, or 127.0.0.1:4222), or a private nats-server that a test may stop and
// start again without disturbing other tests. When neither can be had, tests are skipped —
// except under CI=true, where they fail.
package natsenv

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"presign/internal/testenv"
)

// URL returns the nats:// URL of the shared server, ending t (testenv.Missing) when it does not
// answer.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PRESIGN_NATS_URL")
	if u == "" {
		u = "nats://127.0.0.1:4222"
	}
	pu, err := url.Parse(u)
	if err == nil {
		err = waitPort(pu.Host, 2*time.Second)
	}
	if err != nil {
		testenv.Missing(t, "NATS at %s not available: %v", u, err)
	}
	return u
}

// Server is a private nats-server with JetStream, its data in a directory of its own.
type Server struct {
	// URL is nats://127.0.0.1:<port>; it stays the same across Stop and Start.
	URL string

	bin, dir string
	port     int
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
}

// Start runs a private server for t and stops it when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		testenv.Missing(t, "nats-server not installed (apt-get install nats-server): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{URL: "nats://127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: t.TempDir(), port: port}
	if err := s.Start(); err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop, on the same port with the same data, and waits
// until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "nats.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port), "-js", "-sd", filepath.Join(s.dir, "js"))
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	// A port that answers is not yet a JetStream that answers; the sinks retry for that.
	if err := waitPort(fmt.Sprintf("127.0.0.1:%d", s.port), 20*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "nats.log"))
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// Stop stops the server gracefully (SIGTERM), as an operator would, and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// waitPort waits until a TCP connection to addr succeeds.
func waitPort(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
