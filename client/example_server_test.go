package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"presign/client"
	"presign/control"
	"presign/control/bucket"
	"presign/control/sqlite"
	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// The examples talk to a real presign, started in this process by TestMain: a storage node on
// local disk and a control plane in front of it, each on a loopback listener. In a program,
// presignURL is your deployment's control plane and apiKey one of its API keys.
var presignURL, apiKey string

// adminPassword is the password of the administrator, "admin".
const adminPassword = "correct horse battery staple"

func TestMain(m *testing.M) {
	stop, err := startPresign()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting presign for the examples:", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

// startPresign starts the storage node and the control plane, sets presignURL and apiKey, and
// returns what stops them.
func startPresign() (stop func(), err error) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "presign-client-examples-")
	if err != nil {
		return nil, err
	}
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	creds := sigv4.Credentials{AccessKeyID: "examples", SecretAccessKey: "examples-secret-key-of-40-characters-000"}
	be, err := disk.Open(ctx, disk.Options{Dir: filepath.Join(dir, "objects"), Logger: quiet})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { be.Close() })
	if err := be.CreateBucket(ctx, "presign"); err != nil {
		return nil, err
	}
	node, err := storage.New(storage.Config{Backend: be, Nonces: be, Logger: quiet,
		Credentials: sigv4.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey}})
	if err != nil {
		return nil, err
	}
	undo = append(undo, node.Close)
	st := httptest.NewServer(node)
	undo = append(undo, st.Close)

	store, err := sqlite.Open(ctx, filepath.Join(dir, "control.db"))
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { store.Close() })
	objects, err := bucket.New(bucket.Config{Endpoint: st.URL, Bucket: "presign",
		AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey})
	if err != nil {
		return nil, err
	}
	svc, err := control.New(control.Config{Store: store, Objects: objects, Bucket: "presign",
		PublicStorageURL: st.URL, Credentials: creds, Logger: quiet})
	if err != nil {
		return nil, err
	}
	if _, err := svc.EnsureAdmin(ctx, adminPassword); err != nil {
		return nil, err
	}
	cp := httptest.NewServer(svc.Handler(nil))
	undo = append(undo, cp.Close)

	admin, err := client.New(cp.URL, nil)
	if err != nil {
		return nil, err
	}
	if _, err := admin.Login(ctx, control.AdminUsername, adminPassword); err != nil {
		return nil, err
	}
	key, err := admin.CreateAPIKey(ctx, "examples", adminPassword, time.Hour)
	if err != nil {
		return nil, err
	}
	presignURL, apiKey = cp.URL, key.Key
	return stop, nil
}
