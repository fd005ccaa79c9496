package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	encbin "encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"presign/internal/testenv/powercut"
)

// powerLossPlan sizes the power-loss test: the default run stays near a minute on a loaded
// two-core machine, -short takes a few seconds.
type powerLossPlan struct {
	cuts    int           // power cuts, each at a random moment of its round
	large   int64         // size of the large PUTs streamed throughout
	maxLoad time.Duration // longest load before a cut
	workers int           // concurrent clients besides the large PUT
}

func planPowerLoss() powerLossPlan {
	if testing.Short() {
		return powerLossPlan{cuts: 6, large: 64 << 20, maxLoad: 600 * time.Millisecond, workers: 6}
	}
	return powerLossPlan{cuts: 50, large: 2 << 30, maxLoad: 500 * time.Millisecond, workers: 4}
}

// plModel is what the clients were told: what must be there after any number of cuts.
type plModel struct {
	mu       sync.Mutex
	objects  map[string][32]byte        // acknowledged and not deleted since: must read back so
	maybe    map[string]func() [32]byte // a PUT or a delete was in flight at the cut: absent, or so
	deleted  map[string]bool            // acknowledged deletes: must stay absent
	nonces   map[string]string          // key → nonce of an acknowledged single-use PUT
	events   map[string]bool            // "event key" of every acknowledged change
	touched  map[string]bool            // keys to check after the next cut
	sequence int
}

func (m *plModel) newKey(kind string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sequence++
	return fmt.Sprintf("%s-%05d", kind, m.sequence)
}

// inFlight notes a change to key that may or may not survive: absent, or holding sum.
func (m *plModel) inFlight(key string, sum [32]byte) {
	m.inFlightLazy(key, func() [32]byte { return sum })
}

// inFlightLazy is inFlight with a sum computed only if needed (a large body's).
func (m *plModel) inFlightLazy(key string, sum func() [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybe[key] = sum
	m.touched[key] = true
}

// acked records the acknowledgement of a change to key; deleted when sum is nil.
func (m *plModel) acked(key string, sum *[32]byte, event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.maybe, key)
	if sum == nil {
		m.deleted[key] = true
	} else {
		m.objects[key] = *sum
	}
	m.events[event+" "+key] = true
}

// pickVictim takes an acknowledged object out of the model for a delete.
func (m *plModel) pickVictim(rng *rand.Rand) (string, [32]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, sum := range m.objects {
		if rng.IntN(4) == 0 && m.nonces[k] == "" {
			delete(m.objects, k)
			m.maybe[k] = func() [32]byte { return sum }
			m.touched[k] = true
			return k, sum, true
		}
	}
	return "", [32]byte{}, false
}

// seededBody is size bytes determined by key, generated as they are read.
func seededBody(key string, size int64) io.Reader {
	seed := sha256.Sum256([]byte(key))
	return io.LimitReader(rand.NewChaCha8(seed), size)
}

