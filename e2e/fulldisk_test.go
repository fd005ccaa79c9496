package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/internal/testenv"
)

// countingBody counts what the server read of a body.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestFullDiskRefusesWritesAndRecovers runs the storage node, with events, on a 48 MiB
// filesystem and fills it: a PUT that declares more than the free space is refused with 507
// InsufficientStorage before a byte of its body is read; other writes either succeed or get
// the same 507 (never a 500), leaving nothing partial; reads keep working; a delete is done
// or refused with 507, changing nothing; once space is freed writes resume, and every
// acknowledged change's event, every done delete's included, is delivered.
func TestFullDiskRefusesWritesAndRecovers(t *testing.T) {
	for _, free := range []int64{0, 6 << 10, 200 << 10, 1 << 20, 3 << 20} {
		t.Run(fmt.Sprintf("%d KiB left", free>>10), func(t *testing.T) { testFullDisk(t, free) })
	}
}

func testFullDisk(t *testing.T, free int64) {
	dir := testenv.Tmpfs(t, "48m")
	rc := newReceiver(t)
	node := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey},
		[]string{"storage", "--data", filepath.Join(dir, "node"), "--addr", "127.0.0.1:0",
			"--notify-url", rc.URL + "/hook", "--notify-secret", webhookSecret, "--notify-max-backoff", "200ms"},
		"storage node")
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "full")
	stored := map[string][]byte{}
	events := map[string]bool{}
	putKey := func(key string, body []byte) (int, string) {
		var q url.Values
		if len(body)%3 == 1 {
			q = url.Values{"X-Presign-Once": {"once-" + key}}
		}
		u := presignURL(t, http.MethodPut, ep, "/full/"+key, q, nil, time.Now(), time.Hour)
		st, code, _ := httpDo(t, http.MethodPut, u, nil, bytes.NewReader(body))
		if st == http.StatusOK {
			stored[key] = body
			events["s3:ObjectCreated:Put "+key] = true
		}
		return st, code
	}
	for i := range 10 {
		for _, size := range []int{4 << 10, 1<<20 + 512<<10} {
			key := fmt.Sprintf("before-%d-%d", size, i)
			if st, code := putKey(key, bytes.Repeat([]byte{byte(i)}, size)); st != http.StatusOK {
				t.Fatalf("PUT %s on an empty disk: %d %s", key, st, code)
			}
		}
	}
	// The second ballast's directory is made while there is room for it.
	refillDir := filepath.Join(dir, "refill")
	if err := os.Mkdir(refillDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ballast := testenv.FillDisk(t, dir)

	// A declared size above the free space: refused before the body.
	body := &countingBody{r: bytes.NewReader(make([]byte, 8<<20))}
	u := presignURL(t, http.MethodPut, ep, "/full/too-big", nil, nil, time.Now(), time.Hour)
	req, _ := http.NewRequest(http.MethodPut, u, body)
	req.ContentLength = 8 << 20
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(raw), "<Code>InsufficientStorage</Code>") {
		t.Fatalf("PUT of 8 MiB on a full disk: %d %s", resp.StatusCode, raw)
	}
	if body.n != 0 {
		t.Fatalf("%d bytes of the body were read before the refusal", body.n)
	}

	// Every kind of write: it fits in what is left, or gets 507; never anything else. Room
	// for a few writes is made first, so that the disk fills up in the middle of them: in a
	// body, a segment, the index or the outbox.
	st, err := os.Stat(ballast)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ballast, st.Size()-free); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range 40 {
		for _, size := range []int{4<<10 + i%3, 300 << 10, 1<<20 + 512<<10} {
			key := fmt.Sprintf("full-%d-%d", size, i)
			st, code := putKey(key, bytes.Repeat([]byte{'f'}, size))
			switch {
			case st == http.StatusInsufficientStorage && code == "InsufficientStorage":
				refused++
			case st != http.StatusOK:
				t.Fatalf("PUT %s of %d bytes on a full disk: %d %s, want 200 or 507 InsufficientStorage\n%s", key, size, st, code, node.logs())
			}
		}
	}
	if refused == 0 {
		t.Fatal("no write was refused: the disk was not full")
	}
	checkFullBucket(t, ep, stored)

	// A restart on the full disk: the node starts and serves what it has.
	if err := node.stop(); err != nil {
		t.Fatalf("stop on a full disk: %v\n%s", err, node.logs())
	}
	node.restart("storage node")
	ep = node.url("storage node")
	checkFullBucket(t, ep, stored)

	// Deletes on a full disk, with the webhook receiver down, so the outbox has to grow to
	// hold their events: the room deliveries freed in it is used up first by small writes,
	// made while the disk has space. Each delete is done (204, its event delivered below) or
	// refused with 507 and changes nothing (the object still reads back); never a 500, never
	// a delete without its event.
	rc.down.Store(true)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		key := fmt.Sprintf("pending-%d", i)
		if st, code := putKey(key, []byte{byte(i)}); st != http.StatusOK {
			t.Fatalf("PUT %s after space was freed: %d %s\n%s", key, st, code, node.logs())
		}
	}
	refill := testenv.FillDisk(t, refillDir)
	deleted := 0
	for key := range stored {
		u := presignURL(t, http.MethodDelete, ep, "/full/"+key, nil, nil, time.Now(), time.Hour)
		switch st, code, _ := httpDo(t, http.MethodDelete, u, nil, nil); {
		case st == http.StatusNoContent:
			deleted++
			delete(stored, key)
			events["s3:ObjectRemoved:Delete "+key] = true
		case st != http.StatusInsufficientStorage || code != "InsufficientStorage":
			t.Fatalf("DELETE %s on a full disk: %d %s, want 204 or 507 InsufficientStorage\n%s", key, st, code, node.logs())
		}
	}
	if deleted == 0 {
		t.Fatal("no delete succeeded on the full disk")
	}
	checkFullBucket(t, ep, stored)
	if err := os.Remove(refill); err != nil {
		t.Fatal(err)
	}
	rc.down.Store(false)

	// Freed space: writes resume, without a restart.
	for _, size := range []int{4 << 10, 300 << 10, 2 << 20} {
		key := fmt.Sprintf("after-%d", size)
		if st, code := putKey(key, bytes.Repeat([]byte{'a'}, size)); st != http.StatusOK {
			t.Fatalf("PUT %s after space was freed: %d %s\n%s", key, st, code, node.logs())
		}
	}
	checkFullBucket(t, ep, stored)
	if tmp, _ := os.ReadDir(filepath.Join(dir, "node", "tmp")); len(tmp) != 0 {
		t.Errorf("%d temporary files left by refused writes", len(tmp))
	}
	rc.waitFor(t, len(events), 30*time.Second)
	for _, e := range rc.events() {
		delete(events, e)
	}
	if len(events) > 0 {
		t.Errorf("events never delivered: %v", events)
	}
	t.Logf("%d writes refused on the full disk, %d objects deleted on it, %d stored", refused, deleted, len(stored))
}

// checkFullBucket checks that the bucket holds exactly stored, byte for byte.
func checkFullBucket(t *testing.T, ep string, stored map[string][]byte) {
	t.Helper()
	listed := 0
	for key, want := range stored {
		u := presignURL(t, http.MethodGet, ep, "/full/"+key, nil, nil, time.Now(), time.Hour)
		st, code, got := httpDo(t, http.MethodGet, u, nil, nil)
		if st != http.StatusOK || !bytes.Equal(got, want) {
			t.Fatalf("GET %s: %d %s, %d bytes of %d", key, st, code, len(got), len(want))
		}
		listed++
	}
	u := presignURL(t, http.MethodGet, ep, "/full", nil, nil, time.Now(), time.Hour)
	st, _, b := httpDo(t, http.MethodGet, u, nil, nil)
	if st != http.StatusOK {
		t.Fatalf("LIST on a full disk: %d %s", st, b)
	}
	if n := strings.Count(string(b), "<Key>"); n != len(stored) {
		t.Fatalf("%d keys listed, %d stored: something partial is visible", n, len(stored))
	}
}
