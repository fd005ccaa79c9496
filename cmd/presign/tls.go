package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"
)

// tlsFlags are a server's certificate and key; with both, its listeners serve HTTPS.
type tlsFlags struct {
	cert, key string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key of --tls-cert")
}

// serverTLS is what a process serves HTTPS with.
type serverTLS struct {
	config *tls.Config
	leaf   *x509.Certificate
}

// load reads the certificate and key; nil when neither flag is set.
func (f *tlsFlags) load() (*serverTLS, error) {
	if f.cert == "" && f.key == "" {
		return nil, nil
	}
	if f.cert == "" || f.key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	return &serverTLS{config: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, leaf: leaf}, nil
}

// verifyPeer accepts the process's own certificate, and otherwise does what crypto/tls does by
// default: the chain up to a system root, for the server name.
func (t *serverTLS) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the server presented no certificate")
	}
	if bytes.Equal(cs.PeerCertificates[0].Raw, t.leaf.Raw) {
		return nil
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(opts)
	return err
}

// scheme is the URL scheme of a listener served with t.
func (t *serverTLS) scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}

// tlsConfig is the listeners' configuration; nil for plain HTTP.
func (t *serverTLS) tlsConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.config
}

// loopbackClient is the HTTP client of a process's calls to its own listeners (inside
// "presign serve": the storage node's webhook to the control plane, the control plane's S3
// calls to the node). Those go to 127.0.0.1, which a certificate made for a public name does
// not cover, and the certificate may be self-signed; so a peer presenting exactly the
// certificate this process serves is accepted whatever its address (only a holder of the key
// can), and any other peer (a user's own webhook) is verified as usual: system roots and host
// name. Like the default clients it replaces, it follows no redirects. With plain HTTP it is
// nil (the callers' defaults).
func (t *serverTLS) loopbackClient(timeout time.Duration) *http.Client {
	if t == nil {
		return nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is not skipped: VerifyConnection does it, with one more trusted peer.
		InsecureSkipVerify: true,
		VerifyConnection:   t.verifyPeer,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
