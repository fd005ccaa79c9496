package control_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"presign/control"
	"presign/control/bucket"
	"presign/events/outbox"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// nodeEnv is env with a real storage node (disk backend, once-nonces, optionally its event
// outbox delivering to the control plane's webhook) where the other tests have a closed port,
// for the paths that need bytes in storage. The node trusts testCreds, the control plane's
// keys, which are therefore also the bucket's root keys.
type nodeEnv struct {
	*env
	storageURL string
	root       *sigv4.Signer
}

// newNodeEnv starts a storage node with the bucket, then the control plane in front of it.
// With events the node's ObjectCreated/ObjectRemoved events are delivered, signed, to
// /v1/storage-events as in "presign serve"; without, completion comes from complete and the
// reconciler.
func newNodeEnv(t *testing.T, events bool, mut func(*control.Config)) *nodeEnv {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	be, err := disk.Open(context.Background(), disk.Options{Dir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	if err := be.CreateBucket(context.Background(), testBucket); err != nil {
		t.Fatal(err)
	}
	var evlog storage.EventLog
	var ol *outbox.Log
	if events {
		if ol, err = outbox.Open(filepath.Join(t.TempDir(), "outbox.db"), outbox.Options{Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ol.Close() })
		evlog = ol
	}
	node, err := storage.New(storage.Config{Backend: be, Credentials: sigv4.StaticCredentials{testCreds.AccessKeyID: testCreds.SecretAccessKey},
		Nonces: be, Events: evlog, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Close) // after the HTTP server, which stops first
	ts := httptest.NewServer(node)
	t.Cleanup(ts.Close)
	objects, err := bucket.New(bucket.Config{Endpoint: ts.URL, Bucket: testBucket,
		AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: testCreds.SecretAccessKey})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *control.Config) {
		c.Objects, c.PublicStorageURL = objects, ts.URL
		if mut != nil {
			mut(c)
		}
	})
	if events {
		d, err := outbox.NewDeliverer(ol, []outbox.Target{{URL: e.srv.URL + "/v1/storage-events", Secret: []byte(eventSecret)}},
			outbox.DelivererOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		// Registered last, so it runs first: delivery stops before the webhook and the log go.
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("event delivery: %v", err)
			}
			d.Close()
		})
	}
	return &nodeEnv{env: e, storageURL: ts.URL,
		root: &sigv4.Signer{Credentials: testCreds, Region: "us-east-1"}}
}

// rootDo sends an S3 request on key signed with the bucket's root keys, as an operator's SDK
// would (header auth, the payload's SHA-256 signed), and returns the status.
func (n *nodeEnv) rootDo(method, key string, header http.Header, body []byte) int {
	n.t.Helper()
	req, err := http.NewRequest(method, n.storageURL+"/"+testBucket+"/"+key, bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	if _, err := n.root.SignRequest(req, hex.EncodeToString(sum[:]), time.Now()); err != nil {
		n.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rootPut writes body at key with the root keys, with its Content-Type, the
// x-amz-checksum-sha256 of its bytes and the extra headers, all signed, which the node keeps
// with the object.
func (n *nodeEnv) rootPut(key, contentType string, body []byte, extra http.Header) {
	n.t.Helper()
	sum := sha256.Sum256(body)
	h := http.Header{"Content-Type": {contentType}, "X-Amz-Checksum-Sha256": {base64.StdEncoding.EncodeToString(sum[:])}}
	for k, v := range extra {
		h[k] = v
	}
	if st := n.rootDo("PUT", key, h, body); st != 200 {
		n.t.Fatalf("root PUT %s: %d", key, st)
	}
}

// stored reports whether the node holds an object at key (HEAD with the root keys).
func (n *nodeEnv) stored(key string) bool {
	n.t.Helper()
	switch st := n.rootDo("HEAD", key, nil, nil); st {
	case 200:
		return true
	case 404:
		return false
	default:
		n.t.Fatalf("HEAD %s: %d", key, st)
		return false
	}
}

// putTicket sends body to a single-PUT ticket's URL with exactly its headers, as a client does.
func (n *nodeEnv) putTicket(tk control.Ticket, body []byte) {
	n.t.Helper()
	req, err := http.NewRequest(tk.Method, tk.URL, bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	if raw, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 {
		n.t.Fatalf("PUT to the ticket of %s: %d %s", tk.ID, resp.StatusCode, raw)
	}
}

// waitState polls the upload until it is in state and returns it.
func (n *nodeEnv) waitState(token, id string, state control.UploadState) control.UploadView {
	n.t.Helper()
	var u control.UploadView
	n.eventually(func() error {
		n.must(200, "GET", "/v1/uploads/"+id, token, nil, &u)
		if u.State != state {
			return fmt.Errorf("upload %s is %s, want %s", id, u.State, state)
		}
		return nil
	})
	return u
}

// eventually polls check for up to 10 s (a storage event is delivered, then applied, in the
// background) until it returns nil, and fails the test with its last error otherwise.
func (n *nodeEnv) eventually(check func() error) {
	n.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatal(err)
		}
	}
}
