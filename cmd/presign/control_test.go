package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"presign/sigv4"
)

func TestControlNeedsAStorageAndItsKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no endpoint", []string{"--s3-bucket", "b"}, nil, "--s3-endpoint"},
		{"no bucket", []string{"--s3-endpoint", "http://127.0.0.1:1"}, nil, "--s3-bucket"},
		{"no keys", []string{"--s3-endpoint", "http://127.0.0.1:1", "--s3-bucket", "b"}, nil, "PRESIGN_ACCESS_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := testMain(tc.env)
			err := m.Run(context.Background(), append([]string{"control", "--data", t.TempDir()}, tc.args...))
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("got %v, want exit 2 naming %s", err, tc.want)
			}
		})
	}
}

func TestServeAddsTheControlPlaneWebhookBesideTheUsersOwn(t *testing.T) {
	const own, user1, user2 = "own-secret-0123456789", "user-secret-0123456789", "env-secret-0123456789"
	for _, tc := range []struct {
		name          string
		urls, secrets []string
		env           string
		want          []string
	}{
		{"alone", nil, nil, "", []string{own}},
		{"one user secret for all", []string{"http://a/h", "http://b/h"}, []string{user1}, "", []string{user1, user1, own}},
		{"user secret from the environment", []string{"http://a/h"}, nil, user2, []string{user2, own}},
		{"one per URL", []string{"http://a/h", "http://b/h"}, []string{user1, user2}, "", []string{user1, user2, own}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := notifyFlags{urls: tc.urls, secrets: tc.secrets}
			f.addTarget("http://127.0.0.1:8080/v1/storage-events", own, tc.env)
			ts, err := f.targets(tc.env)
			if err != nil || len(ts) != len(tc.want) {
				t.Fatalf("targets %v, %v", ts, err)
			}
			for i, tg := range ts {
				if string(tg.Secret) != tc.want[i] {
					t.Errorf("target %d (%s) has secret %q, want %q", i, tg.URL, tg.Secret, tc.want[i])
				}
			}
			if ts[len(ts)-1].URL != "http://127.0.0.1:8080/v1/storage-events" {
				t.Fatalf("last target %s", ts[len(ts)-1].URL)
			}
		})
	}
}

