package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Gateway nodes: several presign storage nodes in front of one S3 service (SeaweedFS),
// sharing single-use nonces and revocations through Redis.

var errCode = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// raceNodes sends the request of one URL (signed for the shared host) to every node at the same
// moment and returns the statuses and error codes.
func raceNodes(t *testing.T, nodes []*process, method, signed string, body []byte) (statuses []int, codes []string) {
	t.Helper()
	statuses, codes = make([]int, len(nodes)), make([]string, len(nodes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			<-start
			resp, err := sendTo(t, n, method, signed, body)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			statuses[i] = resp.StatusCode
			if m := errCode.FindSubmatch(b); m != nil {
				codes[i] = string(m[1])
			}
		})
	}
	close(start)
	wg.Wait()
	return statuses, codes
}

// TestOnceURLWorksOnceAcrossGatewayNodes uses each single-use URL against two nodes at the
// same moment: exactly one of them serves it, the other refuses it as used.
func TestOnceURLWorksOnceAcrossGatewayNodes(t *testing.T) {
	g := newGateway(t)
	nodes := []*process{g.node(t), g.node(t)}
	mustCreateBucket(t, nodes[0].url("storage node"), "once")
	c := awsClient(nodes[1].url("storage node"))
	if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("once"), Key: aws.String("shared.txt"), Body: strings.NewReader("shared")}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 30 {
		method, path, body := http.MethodGet, "/once/shared.txt", []byte(nil)
		if i%2 == 0 {
			method, path, body = http.MethodPut, fmt.Sprintf("/once/upload-%d", i), []byte(fmt.Sprintf("upload %d", i))
		}
		u := sharedURL(t, method, path, url.Values{"X-Presign-Once": {fmt.Sprintf("race-%d-%d", now.UnixNano(), i)}}, now)
		statuses, codes := raceNodes(t, nodes, method, u, body)
		ok := 0
		for j, st := range statuses {
			switch {
			case st == http.StatusOK:
				ok++
			case st != http.StatusForbidden || codes[j] != "AccessDenied":
				t.Fatalf("URL %d (%s) at node %d: %d %s, want 200 or 403 AccessDenied", i, method, j, st, codes[j])
			}
		}
		if ok != 1 {
			t.Fatalf("URL %d (%s) used at both nodes at once: %d successes %v, want exactly 1", i, method, ok, statuses)
		}
	}
}

// revokeAt records revocations through a node's revoke call (see docs/revocation.md).
func revokeAt(t *testing.T, node *process, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, node.url("storage node")+"/_presign/revoke", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("Content-Type", "application/json")
	if _, err := rootSigner.SignRequest(req, hex.EncodeToString(sum[:]), time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke call: %d %s", resp.StatusCode, b)
	}
}

func revokeTicketBody(id string) string {
	return `{"revocations":[{"id":"` + id + `","until":"` + time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"}]}`
}

