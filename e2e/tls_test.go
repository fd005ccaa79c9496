package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// testCert is a self-signed certificate for 127.0.0.1 and localhost, made for one test.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func newTestCert(t *testing.T) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "presign e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &testCert{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// client trusts the certificate (and nothing else) and follows no redirects.
func (c *testCert) client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool}},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// flags are the TLS flags that serve the certificate.
func (c *testCert) flags() []string {
	return []string{"--tls-cert", c.certFile, "--tls-key", c.keyFile}
}

// tlsAPI is a JSON client of a control plane over HTTPS.
type tlsAPI struct {
	t     *testing.T
	hc    *http.Client
	base  string
	token string
}

func (a *tlsAPI) do(want int, method, path string, body, out any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

func (a *tlsAPI) waitReady() {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := a.hc.Get(a.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatalf("%s/readyz never answered 200", a.base)
}

func (a *tlsAPI) login(user, password string) *tlsAPI {
	a.t.Helper()
	var s struct{ Token string }
	a.do(200, "POST", "/v1/login", map[string]string{"username": user, "password": password}, &s)
	return &tlsAPI{t: a.t, hc: a.hc, base: a.base, token: s.Token}
}

func (a *tlsAPI) newUser(name string) *tlsAPI {
	a.t.Helper()
	a.do(201, "POST", "/v1/users", map[string]any{"username": name, "password": name + "-password"}, nil)
	return a.login(name, name+"-password")
}

// upload asks for a ticket and PUTs body to its URL over HTTPS.
func (a *tlsAPI) upload(name string, body []byte) ticket {
	a.t.Helper()
	var tk ticket
	a.do(201, "POST", "/v1/uploads", map[string]any{"filename": name, "size": len(body), "content_type": "text/plain"}, &tk)
	if !strings.HasPrefix(tk.URL, "https://127.0.0.1:") {
		a.t.Fatalf("the ticket's URL is %s, not https", tk.URL)
	}
	req, _ := http.NewRequest("PUT", tk.URL, bytes.NewReader(body))
	for k, v := range tk.Headers {
		req.Header.Set(k, v)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		a.t.Fatalf("PUT over https: %d", resp.StatusCode)
	}
	return tk
}

func (a *tlsAPI) waitCompleted(id string) {
	a.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var u uploadView
		a.do(200, "GET", "/v1/uploads/"+id, nil, &u)
		if u.State == "completed" {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("upload %s is %s after 15s", id, u.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// download fetches a file through its presigned GET.
func (a *tlsAPI) download(id string) []byte {
	a.t.Helper()
	var d struct{ URL string }
	a.do(200, "GET", "/v1/files/"+id+"/download", nil, &d)
	resp, err := a.hc.Get(d.URL)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		a.t.Fatalf("download: %d %s", resp.StatusCode, b)
	}
	return b
}

func TestServeOverTLS(t *testing.T) {
	cert := newTestCert(t)
	data := t.TempDir()
	p := start(t, []string{"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
		append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--storage-addr", "127.0.0.1:0"}, cert.flags()...),
		"control plane", "storage node")
	p.data = data
	for _, svc := range []string{"control plane", "storage node"} {
		if !strings.HasPrefix(p.url(svc), "https://") {
			t.Fatalf("%s listens at %s", svc, p.url(svc))
		}
	}
	admin := &tlsAPI{t: t, hc: cert.client(), base: p.url("control plane")}
	admin.waitReady() // the control plane reached the node over HTTPS to check the bucket
	admin = admin.login("admin", e2eAdminPassword)
	ann := admin.newUser("ann")

	// The storage node's event reaches the control plane over HTTPS, which trusts the process's
	// own certificate: the upload completes with no complete call.
	tk := ann.upload("hello.txt", []byte("hello over tls"))
	ann.waitCompleted(tk.ID)
	if got := ann.download(tk.ID); string(got) != "hello over tls" {
		t.Fatalf("downloaded %q", got)
	}
	// complete: the control plane's HEAD to the node over HTTPS.
	var f fileView
	ann.do(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f)
	if f.ID != tk.ID || f.Size != 14 {
		t.Fatalf("file %+v", f)
	}

	// An S3 SDK that trusts the certificate works against the node.
	b, err := os.ReadFile(filepath.Join(data, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var creds struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	json.Unmarshal(b, &creds)
	sdk := s3.New(s3.Options{Region: testRegion, Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKey, creds.SecretKey, ""),
		BaseEndpoint: aws.String(p.url("storage node")), UsePathStyle: true, HTTPClient: cert.client()})
	ctx := context.Background()
	if _, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("presign"), Key: aws.String("sdk/over-tls"),
		Body: strings.NewReader("sdk body")}); err != nil {
		t.Fatalf("PutObject over https: %v", err)
	}
	out, err := sdk.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("presign"), Key: aws.String(tk.Key)})
	if err != nil {
		t.Fatalf("GetObject over https: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != "hello over tls" {
		t.Fatalf("SDK read %q", got)
	}

	// A client that does not trust the certificate is refused by its own TLS check, and plain
	// HTTP to an HTTPS listener gets nowhere.
	if resp, err := http.Get(p.url("control plane") + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a client without the certificate in its roots connected")
	}
	plain := "http://" + strings.TrimPrefix(p.url("control plane"), "https://") + "/healthz"
	if resp, err := http.Get(plain); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered 200 on the HTTPS listener")
		}
	}
}

// TestStorageAndControlOverTLS runs the two planes as separate processes over HTTPS: the control
// plane trusts the node's certificate through SSL_CERT_FILE, as an operator would give it a
// private CA, and completion comes from the client's complete call.
func TestStorageAndControlOverTLS(t *testing.T) {
	cert := newTestCert(t)
	node := storageNode(t, cert.flags()...)
	if !strings.HasPrefix(node.url("storage node"), "https://") {
		t.Fatalf("storage node listens at %s", node.url("storage node"))
	}
	ctl := start(t, []string{"PRESIGN_ACCESS_KEY=" + testAccessKey, "PRESIGN_SECRET_KEY=" + testSecretKey,
		"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword, "SSL_CERT_FILE=" + cert.certFile},
		append([]string{"control", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--s3-endpoint", node.url("storage node"),
			"--s3-bucket", "tls"}, cert.flags()...), "control plane")
	admin := &tlsAPI{t: t, hc: cert.client(), base: ctl.url("control plane")}
	if !strings.HasPrefix(admin.base, "https://") {
		t.Fatalf("control plane listens at %s", admin.base)
	}
	admin.waitReady()
	bo := admin.login("admin", e2eAdminPassword).newUser("bo")
	tk := bo.upload("b.txt", []byte("separate planes"))
	// The node was recognised over HTTPS as a presign node: the URL is single-use.
	if !strings.Contains(tk.URL, "X-Presign-Once=") {
		t.Fatalf("ticket URL %s lacks the single-use extension", tk.URL)
	}
	var f fileView
	bo.do(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f)
	if got := bo.download(f.ID); string(got) != "separate planes" {
		t.Fatalf("downloaded %q", got)
	}
}
