package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/control"
	"presign/control/sqlite"
)

// childDB names the database a re-executed test binary writes to in TestAcknowledgedWritesSurviveKill.
const childDB = "PRESIGN_SQLITE_KILL_CHILD_DB"

// TestAcknowledgedWritesSurviveKill runs a writer in a child process that prints the id of
// every upload CreateUpload acknowledged, kills it with SIGKILL in mid-stream, and checks that
// every printed upload is in the reopened database: the group commit answers only after commit.
func TestAcknowledgedWritesSurviveKill(t *testing.T) {
	if path := os.Getenv(childDB); path != "" {
		writeUntilKilled(path)
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "control.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &control.User{ID: "usr-1", Username: "alice", PasswordHash: "h", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestAcknowledgedWritesSurviveKill$")
	cmd.Env = append(os.Environ(), childDB+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	lines := bufio.NewScanner(out)
	for len(acked) < 2000 && lines.Scan() {
		acked = append(acked, lines.Text())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 2000 {
		t.Fatalf("child acknowledged only %d uploads before it stopped", len(acked))
	}

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range acked {
		if _, err := s.Upload(ctx, id); err != nil {
			t.Fatalf("acknowledged upload %s lost after SIGKILL: %v", id, err)
		}
	}
	use, err := s.Usage(ctx, "usr-1")
	if err != nil {
		t.Fatal(err)
	}
	if use.Pending < len(acked) {
		t.Fatalf("usage counts %d pending uploads, %d were acknowledged", use.Pending, len(acked))
	}
}

// writeUntilKilled is the child: 16 writers create uploads and print each acknowledged id.
func writeUntilKilled(path string) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				id := fmt.Sprintf("upl-%09d", n.Add(1))
				u := &control.Upload{ID: id, UserID: "usr-1", Key: "u/usr-1/" + id + "/f", State: control.StatePending,
					Created: time.Now(), Expires: time.Now().Add(time.Hour)}
				if err := s.CreateUpload(ctx, u, control.Limits{}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println(id)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
