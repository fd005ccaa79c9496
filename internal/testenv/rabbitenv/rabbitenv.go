// Package rabbitenv gives tests a RabbitMQ broker: the machine's shared one (PRESIGN_AMQP_URL,
// or guest:guest at 127.0.0.1:5672), or a private node on ports of its own, whose broker a test
// may stop and start again without disturbing other tests. When neither can be had, tests are
// skipped — except under CI=true, where they fail.
package rabbitenv

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"presign/internal/testenv"
)

// URL returns the amqp:// URL of the shared broker, ending t (testenv.Missing) when it does
// not answer.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("PRESIGN_AMQP_URL")
	if u == "" {
		u = "amqp://guest:guest@127.0.0.1:5672/"
	}
	pu, err := url.Parse(u)
	if err == nil {
		err = waitPort(pu.Host, 2*time.Second)
	}
	if err != nil {
		testenv.Missing(t, "RabbitMQ at %s not available: %v", u, err)
	}
	return u
}

// binDir holds the scripts that run as the calling user; the ones in /usr/sbin switch to the
// rabbitmq user, whose Erlang cookie the private node does not share.
const binDir = "/usr/lib/rabbitmq/bin"

// Node is a private RabbitMQ node.
type Node struct {
	// URL is amqp://guest:guest@127.0.0.1:<port>/.
	URL string

	name, dir string
	cmd       *exec.Cmd
	done      chan struct{}
}

// Start runs a private node for t, waits until its broker accepts connections (this takes
// RabbitMQ several seconds, more on a loaded machine), and stops it when t ends.
func Start(t testing.TB) *Node {
	t.Helper()
	if _, err := os.Stat(filepath.Join(binDir, "rabbitmq-server")); err != nil {
		testenv.Missing(t, "RabbitMQ not installed (apt-get install rabbitmq-server): %v", err)
	}
	ports, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "presign-rabbit-") // short: Erlang limits socket path lengths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &Node{
		URL:  fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[0]),
		name: fmt.Sprintf("presigntest%d@localhost", ports[0]),
		dir:  dir,
	}
	conf := fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\nloopback_users = none\n", ports[0])
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(binDir, "rabbitmq-server"))
	cmd.Env = n.env(ports[0], ports[1])
	cmd.Stdout, cmd.Stderr = logf, logf
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("rabbitmq-server: %v", err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(n.done) }()
	t.Cleanup(n.halt)
	if err := n.waitBroker(3 * time.Minute); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("private RabbitMQ node: %v\n%s", err, log)
	}
	return n
}

func (n *Node) env(port, distPort int) []string {
	return append(os.Environ(),
		"HOME="+n.dir, // the node's own Erlang cookie
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.dir, "rabbitmq.conf"),
		"RABBITMQ_CONF_ENV_FILE=/dev/null",
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
}

// ctl runs rabbitmqctl against the node.
func (n *Node) ctl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "rabbitmqctl"), append([]string{"-n", n.name}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+n.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// StopBroker stops the broker (rabbitmqctl stop_app): connections are closed and refused until
// StartBroker.
func (n *Node) StopBroker(ctx context.Context) error { return n.ctl(ctx, "stop_app") }

// StartBroker starts the broker again and waits until it accepts connections.
func (n *Node) StartBroker(ctx context.Context) error {
	if err := n.ctl(ctx, "start_app"); err != nil {
		return err
	}
	return n.waitBroker(time.Minute)
}

func (n *Node) waitBroker(limit time.Duration) error {
	u, _ := url.Parse(n.URL)
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-n.done:
			return fmt.Errorf("rabbitmq-server exited during start-up")
		default:
		}
		if err := waitPort(u.Host, time.Second); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
	}
}

// halt stops the node, and kills it if it does not stop.
func (n *Node) halt() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n.ctl(ctx, "stop")
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		killGroup(n.cmd)
		<-n.done
	}
}

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
		time.Sleep(100 * time.Millisecond)
	}
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
