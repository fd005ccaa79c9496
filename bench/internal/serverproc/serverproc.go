// Package serverproc runs the server a benchmark measures (presign, fsyncsink) as a process of
// its own: started, awaited until it logs the URL it listens on, and stopped. A process of its
// own gives the server its own runtime and its own figures in /proc, as in production.
package serverproc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Process is a running server.
type Process struct {
	// URL is where the server listens, from its log, e.g. "http://127.0.0.1:40123".
	URL string
	// PID is the server's process id.
	PID int
	cmd *exec.Cmd
	// drained is closed once the server's stderr is read to its end.
	drained chan struct{}
}

// listening matches the line both presign and fsyncsink log when they accept connections:
// msg="storage node listening" url=http://... or msg="fsyncsink listening" url=http://...
var listening = regexp.MustCompile(`listening"? .*\burl=(https?://\S+)`)

// Start starts cmd, whose stderr must be unset, and waits up to wait for it to log that it
// listens. Its standard output is discarded unless cmd sets one.
func Start(cmd *exec.Cmd, wait time.Duration) (*Process, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &Process{PID: cmd.Process.Pid, cmd: cmd, drained: make(chan struct{})}
	url := make(chan string, 1)
	var early []string // what it logged before it listened, for the error
	go func() {
		defer close(p.drained)
		s := bufio.NewScanner(stderr)
		found := false
		for s.Scan() {
			if found {
				continue // keep reading, so that the server never blocks on a full pipe
			}
			early = append(early, s.Text())
			if m := listening.FindStringSubmatch(s.Text()); m != nil {
				found = true
				url <- m[1]
			}
		}
	}()
	select {
	case p.URL = <-url:
		return p, nil
	case <-p.drained:
	case <-time.After(wait):
		cmd.Process.Kill()
	}
	<-p.drained
	err = cmd.Wait()
	return nil, fmt.Errorf("%s did not start listening (%v):\n%s", cmd.Path, err, strings.Join(early, "\n"))
}

// Stop interrupts the server, as Ctrl-C would, and waits for it to exit; a server still there
// after 30 s is killed.
func (p *Process) Stop() error {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.drained:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.drained
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) && !exit.Exited() {
		return nil // ended by the signal it was sent
	}
	return err
}
