package disk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

// Crash tests of segments and compaction. The child processes run this test binary in a mode
// named by crashModeEnv (see TestMain).

const (
	crashModeEnv   = "PRESIGN_DISK_CRASH_MODE"
	churnSegSize   = 64 << 10
	compactSegSize = 128 << 10
)

// runChurnChild overwrites and deletes small objects from several goroutines, each owning its
// keys, while compaction passes run back to back, until it is killed. Before each operation it
// prints "try put <key> <version>" or "try del <key>", after it "ack <key>".
func runChurnChild(dir, round string) int {
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, SegmentSize: churnSegSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	if err := b.CreateBucket(ctx, crashBucket); err != nil && !errors.Is(err, storage.ErrBucketExists) {
		fmt.Fprintln(os.Stderr, "create bucket:", err)
		return 1
	}
	r, _ := strconv.Atoi(round)
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // one write: it reaches the pipe whole
		out.Unlock()
	}
	go func() {
		for {
			if _, err := b.compact(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "compact:", err)
				os.Exit(1)
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(r)))
			for i := 0; ; i++ {
				key := fmt.Sprintf("w%d/k%d", w, rng.IntN(16))
				if rng.IntN(8) == 0 {
					key = "m:" + key // streamed into its range
				}
				if rng.IntN(4) == 0 {
					say("try del %s", key)
					if _, err := b.DeleteObject(ctx, crashBucket, key); err != nil && !errors.Is(err, storage.ErrNoSuchKey) {
						fmt.Fprintln(os.Stderr, "delete:", err)
						os.Exit(1)
					}
				} else {
					v := r*1_000_000 + i
					data := versioned(key, v)
					say("try put %s %d", key, v)
					if _, err := b.PutObject(ctx, crashBucket, key, benchBody(data), storage.PutOptions{}); err != nil {
						fmt.Fprintln(os.Stderr, "put:", err)
						os.Exit(1)
					}
				}
				say("ack %s", key)
			}
		})
	}
	wg.Wait()
	return 0
}

// keyState is what a key may hold: a version, or nothing (-1).
type keyState struct {
	acked   int  // after the last acknowledged operation
	pending int  // after the operation begun but not acknowledged
	open    bool // whether such an operation exists
}

// startChild runs this test binary in mode with dir and round, and returns its stdout.
func startChild(t *testing.T, mode, dir string, round int) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashModeEnv+"="+mode, crashChildEnv+"="+dir, fmt.Sprintf("%s=%d", crashRoundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(stdout), &stderr
}

// waitKilled waits for a child that must have been killed.
func waitKilled(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended by itself: %v\n%s", err, stderr)
	}
}

// checkTailsCut fails t unless every segment of b, just opened, ends where its index entry
// says: Open cut what no commit pointed at.
func checkTailsCut(t *testing.T, b *Backend) {
	t.Helper()
	for _, id := range segmentIDs(t, b.dir) {
		info, ok := segInfoOf(t, b, id)
		if size := fileSize(t, b.segs.path(id)); !ok || size != info.end {
			t.Errorf("segment %x after Open: %d bytes, index entry %+v (%v)", id, size, info, ok)
		}
	}
}