// TestRevokedDownloadStopsAtEveryGatewayNode: a download URL in use at two nodes stops working
// at both as soon as it is revoked through one of them; the user's other URLs stop with a
// user-wide revocation, and URLs signed after it work.
func TestRevokedDownloadStopsAtEveryGatewayNode(t *testing.T) {
	g := newGateway(t)
	nodes := []*process{g.node(t), g.node(t)}
	mustCreateBucket(t, nodes[0].url("storage node"), "docs")
	if _, err := awsClient(nodes[0].url("storage node")).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("report.pdf"), Body: strings.NewReader("the report")}); err != nil {
		t.Fatal(err)
	}
	signedAt := time.Now().Add(-time.Minute)
	download := sharedURL(t, http.MethodGet, "/docs/report.pdf", url.Values{"X-Presign-Id": {"ticket-9"}, "X-Presign-User": {"u9"}}, signedAt)
	sibling := sharedURL(t, http.MethodGet, "/docs/report.pdf", url.Values{"X-Presign-Id": {"ticket-10"}, "X-Presign-User": {"u9"}}, signedAt)

	// Clients keep downloading at both nodes while the ticket is revoked through node 0.
	type result struct {
		started time.Time
		status  int
	}
	var (
		mu      sync.Mutex
		results = make([][]result, len(nodes))
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for i, n := range nodes {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				started := time.Now()
				resp, err := sendTo(t, n, http.MethodGet, download, nil)
				if err != nil {
					t.Errorf("node %d: %v", i, err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				results[i] = append(results[i], result{started, resp.StatusCode})
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	revokeAt(t, nodes[0], revokeTicketBody("ticket-9"))
	revoked := time.Now()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	for i, rs := range results {
		var before, after, afterRefused int
		for _, r := range rs {
			switch {
			case r.started.Before(revoked.Add(-250 * time.Millisecond)):
				before++
				if r.status != http.StatusOK {
					t.Fatalf("node %d refused the download (%d) before it was revoked", i, r.status)
				}
			case r.started.After(revoked):
				after++
				if r.status == http.StatusForbidden {
					afterRefused++
				}
			}
		}
		if before == 0 || after == 0 || afterRefused != after {
			t.Fatalf("node %d: %d downloads before the revocation, %d of %d refused after it; want every one after refused", i, before, afterRefused, after)
		}
	}
	// The ticket's sibling URL still works; a user-wide revocation stops it, not the user's
	// URLs signed later.
	for i, n := range nodes {
		if st, _ := raceNodes(t, []*process{n}, http.MethodGet, sibling, nil); st[0] != http.StatusOK {
			t.Fatalf("node %d: another ticket of the user: %d", i, st[0])
		}
	}
	revokeAt(t, nodes[1], `{"revocations":[{"user":"u9","before":"`+time.Now().UTC().Format(time.RFC3339Nano)+`","until":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}]}`)
	later := sharedURL(t, http.MethodGet, "/docs/report.pdf", url.Values{"X-Presign-Id": {"ticket-11"}, "X-Presign-User": {"u9"}}, time.Now().Add(time.Second))
	for i, n := range nodes {
		if st, codes := raceNodes(t, []*process{n}, http.MethodGet, sibling, nil); st[0] != http.StatusForbidden || codes[0] != "AccessDenied" {
			t.Fatalf("node %d: URL of a user whose URLs were revoked: %d %s", i, st[0], codes[0])
		}
		if st, _ := raceNodes(t, []*process{n}, http.MethodGet, later, nil); st[0] != http.StatusOK {
			t.Fatalf("node %d: the user's URL signed after the revocation: %d", i, st[0])
		}
	}
}

// TestRevokedDownloadStopsOnASingleNodeWithoutRedis: without Redis the node keeps revocations
// itself, fed by its revoke call, and they outlive a restart.
func TestRevokedDownloadStopsOnASingleNodeWithoutRedis(t *testing.T) {
	node := storageNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "docs")
	if _, err := awsClient(ep).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("docs"), Key: aws.String("report.pdf"), Body: strings.NewReader("the report")}); err != nil {
		t.Fatal(err)
	}
	signedAt := time.Now().Add(-time.Minute)
	q := url.Values{"X-Presign-Id": {"ticket-1"}}
	if st, code, _ := httpDo(t, http.MethodGet, presignURL(t, http.MethodGet, ep, "/docs/report.pdf", q, nil, signedAt, time.Hour), nil, nil); st != http.StatusOK {
		t.Fatalf("before the revocation: %d %s", st, code)
	}
	revokeAt(t, node, revokeTicketBody("ticket-1"))
	if st, code, _ := httpDo(t, http.MethodGet, presignURL(t, http.MethodGet, ep, "/docs/report.pdf", q, nil, signedAt, time.Hour), nil, nil); st != http.StatusForbidden || code != "AccessDenied" {
		t.Fatalf("after the revocation: %d %s, want 403 AccessDenied", st, code)
	}
	node.stop()
	node.restart("storage node")
	ep = node.url("storage node")
	if st, code, _ := httpDo(t, http.MethodGet, presignURL(t, http.MethodGet, ep, "/docs/report.pdf", q, nil, signedAt, time.Hour), nil, nil); st != http.StatusForbidden {
		t.Fatalf("after a restart: %d %s, want 403", st, code)
	}
}