func sumOf(r io.Reader) [32]byte {
	h := sha256.New()
	io.Copy(h, r)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// TestPowerLossKeepsEveryAcknowledgedChange runs the storage node with its data directory on a
// file system that loses, at each simulated power cut, everything not made durable by fsync
// (internal/testenv/powercut). Under mixed load — large and 4 KiB PUTs, multipart completions,
// deletes, single-use URLs, event notifications — it kills the node with SIGKILL at a random
// moment, cuts the power and restarts it, many times; every other round the webhook receiver
// refuses deliveries, so that the round's events are still in the outbox at the cut. After each
// cut every acknowledged write reads back byte-identical, acknowledged deletes stay deleted, an
// in-flight change is either absent or whole, consumed single-use URLs stay consumed; at the
// end every acknowledged change's event has been delivered.
func TestPowerLossKeepsEveryAcknowledgedChange(t *testing.T) {
	plan := planPowerLoss()
	pc := powercut.Start(t)
	rc := newReceiver(t)
	data := filepath.Join(pc.Dir, "node")
	node := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey},
		[]string{"storage", "--data", data, "--addr", "127.0.0.1:0",
			"--notify-url", rc.URL + "/hook", "--notify-secret", webhookSecret, "--notify-max-backoff", "200ms"},
		"storage node")
	ep := node.url("storage node")
	mustCreateBucket(t, ep, "power")
	m := &plModel{objects: map[string][32]byte{}, maybe: map[string]func() [32]byte{}, deleted: map[string]bool{},
		nonces: map[string]string{}, events: map[string]bool{}, touched: map[string]bool{}}
	rng := rand.New(rand.NewPCG(16, 1))
	largeAcked := 0
	heldBack := 0 // events of changes acknowledged in rounds whose deliveries were refused
	began := time.Now()
	for round := range plan.cuts {
		held := round%2 == 1
		rc.down.Store(held)
		m.mu.Lock()
		eventsBefore := len(m.events)
		m.mu.Unlock()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		largeDone := make(chan bool, 1)
		client := &http.Client{Timeout: 5 * time.Minute}
		wg.Add(1)
		go func() {
			defer wg.Done()
			largeDone <- plLargePut(t, client, ep, m, plan.large)
		}()
		if round == 0 {
			// The first round lets one large PUT finish, alone (FUSE's throughput is what
			// bounds it), so that an acknowledged large object has to survive every later cut.
			if <-largeDone {
				largeAcked++
			}
			t.Logf("the first large PUT took %v", time.Since(began).Round(time.Millisecond))
		}
		for w := range plan.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				plWorker(t, client, ep, m, rand.New(rand.NewPCG(uint64(round), uint64(w))), stop)
			}()
		}
		time.Sleep(time.Duration(rng.Int64N(int64(plan.maxLoad))))
		node.kill()
		close(stop)
		wg.Wait()
		if round > 0 && <-largeDone {
			largeAcked++
		}
		if held {
			// Refused since the round began: these were all in the outbox when the power went.
			m.mu.Lock()
			heldBack += len(m.events) - eventsBefore
			m.mu.Unlock()
		}
		if err := pc.Cut(); err != nil {
			t.Fatalf("cut %d: %v", round, err)
		}
		node.restart("storage node")
		ep = node.url("storage node")
		m.mu.Lock()
		keys := m.touched
		m.touched = map[string]bool{}
		m.mu.Unlock()
		plVerify(t, ep, m, keys)
		if t.Failed() {
			t.Fatalf("after cut %d of %d:\n%s", round+1, plan.cuts, node.logs())
		}
	}
	t.Logf("%d cuts took %v", plan.cuts, time.Since(began).Round(time.Millisecond))
	all := map[string]bool{}
	for k := range m.objects {
		all[k] = true
	}
	for k := range m.maybe {
		all[k] = true
	}
	for k := range m.deleted {
		all[k] = true
	}
	plVerify(t, ep, m, all)
	plVerifyListing(t, ep, m)
	rc.down.Store(false)
	if heldBack == 0 {
		t.Error("no acknowledged change's event was held in the outbox at a cut: the test proved nothing of it")
	}
	want := len(m.events)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && len(plMissingEvents(rc, m)) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if missing := plMissingEvents(rc, m); len(missing) > 0 {
		t.Errorf("%d of %d acknowledged changes never had their event delivered, e.g. %v", len(missing), want, missing[:min(5, len(missing))])
	}
	t.Logf("%d cuts; %d objects acknowledged and kept (%d large of %d bytes), %d deletes, %d single-use URLs consumed, %d events (%d held in the outbox at a cut)",
		plan.cuts, len(m.objects), largeAcked, plan.large, len(m.deleted), len(m.nonces), want, heldBack)
}

// plLargePut streams one large PUT and reports whether it was acknowledged.
func plLargePut(t *testing.T, client *http.Client, ep string, m *plModel, size int64) bool {
	key := m.newKey("large")
	h := sha256.New()
	body := io.TeeReader(seededBody(key, size), h)
	// In flight, the key holds the whole body or nothing; the sum of a body not sent to
	// the end is computed only if the key turns out to hold something.
	m.inFlightLazy(key, func() [32]byte { return sumOf(seededBody(key, size)) })
	sum, ok := plPut(t, client, ep, key, body, size, nil, h)
	if ok {
		m.acked(key, &sum, "s3:ObjectCreated:Put")
	}
	return ok
}

// plPut sends a presigned PUT; h, fed by body, gives the body's sum.
func plPut(t *testing.T, client *http.Client, ep, key string, body io.Reader, size int64, q url.Values, h interface{ Sum([]byte) []byte }) ([32]byte, bool) {
	u := presignURL(t, http.MethodPut, ep, "/power/"+key, q, nil, time.Now(), time.Hour)
	req, _ := http.NewRequest(http.MethodPut, u, body)
	req.ContentLength = size
	resp, err := client.Do(req)
	var sum [32]byte
	h.Sum(sum[:0])
	if err != nil {
		return sum, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return sum, resp.StatusCode == http.StatusOK
}

// plWorker sends a random mix of changes until stop is closed.
func plWorker(t *testing.T, client *http.Client, ep string, m *plModel, rng *rand.Rand, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch op := rng.IntN(20); {
		case op < 9: // 4 KiB PUT, one in three single-use
			key := m.newKey("small")
			body := make([]byte, 4<<10)
			encbin.LittleEndian.PutUint64(body, rng.Uint64())
			sum := sha256.Sum256(body)
			m.inFlight(key, sum)
			var q url.Values
			nonce := ""
			if op%3 == 0 {
				nonce = "n-" + key
				q = url.Values{"X-Presign-Once": {nonce}}
			}
			if _, ok := plPut(t, client, ep, key, bytes.NewReader(body), int64(len(body)), q, sha256.New()); ok {
				m.acked(key, &sum, "s3:ObjectCreated:Put")
				if nonce != "" {
					m.mu.Lock()
					m.nonces[key] = nonce
					m.mu.Unlock()
				}
			}
		case op < 13: // a file of its own (above the 1 MiB segment threshold)
			key := m.newKey("medium")
			size := int64(1<<20 + rng.IntN(1<<20))
			sum := sumOf(seededBody(key, size))
			m.inFlight(key, sum)
			if _, ok := plPut(t, client, ep, key, seededBody(key, size), size, nil, sha256.New()); ok {
				m.acked(key, &sum, "s3:ObjectCreated:Put")
			}
		case op < 15: // multipart: a 5 MiB part and a small one
			plMultipart(ep, m, rng)
		default: // delete an acknowledged object
			key, _, ok := m.pickVictim(rng)
			if !ok {
				continue
			}
			u := presignURL(t, http.MethodDelete, ep, "/power/"+key, nil, nil, time.Now(), time.Hour)
			req, _ := http.NewRequest(http.MethodDelete, u, nil)
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				m.acked(key, nil, "s3:ObjectRemoved:Delete")
			}
		}
	}
}

