package serverproc

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"testing"
	"time"
)

// The test binary plays the server when SERVERPROC_CHILD says how.
const childEnv = "SERVERPROC_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "serve": // listens, logs as presign does, and exits 0 on SIGINT
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			os.Exit(3)
		}
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt)
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "up") }))
		log := slog.New(slog.NewTextHandler(os.Stderr, nil))
		log.Info("starting")
		log.Info("storage node listening", "url", "http://"+ln.Addr().String())
		<-stop
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "error: no such data directory")
		os.Exit(1)
	case "hang":
		fmt.Fprintln(os.Stderr, "still thinking")
		time.Sleep(time.Hour)
	}
	os.Exit(m.Run())
}

func child(t *testing.T, mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	return cmd
}

func TestServerIsReachableAtTheURLItLogged(t *testing.T) {
	p, err := Start(child(t, "serve"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || p.PID <= 0 {
		t.Fatalf("GET %s: %s, pid %d", p.URL, resp.Status, p.PID)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := http.Get(p.URL); err == nil {
		t.Fatal("the server still answers after Stop")
	}
}

func TestServerThatExitsOrNeverListensIsAnErrorWithItsLog(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"fail", "no such data directory"},
		{"hang", "still thinking"},
	} {
		_, err := Start(child(t, tc.mode), time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.mode, err, tc.want)
		}
	}
}
