package e2e

import (
	"fmt"
	"net"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// TestEventsEmittedWhileTheControlPlaneIsDownArriveWhenItIsBack: the control plane stops after
// handing out tickets; the uploads reach the storage node meanwhile, whose outbox keeps their
// events. Started again, the control plane receives every event and completes every upload.
func TestEventsEmittedWhileTheControlPlaneIsDownArriveWhenItIsBack(t *testing.T) {
	const secret = "outage-webhook-secret-0123"
	// The control plane's address is fixed before it starts, so that the node can be told
	// where to deliver and the restarted control plane listens there again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	node := storageNode(t, "--notify-url", "http://"+addr+"/v1/storage-events", "--notify-secret", secret,
		"--notify-max-backoff", "500ms")
	ctl := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
		"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword, "PRESIGN_NOTIFY_SECRET=" + secret},
		[]string{"control", "--addr", addr, "--data", t.TempDir(), "--s3-endpoint", node.url("storage node"),
			"--s3-bucket", "uploads", "--reconcile-interval", "1h"}, "control plane")
	base := ctl.url("control plane")
	waitReady(t, base)
	eve, _ := (&api{t: t, base: base}).login("admin", e2eAdminPassword).newUser("eve", nil)
	const n = 8
	tickets := make([]ticket, n)
	for i := range tickets {
		eve.must(201, "POST", "/v1/uploads", map[string]any{"filename": fmt.Sprintf("f%d.txt", i), "size": 3, "content_type": "text/plain"}, &tickets[i])
	}

	if err := ctl.stop(); err != nil {
		t.Fatal(err)
	}
	for _, tk := range tickets {
		if st, code := put(t, tk, []byte("abc")); st != 200 {
			t.Fatalf("PUT while the control plane is down: %d %s", st, code)
		}
	}
	if depth := outboxDepth(t, node); depth < n {
		t.Fatalf("outbox depth %d with the control plane down, want at least %d", depth, n)
	}

	ctl.restart("control plane")
	waitReady(t, base)
	for _, tk := range tickets {
		eve.waitState(tk.ID, "completed", 20*time.Second)
	}
	deadline := time.Now().Add(10 * time.Second)
	for outboxDepth(t, node) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox depth %d after every upload completed", outboxDepth(t, node))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var outboxDepthLine = regexp.MustCompile(`(?m)^presign_outbox_depth (\d+)$`)

// outboxDepth reads how many events wait in the node's outbox from its metrics.
func outboxDepth(t *testing.T, node *process) int {
	t.Helper()
	st, _, b := httpDo(t, http.MethodGet, node.url("storage node")+"/_presign/metrics", nil, nil)
	m := outboxDepthLine.FindSubmatch(b)
	if st != 200 || m == nil {
		t.Fatalf("metrics: %d\n%s", st, b)
	}
	var d int
	fmt.Sscan(string(m[1]), &d)
	return d
}
