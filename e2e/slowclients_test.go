package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClientsCannotStarveServe: under an open-file limit of 256, hundreds of connections
// from two outside addresses (bodies trickled to both planes, downloads never read) neither
// take the descriptors that health checks, a login and an upload from elsewhere need, nor
// stay: each plane caps connections per address, cuts the trickled bodies at their deadline
// and the unread downloads at the minimum rate, and the descriptors they held come back.
func TestSlowClientsCannotStarveServe(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("counting a process's descriptors needs /proc") // not a service: Linux only
	}
	data := t.TempDir()
	p := &process{t: t, env: []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword}, maxFiles: 256, data: data,
		args: []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0",
			"--max-conns-per-ip", "40", "--body-timeout", "2s", "--min-rate", "256KiB", "--rate-window", "1s"}}
	p.run([]string{"control plane", "storage node"})
	t.Cleanup(func() { p.stop() })
	ctl, node := p.url("control plane"), p.url("storage node")
	waitReady(t, ctl)
	admin := adminAPI(t, p)

	// A file for the downloads, larger than the socket buffers on the way.
	big := bytes.Repeat([]byte("d"), 16<<20)
	var tk ticket
	admin.must(201, "POST", "/v1/uploads", map[string]any{"filename": "big.bin", "size": len(big), "content_type": "application/octet-stream"}, &tk)
	if st, code := put(t, tk, big); st != 200 {
		t.Fatalf("PUT: %d %s", st, code)
	}
	admin.waitState(tk.ID, "completed", 10*time.Second)
	req, _ := http.NewRequest("GET", ctl+"/v1/files/"+tk.ID+"/download", nil)
	req.Header.Set("Authorization", "Bearer "+admin.token)
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	download := resp.Header.Get("Location")
	before := openFiles(t, p)

	form := "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n" + strings.Repeat("k", 2000)
	ctlHost, nodeHost := strings.TrimPrefix(ctl, "http://"), strings.TrimPrefix(node, "http://")
	dlURL := strings.TrimPrefix(download, node)
	slow := []struct {
		from, to, head string
		drip           bool
	}{
		{"127.0.0.2", ctlHost, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{", true},
		{"127.0.0.2", nodeHost, "POST /presign HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: " + fmt.Sprint(len(form)+100) + "\r\n\r\n", true},
		{"127.0.0.3", nodeHost, "GET " + dlURL + " HTTP/1.1\r\nHost: " + nodeHost + "\r\n\r\n", false},
	}
	var conns []net.Conn // the trickling ones
	var wg sync.WaitGroup
	for _, s := range slow {
		for range 120 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(s.from)}, Timeout: 5 * time.Second}
			c, err := d.Dial("tcp", s.to)
			if err != nil {
				continue // the backlog was full: one fewer slow client
			}
			t.Cleanup(func() { c.Close() })
			c.(*net.TCPConn).SetReadBuffer(4 << 10)
			io.WriteString(c, s.head)
			if s.drip {
				conns = append(conns, c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < len(form); i++ {
						if _, err := c.Write([]byte{form[i]}); err != nil {
							return
						}
						time.Sleep(100 * time.Millisecond)
					}
				}()
			}
		}
	}

	// While they hold what they can: the probes, a login and an upload from 127.0.0.1.
	for _, u := range []string{ctl + "/healthz", node + "/_presign/healthz"} {
		if st, _, _ := httpDo(t, "GET", u, nil, nil); st != 200 {
			t.Fatalf("%s: %d while slow clients hold connections", u, st)
		}
	}
	again := (&api{t: t, base: ctl}).login("admin", e2eAdminPassword)
	small := bytes.Repeat([]byte("s"), 4<<10)
	var tk2 ticket
	again.must(201, "POST", "/v1/uploads", map[string]any{"filename": "small.bin", "size": len(small), "content_type": "application/octet-stream"}, &tk2)
	if st, code := put(t, tk2, small); st != 200 {
		t.Fatalf("4 KiB PUT while slow clients hold connections: %d %s", st, code)
	}

	// The slow connections end without any help from their clients (reading a download now
	// would make it fast): the descriptors they held come back (a few may stay with idle
	// keep-alive connections)...
	deadline := time.Now().Add(30 * time.Second)
	for openFiles(t, p) > before+10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if after := openFiles(t, p); after > before+10 {
		t.Fatalf("%d descriptors open with the slow clients still connected, %d before them", after, before)
	}
	// ...because each was closed: refused past the cap, or cut at its deadline or rate. (The
	// downloads are left unread: the rest of their answer, sent to a window closed so long,
	// drains too slowly for a test.)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var got bytes.Buffer
		if _, err := io.Copy(&got, c); err != nil && !strings.Contains(err.Error(), "reset") {
			head, _, _ := strings.Cut(got.String(), "\r\n\r\n")
			t.Fatalf("a slow client from %s was never cut off: %v (answered %.100q)", c.LocalAddr(), err, head)
		}
	}
	wg.Wait()
}

// openFiles counts the process's open descriptors.
func openFiles(t *testing.T, p *process) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