// TestEventsFromTwoGatewayNodesArriveOnceEach: both nodes' outboxes deliver to one receiver,
// which applies each event once by its id; ids never collide across nodes, and sequencers
// neither.
func TestEventsFromTwoGatewayNodesArriveOnceEach(t *testing.T) {
	rc := newReceiver(t)
	g := newGateway(t)
	notify := []string{"--notify-url", rc.URL + "/hook", "--notify-secret", webhookSecret, "--notify-max-backoff", "500ms"}
	nodes := []*process{g.node(t, append(notify, "--node-id", "1")...), g.node(t, append(notify, "--node-id", "2")...)}
	mustCreateBucket(t, nodes[0].url("storage node"), "events")
	const perNode = 20
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			c := awsClient(n.url("storage node"))
			for j := range perNode {
				key := aws.String(fmt.Sprintf("n%d/k%02d", i, j))
				if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("events"), Key: key, Body: strings.NewReader("v")}); err != nil {
					t.Error(err)
					return
				}
				if j%4 == 0 {
					if _, err := c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("events"), Key: key}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	want := 2 * (perNode + perNode/4)
	rc.waitFor(t, want, time.Minute)
	time.Sleep(time.Second) // anything more would be a duplicate
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.seen) != want {
		t.Fatalf("%d distinct event ids, want %d", len(rc.seen), want)
	}
	seqs := map[string]bool{}
	for _, rec := range rc.seen {
		if seqs[rec.S3.Object.Sequencer] {
			t.Fatalf("sequencer %s issued twice", rec.S3.Object.Sequencer)
		}
		seqs[rec.S3.Object.Sequencer] = true
	}
}

