package disk

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"presign/storage"
)

const (
	crashChildEnv = "PRESIGN_DISK_CRASH_CHILD" // the directory the child writes to
	crashRoundEnv = "PRESIGN_DISK_CRASH_ROUND"
	crashBucket   = "crash"
)

// crashContent is the body of one version: a header naming it, then bytes derived from the
// name. About one version in four is 1–3 MiB, a file of its own, and one in four 64 KiB to
// 1 MiB, streamed into a segment, so that kills land inside large writes of both kinds.
func crashContent(version string) []byte {
	h := fnv.New64a()
	h.Write([]byte(version))
	v := h.Sum64()
	size := int(v % 10000)
	switch v % 4 {
	case 0:
		size = DefaultSmallMax + int(v%(2<<20))
	case 1:
		size = bufferedMax + int(v%(DefaultSmallMax-bufferedMax-100))
	}
	seed := sha256.Sum256([]byte(version))
	data := make([]byte, size)
	rand.NewChaCha8(seed).Read(data)
	return append([]byte("v:"+version+"\n"), data...)
}

// wholeCrashContent reports whether data is exactly some version's crashContent.
func wholeCrashContent(data []byte) bool {
	i := bytes.IndexByte(data, '\n')
	if !bytes.HasPrefix(data, []byte("v:")) || i < 0 {
		return false
	}
	return bytes.Equal(data, crashContent(string(data[2:i])))
}

// runCrashChild writes objects into dir from several goroutines until it is killed, printing
// "ack <key> <md5>" for every PutObject that returned nil.
func runCrashChild(dir, round string) int {
	ctx := context.Background()
	b, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	if err := b.CreateBucket(ctx, crashBucket); err != nil && !errors.Is(err, storage.ErrBucketExists) {
		fmt.Fprintln(os.Stderr, "create bucket:", err)
		return 1
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("r%s/u/%d/%06d", round, w, i)
				version := key
				if i%3 == 0 { // a key every worker overwrites
					key = fmt.Sprintf("shared/%d", i%4)
					version = fmt.Sprintf("r%s/s/%d/%06d", round, w, i)
				}
				data := crashContent(version)
				if _, err := b.PutObject(ctx, crashBucket, key, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data))}), storage.PutOptions{}); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(1)
				}
				sum := md5.Sum(data)
				out.Lock()
				fmt.Fprintf(os.Stdout, "ack %s %x\n", key, sum) // one write: it reaches the pipe whole
				out.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// crashRun starts a child writing into dir, kills it with SIGKILL once it acknowledged at
// least acks puts plus a random pause, and returns the last acknowledged MD5 of each key.
func crashRun(t *testing.T, dir string, round, acks int) map[string]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s=%d", crashRoundEnv, round))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]string)
	sc := bufio.NewScanner(stdout)
	n := 0
	var killer *time.Timer
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			t.Fatalf("child printed %q", sc.Text())
		}
		acked[f[1]] = f[2]
		if n++; n == acks {
			killer = time.AfterFunc(time.Duration(rand.IntN(20))*time.Millisecond, func() { cmd.Process.Kill() })
		}
	}
	err = cmd.Wait()
	if killer == nil || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child ended by itself after %d acks: %v\n%s", n, err, stderr.String())
	}
	t.Logf("round %d: killed the child after %d acknowledged puts", round, n)
	return acked
}

// TestSIGKILLKeepsAcknowledgedObjectsWhole kills a writing process at random instants and
// checks after each kill that every acknowledged object reads back identical, that no visible
// object is torn, and that recovery leaves no temporary or unreferenced file, and no segment
// tail that no record points into.
func TestSIGKILLKeepsAcknowledgedObjectsWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills writer processes")
	}
	dir := t.TempDir()
	shared := make(map[string]string) // acknowledged MD5s of overwritten keys, all rounds
	for round := range 3 {
		acked := crashRun(t, dir, round, 60+rand.IntN(60))
		leftTmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
		filesBefore := len(objectFiles(t, dir))
		b, err := Open(t.Context(), Options{Dir: dir})
		if err != nil {
			t.Fatalf("reopen after the kill: %v", err)
		}
		if tmp, err := os.ReadDir(filepath.Join(dir, "tmp")); err != nil || len(tmp) != 0 {
			t.Errorf("tmp/ holds %d entries after Open (%v)", len(tmp), err)
		}
		checkTailsCut(t, b)
		for key, sum := range acked {
			if strings.HasPrefix(key, "shared/") {
				shared[key] = sum
				continue
			}
			info, data, err := getAll(t, b, key)
			if err != nil {
				t.Errorf("acknowledged %s: %v", key, err)
				continue
			}
			if got := md5.Sum(data); hex.EncodeToString(got[:]) != sum || info.ETag != sum {
				t.Errorf("acknowledged %s reads back with MD5 %x, ETag %s; acknowledged %s", key, got, info.ETag, sum)
			}
		}
		page, err := b.ListObjects(t.Context(), crashBucket, storage.ListOptions{MaxKeys: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			_, data, err := getAll(t, b, o.Key)
			if err != nil || !wholeCrashContent(data) || o.ETag != fmt.Sprintf("%x", md5.Sum(data)) {
				t.Errorf("visible object %s is torn or mislabelled (%d bytes, %v)", o.Key, len(data), err)
			}
		}
		for key := range shared {
			if _, err := b.HeadObject(t.Context(), crashBucket, key); err != nil {
				t.Errorf("%s was acknowledged and never deleted, but: %v", key, err)
			}
		}
		<-b.scanDone
		checkNoGarbage(t, b)
		t.Logf("round %d: recovery removed %d temporary and %d orphan files; %d objects visible", round,
			len(leftTmp), filesBefore-len(objectFiles(t, dir)), len(page.Objects))
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
	}
}

func getAll(t *testing.T, b *Backend, key string) (storage.ObjectInfo, []byte, error) {
	obj, err := b.GetObject(t.Context(), crashBucket, key)
	if err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	defer obj.Close()
	rc, err := obj.Range(t.Context(), 0, obj.Info().Size)
	if err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(rc)
	return obj.Info(), buf.Bytes(), err
}
