package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate for the names and its key into dir and returns
// their paths.
func selfSigned(t *testing.T, dir string, names ...string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, names[0]+".crt"), filepath.Join(dir, names[0]+".key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// tlsServer serves 200 over HTTPS with the certificate at the paths.
func tlsServer(t *testing.T, certPath, keyPath string) *httptest.Server {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestLoopbackClientTrustsOnlyTheProcesssOwnCertificateBeyondTheSystemRoots(t *testing.T) {
	dir := t.TempDir()
	// The process's certificate names a public host, not the loopback address it is called at.
	ownCert, ownKey := selfSigned(t, dir, "files.example.com")
	otherCert, otherKey := selfSigned(t, dir, "127.0.0.1")
	own, err := (&tlsFlags{cert: ownCert, key: ownKey}).load()
	if err != nil {
		t.Fatal(err)
	}
	client := own.loopbackClient(5 * time.Second)
	if resp, err := client.Get(tlsServer(t, ownCert, ownKey).URL); err != nil {
		t.Fatalf("calling itself at 127.0.0.1: %v", err)
	} else {
		resp.Body.Close()
	}
	// Another self-signed certificate, even one valid for the address, is not trusted.
	if resp, err := client.Get(tlsServer(t, otherCert, otherKey).URL); err == nil {
		resp.Body.Close()
		t.Fatal("a stranger's self-signed certificate was accepted")
	}
}

func TestTLSFlagsNeedBothCertificateAndKey(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir, "127.0.0.1")
	for _, tc := range []struct {
		name      string
		f         tlsFlags
		wantTLS   bool
		wantError string
	}{
		{"neither: plain HTTP", tlsFlags{}, false, ""},
		{"both", tlsFlags{cert, key}, true, ""},
		{"certificate only", tlsFlags{cert: cert}, false, "go together"},
		{"key only", tlsFlags{key: key}, false, "go together"},
		{"key of nothing", tlsFlags{cert, cert}, false, "TLS certificate"},
		{"missing file", tlsFlags{filepath.Join(dir, "none.crt"), key}, false, "TLS certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tc.f.load()
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("got %v, want an error about %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (st != nil) != tc.wantTLS || (st.scheme() == "https") != tc.wantTLS {
				t.Fatalf("TLS %v, scheme %s", st != nil, st.scheme())
			}
		})
	}
}
