package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"presign/internal/testenv/powercut"
)

// TestPowerLossKeepsEveryTicket runs "presign serve" on SQLite with its data directory on the
// power-cut file system, issues tickets from concurrent clients, and cuts the power at random
// moments while tickets are being issued: after each restart every ticket answered 201, and the
// session that asked for them, are still there.
func TestPowerLossKeepsEveryTicket(t *testing.T) {
	cuts := 50
	if testing.Short() {
		cuts = 3
	}
	pc := powercut.Start(t)
	data := filepath.Join(pc.Dir, "serve")
	p := start(t, []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
		// No ticket rate limit, and room for every pending upload the clients ask for: each
		// round must issue tickets right up to its cut, not refusals once the user's limits
		// are reached (the default 100 pending uploads took the first round or two).
		[]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0", "--ticket-rate", "0"},
		"control plane", "storage node")
	waitReady(t, p.url("control plane"))
	kim, _ := adminAPI(t, p).newUser("kim", map[string]any{"max_pending_uploads": 1000000})
	rng := rand.New(rand.NewPCG(16, 2))
	var mu sync.Mutex
	var acked []string
	fewest := -1 // the fewest tickets answered 201 in one round
	for cut := range cuts {
		base := p.url("control plane")
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if id, ok := issueTicket(base, kim.token, fmt.Sprintf("f-%d-%d-%d.txt", cut, w, i)); ok {
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
			}()
		}
		// The cut comes at a random moment once the round has issued a ticket, so that every
		// cut falls while tickets are being written.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > before {
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: no ticket answered 201 in 30 s\n%s", cut+1, p.logs())
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		p.kill()
		close(stop)
		wg.Wait()
		if err := pc.Cut(); err != nil {
			t.Fatal(err)
		}
		if n := len(acked) - before; fewest < 0 || n < fewest {
			fewest = n
		}
		p.restart("control plane", "storage node")
		waitReady(t, p.url("control plane"))
		kim.base = p.url("control plane")
		// The round's tickets now; every ticket again at the end, so that one lost by a later
		// cut is found too without reading them all after every cut.
		for _, id := range acked[before:] {
			if st, code := kim.call("GET", "/v1/uploads/"+id, nil, nil); st != 200 {
				t.Fatalf("after cut %d: ticket %s, answered 201, now %d %s\n%s", cut+1, id, st, code, p.logs())
			}
		}
	}
	for _, id := range acked {
		if st, code := kim.call("GET", "/v1/uploads/"+id, nil, nil); st != 200 {
			t.Fatalf("after the last cut: ticket %s, answered 201, now %d %s\n%s", id, st, code, p.logs())
		}
	}
	t.Logf("%d cuts, each while tickets were issued (at least %d a round); %d tickets answered 201, all kept",
		cuts, fewest, len(acked))
}

// issueTicket asks for an upload ticket; it reports the ticket's id and whether the answer
// was 201.
func issueTicket(base, token, name string) (string, bool) {
	b, _ := json.Marshal(map[string]any{"filename": name, "size": 10, "content_type": "text/plain"})
	req, _ := http.NewRequest("POST", base+"/v1/uploads", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tk ticket
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(raw, &tk) != nil {
		return "", false
	}
	return tk.ID, true
}