func TestWebhookSecretIsMadeOnceAndKeptPrivate(t *testing.T) {
	dir := t.TempDir()
	s1, err := webhookSecret(dir)
	if err != nil || len(s1) < 32 {
		t.Fatalf("secret %q, %v", s1, err)
	}
	s2, err := webhookSecret(dir)
	if err != nil || s2 != s1 {
		t.Fatalf("second start: %q, %v", s2, err)
	}
	fi, err := os.Stat(filepath.Join(dir, webhookSecretFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	os.WriteFile(filepath.Join(dir, webhookSecretFile), []byte("short\n"), 0o600)
	if _, err := webhookSecret(dir); err == nil {
		t.Fatal("a damaged secret file was accepted")
	}
}

func TestCORSOriginsOfTheControlPlane(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want []string
	}{
		{"127.0.0.1:8080", []string{"http://127.0.0.1:8080", "http://localhost:8080"}},
		{"10.1.2.3:80", []string{"http://10.1.2.3:80"}},
		{"0.0.0.0:8080", []string{"http://localhost:8080", "http://127.0.0.1:8080"}},
	} {
		addr, _ := net.ResolveTCPAddr("tcp", tc.addr)
		if got := origins("http", addr); !slices.Equal(got, tc.want) {
			t.Errorf("origins(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestAdminPasswordIsGeneratedAndPrintedOnce(t *testing.T) {
	dir := t.TempDir()
	setup := controlSetup{dataDir: dir, endpoint: "http://127.0.0.1:1", bucket: "files", region: "us-east-1",
		creds: sigv4.Credentials{AccessKeyID: "AK", SecretAccessKey: "SK"}}
	setup.flags.multipartThreshold, setup.flags.partSize = 100<<20, 16<<20
	ctx := context.Background()
	m, out, _ := testMain(nil)
	cp, err := m.openControl(ctx, setup, m.logger())
	if err != nil {
		t.Fatal(err)
	}
	_, pw, ok := strings.Cut(out.String(), "password: ")
	pw = strings.TrimSpace(pw)
	if !ok || len(pw) < 16 {
		t.Fatalf("stdout %q does not show a generated password", out)
	}
	if _, err := cp.svc.Login(ctx, "admin", pw, "127.0.0.1"); err != nil {
		t.Fatalf("the printed password does not log in: %v", err)
	}
	cp.close()
	m2, out2, _ := testMain(map[string]string{"PRESIGN_ADMIN_PASSWORD": "another-password"})
	cp2, err := m2.openControl(ctx, setup, m2.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer cp2.close()
	if out2.Len() != 0 {
		t.Fatalf("second start printed %q", out2)
	}
	if _, err := cp2.svc.Login(ctx, "admin", pw, "127.0.0.1"); err != nil {
		t.Fatalf("the first password no longer works: %v", err)
	}
}

func TestWildcardListenersAreDialedOnLoopback(t *testing.T) {
	for in, want := range map[string]string{"0.0.0.0:9000": "127.0.0.1:9000", "[::]:9000": "127.0.0.1:9000",
		"127.0.0.1:8080": "127.0.0.1:8080", "10.0.0.5:80": "10.0.0.5:80"} {
		addr, _ := net.ResolveTCPAddr("tcp", in)
		if got := dialable(addr); got != want {
			t.Errorf("dialable(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestAControlCORSOriginThatNamesNoOriginFailsTheStart: --cors-origin of presign control is
// checked before anything is opened, so a typo is an error rather than a page that cannot call
// the API.
func TestAControlCORSOriginThatNamesNoOriginFailsTheStart(t *testing.T) {
	data := t.TempDir()
	m, _, _ := testMain(map[string]string{"PRESIGN_ACCESS_KEY": "AK", "PRESIGN_SECRET_KEY": "secret-key-0123456789"})
	err := m.Run(context.Background(), []string{"control", "--data", data, "--addr", "127.0.0.1:0",
		"--s3-endpoint", "http://127.0.0.1:1", "--s3-bucket", "b", "--cors-origin", "app.example.com/upload"})
	if err == nil || !strings.Contains(err.Error(), "--cors-origin") {
		t.Fatalf("got %v, want an error naming --cors-origin", err)
	}
	if _, err := os.Stat(filepath.Join(data, "control.db")); !os.IsNotExist(err) {
		t.Errorf("the metadata store was opened before the flag was checked: %v", err)
	}
}

func TestStorageProviderFlagsAreCheckedBeforeStart(t *testing.T) {
	key := filepath.Join(t.TempDir(), "user.json")
	if err := os.WriteFile(key, []byte(`{"type":"authorized_user","client_id":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A service account's key that would do, so that only the HMAC key is wrong.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "presign-test@example.iam.gserviceaccount.com",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	saKey := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(saKey, sa, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown provider", []string{"--storage-provider", "dropbox"}, nil, "want s3, azure or gcs"},
		{"azure without a container", []string{"--storage-provider", "azure", "--azure-account", "a"}, map[string]string{"AZURE_STORAGE_KEY": "a2V5"}, "--azure-container"},
		{"azure without a key", []string{"--storage-provider", "azure", "--azure-account", "a", "--azure-container", "c"}, nil, "AZURE_STORAGE_KEY"},
		{"azure with a SAS connection string", []string{"--storage-provider", "azure", "--azure-container", "c"},
			map[string]string{"AZURE_STORAGE_CONNECTION_STRING": "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=1"}, "AccountKey"},
		{"gcs without a bucket", []string{"--storage-provider", "gcs"}, nil, "--gcs-bucket"},
		{"gcs without credentials", []string{"--storage-provider", "gcs", "--gcs-bucket", "b"}, nil, "GOOGLE_APPLICATION_CREDENTIALS"},
		{"gcs with user credentials", []string{"--storage-provider", "gcs", "--gcs-bucket", "b"}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": key}, "service account"},
		{"gcs with an HMAC access ID but no secret", []string{"--storage-provider", "gcs", "--gcs-bucket", "b", "--gcs-hmac-access-id", "GOOG1EXAMPLE"},
			map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": saKey}, "PRESIGN_GCS_HMAC_SECRET"},
		{"gcs with an HMAC secret but no access ID", []string{"--storage-provider", "gcs", "--gcs-bucket", "b"},
			map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": saKey, "PRESIGN_GCS_HMAC_SECRET": "presign/test+hmac/secret=of+forty/chars0"}, "--gcs-hmac-access-id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _ := testMain(tc.env)
			err := m.Run(context.Background(), append([]string{"control", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, tc.args...))
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(ee.msg, tc.want) {
				t.Fatalf("got %v, want exit 2 naming %s", err, tc.want)
			}
		})
	}
}
