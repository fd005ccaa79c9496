package redisenv

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"presign/internal/testenv"
)

// Server is a redis-server of one test's own, which the test may kill and start again; a test
// must never stop the shared Redis of URL. It appends every write to its log and syncs it
// before answering (appendfsync always), so what it acknowledged survives a kill.
type Server struct {
	// URL is its redis:// URL.
	URL string

	t    testing.TB
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a redis-server on a free loopback port until t ends. Without a redis-server
// binary, t ends through testenv.Missing.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testenv.Missing(t, "no redis-server to start: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), t: t, port: port, dir: t.TempDir()}
	s.Restart()
	t.Cleanup(s.Kill)
	return s
}

// Kill ends the server with SIGKILL, as a crash would, and waits until it is gone.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts the server again on its port with its data, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port)); err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("redis-server on port %d exited at start", s.port)
		case <-time.After(20 * time.Millisecond):
		}
	}
	s.t.Fatalf("redis-server on port %d did not answer", s.port)
}