func plMultipart(ep string, m *plModel, rng *rand.Rand) {
	c := awsClient(ep)
	opt := func(o *s3.Options) { o.RetryMaxAttempts = 1 }
	ctx := context.Background()
	key := m.newKey("multi")
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 100<<10+rng.IntN(1<<20))}
	h := sha256.New()
	for _, p := range parts {
		encbin.LittleEndian.PutUint64(p, rng.Uint64())
		encbin.LittleEndian.PutUint64(p[len(p)-8:], rng.Uint64())
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("power"), Key: aws.String(key)}, opt)
	if err != nil {
		return
	}
	var done []types.CompletedPart
	for i, p := range parts {
		n := int32(i + 1)
		r, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("power"), Key: aws.String(key), UploadId: up.UploadId, PartNumber: &n, Body: bytes.NewReader(p)}, opt)
		if err != nil {
			return
		}
		done = append(done, types.CompletedPart{ETag: r.ETag, PartNumber: &n})
	}
	m.inFlight(key, sum)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("power"), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}, opt)
	if err == nil {
		m.acked(key, &sum, "s3:ObjectCreated:CompleteMultipartUpload")
	}
}

// plVerify checks keys against the model after a cut; a whole in-flight change that survived
// becomes acknowledged, since later cuts must keep it too.
func plVerify(t *testing.T, ep string, m *plModel, keys map[string]bool) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range keys {
		got, present := plGet(t, ep, key)
		want, acked := m.objects[key]
		maybe, inFlight := m.maybe[key]
		switch {
		case acked && !present:
			t.Errorf("%s was acknowledged but is gone", key)
		case acked && got != want:
			t.Errorf("%s was acknowledged but reads back different bytes", key)
		case m.deleted[key] && present:
			t.Errorf("%s was deleted (acknowledged) but is back", key)
		case inFlight && present && got != maybe():
			t.Errorf("%s, in flight at the cut, is visible but not whole", key)
		case inFlight && present:
			m.objects[key] = got
			delete(m.maybe, key)
		case inFlight:
			delete(m.maybe, key)
		}
		if nonce := m.nonces[key]; nonce != "" {
			u := presignURL(t, http.MethodPut, ep, "/power/"+key, url.Values{"X-Presign-Once": {nonce}}, nil, time.Now(), time.Hour)
			if status, code, _ := httpDo(t, http.MethodPut, u, nil, bytes.NewReader([]byte("again"))); status != http.StatusForbidden {
				t.Errorf("single-use URL of %s, consumed before the cut, answered %d %s", key, status, code)
			}
		}
	}
}

// plGet returns the sum of key's bytes, and whether it exists.
func plGet(t *testing.T, ep, key string) ([32]byte, bool) {
	t.Helper()
	u := presignURL(t, http.MethodGet, ep, "/power/"+key, nil, nil, time.Now(), time.Hour)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return sumOf(resp.Body), true
	case http.StatusNotFound:
		return [32]byte{}, false
	}
	b, _ := io.ReadAll(resp.Body)
	t.Fatalf("GET %s: %d %s", key, resp.StatusCode, b)
	return [32]byte{}, false
}

// plVerifyListing checks that the bucket lists exactly the objects the model holds.
func plVerifyListing(t *testing.T, ep string, m *plModel) {
	t.Helper()
	listed := map[string]bool{}
	p := s3.NewListObjectsV2Paginator(awsClient(ep), &s3.ListObjectsV2Input{Bucket: aws.String("power")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			listed[*o.Key] = true
			if _, ok := m.objects[*o.Key]; !ok {
				t.Errorf("%s is listed but was never written whole", *o.Key)
			}
		}
	}
	for k := range m.objects {
		if !listed[k] {
			t.Errorf("%s is not listed", k)
		}
	}
}

// plMissingEvents returns the acknowledged changes whose event has not arrived.
func plMissingEvents(rc *receiver, m *plModel) []string {
	got := map[string]bool{}
	for _, e := range rc.events() {
		got[e] = true
	}
	var missing []string
	for e := range m.events {
		if !got[e] {
			missing = append(missing, e)
		}
	}
	return missing
}
