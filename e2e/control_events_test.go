package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"presign/events"
)

// relay stands between the storage node and the control plane: it records every delivery and
// forwards it twice, at the same moment, as a sender whose first attempt timed out would.
type relay struct {
	*httptest.Server
	target    atomic.Value // string: the control plane's webhook URL
	mu        sync.Mutex
	delivered []delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func newRelay(t *testing.T) *relay {
	rl := &relay{}
	rl.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		target, _ := rl.target.Load().(string)
		if target == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rl.mu.Lock()
		rl.delivered = append(rl.delivered, delivery{r.Header.Clone(), body})
		rl.mu.Unlock()
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range codes {
			wg.Go(func() {
				codes[i] = forward(target, r.Header, body)
			})
		}
		wg.Wait()
		for _, c := range codes {
			if c != http.StatusOK {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rl.Close)
	return rl
}

func forward(target string, h http.Header, body []byte) int {
	req, _ := http.NewRequest("POST", target, bytes.NewReader(body))
	for _, k := range []string{events.HeaderEventID, events.HeaderSignature, "Content-Type"} {
		req.Header.Set(k, h.Get(k))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (rl *relay) deliveries() []delivery {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return append([]delivery(nil), rl.delivered...)
}

// TestSeparatePlanesApplyEachEventOnce runs the planes as two processes, "presign storage" and
// "presign control", with the webhook between them. Every delivery reaches the control plane
// twice at once, and later once more: each upload gets one file record. Forged and altered
// deliveries are refused.
func TestSeparatePlanesApplyEachEventOnce(t *testing.T) {
	const secret = "relay-webhook-secret-0123"
	rl := newRelay(t)
	node := storageNode(t, "--notify-url", rl.URL, "--notify-secret", secret)
	ctlData := t.TempDir()
	ctl := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
		"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword, "PRESIGN_NOTIFY_SECRET=" + secret},
		[]string{"control", "--addr", "127.0.0.1:0", "--data", ctlData, "--s3-endpoint", node.url("storage node"),
			"--s3-bucket", "uploads", "--reconcile-interval", "1h"}, "control plane")
	base := ctl.url("control plane")
	waitReady(t, base)
	rl.target.Store(base + "/v1/storage-events")

	dan, _ := (&api{t: t, base: base}).login("admin", e2eAdminPassword).newUser("dan", nil)
	const n = 5
	ids := make([]string, n)
	for i := range n {
		var tk ticket
		dan.must(201, "POST", "/v1/uploads", map[string]any{"filename": "f.txt", "size": 3, "content_type": "text/plain"}, &tk)
		if st, code := put(t, tk, []byte("abc")); st != 200 {
			t.Fatalf("PUT: %d %s", st, code)
		}
		ids[i] = tk.ID
	}
	for _, id := range ids {
		dan.waitState(id, "completed", 10*time.Second)
	}
	ds := rl.deliveries()
	if len(ds) < n {
		t.Fatalf("%d deliveries for %d uploads", len(ds), n)
	}
	// Once more, later: answered as a duplicate, applied no more.
	for _, d := range ds {
		if st := forward(base+"/v1/storage-events", d.header, d.body); st != 200 {
			t.Fatalf("redelivery answered %d", st)
		}
	}
	var files struct{ Files []fileView }
	dan.must(200, "GET", "/v1/files", nil, &files)
	if len(files.Files) != n {
		t.Fatalf("%d file records for %d uploads delivered three times each", len(files.Files), n)
	}
	// A forged delivery (other secret) and a genuine one with its body altered are refused.
	d := ds[0]
	forged := events.Sign([]byte("some-other-secret-xyz"), events.NewID(), d.body, time.Now())
	if st := forward(base+"/v1/storage-events", forged, d.body); st != 401 {
		t.Fatalf("forged delivery: %d, want 401", st)
	}
	altered := bytes.Replace(d.body, []byte(`"size":3`), []byte(`"size":4`), 1)
	if st := forward(base+"/v1/storage-events", d.header, altered); st != 401 {
		t.Fatalf("altered delivery: %d, want 401", st)
	}
	// A replay signed long ago is refused however genuine.
	old := events.Sign([]byte(secret), events.NewID(), d.body, time.Now().Add(-time.Hour))
	if st := forward(base+"/v1/storage-events", old, d.body); st != 401 {
		t.Fatalf("stale replay: %d, want 401", st)
	}
}

// TestServeConcurrentCompletionsMakeOneFile: the storage event and many complete calls racing
// for the same upload produce one file record and one recorded ending, and every caller gets
// the same file.
func TestServeConcurrentCompletionsMakeOneFile(t *testing.T) {
	p := serveProcess(t)
	mo, _ := adminAPI(t, p).newUser("mo", nil)
	const uploads, callers = 4, 8
	for range uploads {
		var tk ticket
		mo.must(201, "POST", "/v1/uploads", map[string]any{"filename": "race.txt", "size": 4, "content_type": "text/plain"}, &tk)
		if st, code := put(t, tk, []byte("race")); st != 200 {
			t.Fatalf("PUT: %d %s", st, code)
		}
		files := make([]fileView, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() { mo.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &files[i]) })
		}
		wg.Wait()
		for _, f := range files {
			if f != files[0] || f.ID != tk.ID {
				t.Fatalf("callers got different files: %+v", files)
			}
		}
	}
	var list struct{ Files []fileView }
	mo.must(200, "GET", "/v1/files", nil, &list)
	if len(list.Files) != uploads {
		t.Fatalf("%d file records for %d uploads", len(list.Files), uploads)
	}
	time.Sleep(200 * time.Millisecond) // let the events arrive; they must change nothing
	st, _, metrics := httpDo(t, "GET", p.url("control plane")+"/metrics", nil, nil)
	if st != 200 {
		t.Fatalf("metrics: %d", st)
	}
	ended := 0
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "presign_control_upload_endings_total{") && strings.Contains(line, `state="completed"`) {
			n, _ := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:])
			ended += n
		}
	}
	if ended != uploads {
		t.Fatalf("metrics count %d completions for %d uploads:\n%s", ended, uploads, metrics)
	}
}