// TestSIGKILLDuringSmallWritesAndCompaction kills a process that overwrites and deletes small
// objects while it compacts, at random instants, and checks after each kill that every key
// holds the state of its last acknowledged operation or of the one in flight, whole; that
// Open cut every uncommitted tail and removed every unreferenced segment; and that the segment
// accounting matches the records.
func TestSIGKILLDuringSmallWritesAndCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills writer processes")
	}
	dir := t.TempDir()
	states := make(map[string]*keyState)
	for round := range 4 {
		cmd, sc, stderr := startChild(t, "churn", dir, round)
		acks, want := 0, 200+rand.IntN(400)
		var killer *time.Timer
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 4 && f[0] == "try" && f[1] == "put":
				v, _ := strconv.Atoi(f[3])
				states[f[2]] = &keyState{acked: stateOf(states, f[2]), pending: v, open: true}
			case len(f) == 3 && f[0] == "try" && f[1] == "del":
				states[f[2]] = &keyState{acked: stateOf(states, f[2]), pending: -1, open: true}
			case len(f) == 2 && f[0] == "ack":
				s := states[f[1]]
				s.acked, s.open = s.pending, false
				if acks++; acks == want {
					killer = time.AfterFunc(time.Duration(rand.IntN(30))*time.Millisecond, func() { cmd.Process.Kill() })
				}
			default:
				t.Fatalf("child printed %q", sc.Text())
			}
		}
		waitKilled(t, cmd, stderr)
		if killer == nil {
			t.Fatalf("child ended after %d acknowledgements", acks)
		}
		segsBefore := len(segmentIDs(t, dir))
		b, err := Open(t.Context(), Options{Dir: dir, SegmentSize: churnSegSize})
		if err != nil {
			t.Fatalf("reopen after the kill: %v", err)
		}
		checkTailsCut(t, b)
		checkNoGarbage(t, b)
		segsOpen := len(segmentIDs(t, dir))
		for key, s := range states {
			got := -1
			obj, err := b.GetObject(t.Context(), crashBucket, key)
			if err == nil {
				data, rerr := readObject(t, obj)
				obj.Close()
				k, v, whole := parseVersioned(data)
				if rerr != nil || !whole || k != key {
					t.Fatalf("%s: torn or foreign content (%d bytes, %v)", key, len(data), rerr)
				}
				got = v
			} else if !errors.Is(err, storage.ErrNoSuchKey) {
				t.Fatalf("%s: %v", key, err)
			}
			if got != s.acked && (!s.open || got != s.pending) {
				t.Fatalf("%s holds %d; acknowledged %d, in flight %d (%v)", key, got, s.acked, s.pending, s.open)
			}
			*s = keyState{acked: got}
		}
		st, err := b.compact(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		checkNoGarbage(t, b)
		t.Logf("round %d: killed after %d acknowledgements; %d segments on disk at the kill, %d after Open, %d after a compaction pass (moved %d)",
			round, acks, segsBefore, segsOpen, len(segmentIDs(t, dir)), st.moved)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}

func stateOf(states map[string]*keyState, key string) int {
	if s, ok := states[key]; ok {
		return s.acked
	}
	return -1
}

// runCompactChild opens dir and runs compaction passes until it is killed, printing "ready"
// once open.
func runCompactChild(dir string) int {
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir, SegmentSize: compactSegSize})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	fmt.Println("ready")
	for {
		if _, err := b.compact(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "compact:", err)
			return 1
		}
	}
}

// TestSIGKILLDuringCompactionLosesNothing fills segments, deletes most of their objects, and
// kills a process compacting them at random instants: after each restart every kept object
// reads back whole, every deleted one stays deleted, and segments and index agree.
func TestSIGKILLDuringCompactionLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills compacting processes")
	}
	dir := t.TempDir()
	b := withBucket(t, openTest(t, Options{Dir: dir, SegmentSize: compactSegSize}))
	const n = 1600
	kept := make(map[string]bool)
	if err := b.CreateBucket(t.Context(), crashBucket); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				key := fmt.Sprint("k", i)
				if _, err := b.PutObject(t.Context(), crashBucket, key, benchBody(versioned(key, 0)), storage.PutOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range n {
		key := fmt.Sprint("k", i)
		if i%3 == 0 {
			kept[key] = true
			continue
		}
		if _, err := b.DeleteObject(t.Context(), crashBucket, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for round := range 4 {
		cmd, sc, stderr := startChild(t, "compact", dir, round)
		if !sc.Scan() || sc.Text() != "ready" {
			t.Fatalf("child did not start: %q\n%s", sc.Text(), stderr)
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		waitKilled(t, cmd, stderr)
		b := openTest(t, Options{Dir: dir, SegmentSize: compactSegSize})
		checkTailsCut(t, b)
		checkNoGarbage(t, b)
		todo := 0
		for _, id := range segmentIDs(t, dir) {
			if info, _ := segInfoOf(t, b, id); compactable(info) {
				todo++
			}
		}
		for i := range n {
			key := fmt.Sprint("k", i)
			obj, err := b.GetObject(t.Context(), crashBucket, key)
			if !kept[key] {
				if !errors.Is(err, storage.ErrNoSuchKey) {
					t.Fatalf("deleted %s: %v", key, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("kept %s: %v", key, err)
			}
			data, err := readObject(t, obj)
			obj.Close()
			if err != nil || !bytes.Equal(data, versioned(key, 0)) {
				t.Fatalf("kept %s reads back %d bytes (%v), not its content", key, len(data), err)
			}
		}
		t.Logf("round %d: %d segments after the restart, %d of them still to compact", round, len(segmentIDs(t, dir)), todo)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}