// TestGatewayUploadMemoryStaysBounded sends 1 GiB through a gateway node twice — with a
// declared length (one streamed request to the service, framed with a CRC-32C trailer) and
// without (a multipart upload of 16 MiB parts) — and reads one back: the node's peak resident
// memory grows by less than 96 MiB over its peak before the transfers, and the streamed PUT's
// ETag, the service's, is the body's MD5. The bound is on the growth, what buffering would
// show, because the binary's own footprint at start (the cloud SDKs it links) is not the
// data path's.
func TestGatewayUploadMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 3 GiB")
	}
	node := gatewayNode(t)
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "big")
	base := peakRSS(t, node.cmd.Process.Pid)
	const size = 1 << 30
	wantMD5, want := md5.New(), sha256.New()
	io.Copy(io.MultiWriter(wantMD5, want), &patternReader{left: size})
	for _, chunked := range []bool{false, true} {
		u := presignURL(t, http.MethodPut, ep, fmt.Sprintf("/big/object-chunked-%v", chunked), nil, nil, time.Now(), time.Hour)
		src := &patternReader{left: size}
		req, err := http.NewRequest(http.MethodPut, u, src)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1 // sent chunked: the node does not know the length
		} else {
			req.ContentLength = size
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("1 GiB PUT (chunked %v): %d %s", chunked, resp.StatusCode, b)
		}
		if etag, md5Hex := resp.Header.Get("ETag"), `"`+hex.EncodeToString(wantMD5.Sum(nil))+`"`; !chunked && etag != md5Hex {
			t.Fatalf("streamed 1 GiB PUT answered ETag %s, want the MD5 %s", etag, md5Hex)
		}
	}
	resp, err := http.Get(presignURL(t, http.MethodGet, ep, "/big/object-chunked-false", nil, nil, time.Now(), time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || hex.EncodeToString(got.Sum(nil)) != hex.EncodeToString(want.Sum(nil)) {
		t.Fatalf("GET returned %d bytes (%v), or other bytes than were sent", n, err)
	}
	hwm := peakRSS(t, node.cmd.Process.Pid)
	t.Logf("node peak RSS %d MiB before the transfers, %d MiB after 2 GiB in and 1 GiB out", base>>20, hwm>>20)
	if hwm-base >= 96<<20 {
		t.Fatalf("node peak RSS grew by %d MiB, want under 96 MiB", (hwm-base)>>20)
	}
}

// patternReader yields left pseudo-random bytes, the same for the same length, without
// holding them.
type patternReader struct {
	left int64
	rng  *rand.ChaCha8
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if p.rng == nil {
		p.rng = rand.NewChaCha8([32]byte{7})
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.rng.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// peakRSS reads a process's peak resident set size (VmHWM) from /proc.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the node's peak RSS, which this test must check: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestMultipartUploadThroughGateway: an SDK multipart upload through a gateway node becomes a
// multipart upload of the service, completed atomically, with the parts' checksum.
func TestMultipartUploadThroughGateway(t *testing.T) {
	node := gatewayNode(t)
	c := awsClient(node.url("storage node"))
	ctx := context.Background()
	mustCreateBucket(t, node.url("storage node"), "multi")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"),
		ContentType: aws.String("video/mp4"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("the end")}
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
		t.Fatalf("ListMultipartUploads = %+v, %v", lu, err)
	}
	comp, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.Trim(aws.ToString(comp.ETag), `"`), "-2") {
		t.Fatalf("completed ETag %s, want a two-part ETag", aws.ToString(comp.ETag))
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(get.Body)
	get.Body.Close()
	if err != nil || !bytes.Equal(body, bytes.Join(parts, nil)) || aws.ToString(get.ContentType) != "video/mp4" {
		t.Fatalf("GetObject: %d bytes, type %s, %v", len(body), aws.ToString(get.ContentType), err)
	}
	if lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")}); err != nil || len(lu.Uploads) != 0 {
		t.Fatalf("uploads after completion: %+v, %v", lu, err)
	}
	// Part-wise downloads: each part as uploaded, where the service says it lies.
	for i, want := range parts {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"), PartNumber: aws.Int32(int32(i + 1))})
		if err != nil {
			t.Fatalf("GetObject part %d: %v", i+1, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.Equal(got, want) || aws.ToInt32(out.PartsCount) != 2 {
			t.Fatalf("part %d: %d bytes (want %d), parts count %d, %v", i+1, len(got), len(want), aws.ToInt32(out.PartsCount), err)
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("video.mp4"), PartNumber: aws.Int32(3)})
	if apiCode(err) != "InvalidPartNumber" {
		t.Fatalf("part 3 of 2 through the gateway: %v, want InvalidPartNumber", err)
	}
}

// TestLargePutThroughGatewayKeepsItsChecksum: a PUT over the gateway's 16 MiB buffer streams
// through to the cluster, and the checksum the SDK sent with it is still returned afterwards.
func TestLargePutThroughGatewayKeepsItsChecksum(t *testing.T) {
	node := gatewayNode(t)
	ep := node.url("storage node")
	c := awsClient(ep)
	ctx := context.Background()
	mustCreateBucket(t, ep, "sums")
	data := bytes.Repeat([]byte("0123456789abcdef"), 20<<20/16) // 20 MiB
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String("big"),
		Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(put.ChecksumCRC32C) == "" {
		t.Fatal("PutObject returned no CRC-32C")
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("sums"), Key: aws.String("big"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ChecksumCRC32C) != aws.ToString(put.ChecksumCRC32C) {
		t.Fatalf("HeadObject CRC-32C %q, want the PUT's %q", aws.ToString(head.ChecksumCRC32C), aws.ToString(put.ChecksumCRC32C))
	}
}
