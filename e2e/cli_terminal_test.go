//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// These tests run client commands on a pseudo-terminal, the only way to see what a person at a
// terminal sees: the password asked for without echo, and the progress bars, which are drawn
// only when stdout and stderr are a terminal with a size.

// ptyRun is a client command whose standard streams are one sized pseudo-terminal.
type ptyRun struct {
	cmd  *exec.Cmd
	ptmx *os.File // the terminal's master side: what the user types and sees
	mu   sync.Mutex
	out  bytes.Buffer
	read chan struct{} // closed once the terminal has nothing more to show
	done chan struct{} // closed once the command has ended
}

// startOnPTY runs a client command on a new 40×120 pseudo-terminal. The terminal is read all
// along, so the command never blocks on a full terminal.
func (c *cli) startOnPTY(args ...string) *ptyRun {
	c.t.Helper()
	cmd := c.command("", args...)
	cmd.Stdin = nil // StartWithSize puts the terminal on every stream left unset
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		c.t.Fatal(err)
	}
	r := &ptyRun{cmd: cmd, ptmx: ptmx, read: make(chan struct{}), done: make(chan struct{})}
	// The read ends (EIO on Linux) once the command, the terminal's last holder, has exited.
	go func() { io.Copy(lockedWriter{&r.mu, &r.out}, ptmx); close(r.read) }()
	go func() { cmd.Wait(); close(r.done) }()
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-r.done
		ptmx.Close()
		<-r.read
	})
	return r
}

// ansiEscape matches the terminal control sequences the bars are drawn with (CSI sequences
// such as cursor moves and line erases, and two-byte escapes).
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])`)

// output is what the terminal showed so far, without control sequences.
func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ansiEscape.ReplaceAllString(r.out.String(), "")
}

// terminalLines cuts a terminal's output at every carriage return and line feed: each redraw
// of a bar is a line of its own.
func terminalLines(out string) []string {
	return strings.FieldsFunc(out, func(c rune) bool { return c == '\r' || c == '\n' })
}

// typeIn sends keys to the command as a user at the terminal would.
func (r *ptyRun) typeIn(t *testing.T, keys string) {
	t.Helper()
	if _, err := r.ptmx.WriteString(keys); err != nil {
		t.Fatal(err)
	}
}

// echoes tells whether the terminal echoes what is typed. On Linux the master side reports
// the terminal's own modes.
func (r *ptyRun) echoes(t *testing.T) bool {
	t.Helper()
	sc, err := r.ptmx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var tio *unix.Termios
	if cerr := sc.Control(func(fd uintptr) { tio, err = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ECHO != 0
}

// wait returns the exit code and everything the terminal showed once the command has ended.
func (r *ptyRun) wait(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("the command did not end; the terminal shows:\n%s", r.output())
	}
	select {
	case <-r.read:
	case <-time.After(30 * time.Second):
		t.Fatalf("the terminal was still open 30 s after the command ended; it shows:\n%s", r.output())
	}
	return r.cmd.ProcessState.ExitCode(), r.output()
}

// loginOnPTY runs presign login for the admin on a terminal, waits for the password prompt
// and for the echo to be off, types password and Enter, checks the echo is back once the
// command has ended, and returns the exit code and the terminal's output.
func loginOnPTY(t *testing.T, c *cli, cp, password string) (int, string) {
	t.Helper()
	run := c.startOnPTY("login", cp, "--username", "admin")
	waitFor(t, "the password prompt", func() bool { return strings.Contains(run.output(), "Password: ") })
	// The prompt is written just before the echo is turned off: typing at once could race it.
	// A login that never turns it off fails here.
	waitFor(t, "the terminal's echo to be turned off", func() bool { return !run.echoes(t) })
	run.typeIn(t, password+"\r")
	code, out := run.wait(t)
	if !run.echoes(t) {
		t.Errorf("login left the terminal without echo")
	}
	return code, out
}

func TestCLILoginAsksForThePasswordOnTheTerminalWithoutEcho(t *testing.T) {
	p := serveProcess(t)
	cp := p.url("control plane")
	c := newCLI(t)
	config := filepath.Join(c.dir, "config.json")

	code, out := loginOnPTY(t, c, cp, e2eAdminPassword)
	if code != 0 || !strings.Contains(out, "Logged in to "+cp+" as admin") {
		t.Fatalf("login: exit %d; the terminal shows:\n%s", code, out)
	}
	if strings.Contains(out, e2eAdminPassword) {
		t.Fatalf("the password was echoed; the terminal shows:\n%s", out)
	}
	st, err := os.Stat(config)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	saved := must(os.ReadFile(config))
	var cfg struct{ URL, Username, Token string }
	if err := json.Unmarshal(saved, &cfg); err != nil {
		t.Fatalf("config %s: %v", saved, err)
	}
	if cfg.URL != cp || cfg.Username != "admin" || !strings.HasPrefix(cfg.Token, "pss_") {
		t.Fatalf("config %s", saved)
	}
	(&api{t: t, base: cp, token: cfg.Token}).must(200, "GET", "/v1/me", nil, nil)

	const wrong = "not-my-password-42"
	code, out = loginOnPTY(t, c, cp, wrong)
	if code != 3 || !strings.Contains(out, "presign: invalid_credentials") {
		t.Fatalf("login with a wrong password: exit %d, want 3 and a message; the terminal shows:\n%s", code, out)
	}
	if strings.Contains(out, wrong) {
		t.Fatalf("the wrong password was echoed; the terminal shows:\n%s", out)
	}
	if now := must(os.ReadFile(config)); !bytes.Equal(now, saved) {
		t.Fatalf("a failed login changed the config:\n%s\nwas\n%s", now, saved)
	}
}

// barLine is one drawing of an upload's bar: the name, the bar, then progress.go's status —
// bytes done / total (percent)  rate/s  ETA duration, where rate and ETA are "--" until known.
var barLine = regexp.MustCompile(`^clip\.bin +\[[^\]]{20,}\] +(\S+ [KMGTPE]?i?B) / 48\.0 MiB \( *(\d+)%\)  (\S+ [KMGTPE]?i?B|--)/s  ETA (\S+)\s*$`)

// etaDuration is a time.Duration rounded to the second, as the ETA shows it.
var etaDuration = regexp.MustCompile(`^(\d+h)?(\d+m)?\d+s$`)

// parseHumanBytes reads a size as humanBytes writes it ("5.44 MiB", "999 B").
func parseHumanBytes(t *testing.T, s string) float64 {
	t.Helper()
	num, unit, _ := strings.Cut(s, " ")
	v, err := strconv.ParseFloat(num, 64)
	i := strings.Index("BKMGTPE", unit[:1])
	if err != nil || i < 0 {
		t.Fatalf("size %q", s)
	}
	return v * math.Pow(1024, float64(i))
}

func TestCLIUploadDrawsABarWithBytesRateAndETAOnATerminal(t *testing.T) {
	p, px := serveBehindProxy(t)
	user, _ := adminAPI(t, p).newUser("tess", nil)
	c := newCLI(t)
	c.login(p, "tess")
	const size = 48 << 20
	path, _ := randomFile(t, "clip.bin", size)
	// At 16 MiB/s the upload takes about 3 s: some 20 redraws, with a rate known after 0.2 s.
	px.set(func(px *faultProxy) { px.upRate = 16 << 20 })

	code, out := c.startOnPTY("upload", path).wait(t)
	if code != 0 {
		t.Fatalf("upload: exit %d; the terminal shows:\n%s", code, out)
	}
	lines := terminalLines(out)
	var draws, midway, lastBar int
	full := false
	for i, l := range lines {
		m := barLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		draws, lastBar = draws+1, i
		pct, _ := strconv.Atoi(m[2])
		if pct < 100 && m[3] != "--" && etaDuration.MatchString(m[4]) {
			midway++
			// The ETA is the bytes left at the rate shown, rounded to the nearest second (the
			// shown sizes are rounded too, by well under a tenth of a second here).
			left := float64(size) - parseHumanBytes(t, m[1])
			eta, _ := time.ParseDuration(m[4])
			if want := left / parseHumanBytes(t, m[3]); math.Abs(eta.Seconds()-want) > 0.6 {
				t.Errorf("bar %q: ETA %s, but %.0f bytes left at that rate take %.1fs", l, m[4], left, want)
			}
		}
		if pct == 100 && m[1] == "48.0 MiB" {
			full = true
		}
	}
	if draws < 3 || midway < 1 || !full {
		t.Fatalf("%d bar drawings, %d midway with a rate and an ETA, reached 100%%: %v; the terminal shows:\n%q",
			draws, midway, full, out)
	}

	var files struct {
		Files []struct {
			ID       string
			Filename string
			Size     int64
		}
	}
	user.must(200, "GET", "/v1/files", nil, &files)
	if len(files.Files) != 1 || files.Files[0].Filename != "clip.bin" || files.Files[0].Size != size {
		t.Fatalf("files listed: %+v", files.Files)
	}
	id := files.Files[0].ID
	var up struct{ State string }
	user.must(200, "GET", "/v1/uploads/"+id, nil, &up)
	if up.State != "completed" {
		t.Fatalf("upload %s is %q", id, up.State)
	}
	// The id goes out once the bars are done, on a line of its own.
	if at := slices.Index(lines, id); at < lastBar {
		t.Fatalf("the id %s is not printed after the bars (line %d, last bar on line %d); the terminal shows:\n%q",
			id, at, lastBar, out)
	}
}
