package gcsv4

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// AlgorithmRSA is the X-Goog-Algorithm of a V4 URL signed with a service account's RSA key.
const AlgorithmRSA = "GOOG4-RSA-SHA256"

// Signer signs with one service account's RSA key. It is safe for concurrent use.
type Signer struct {
	// Email is the service account's client_email (the credential's id).
	Email string
	// Key is the service account's private key.
	Key *rsa.PrivateKey
}

// ParseServiceAccount reads a service-account key file (the JSON that
// GOOGLE_APPLICATION_CREDENTIALS names): its client_email and private_key.
func ParseServiceAccount(data []byte) (*Signer, error) {
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		PrivateKey  string `json:"private_key"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("gcsv4: service account key: %w", err)
	}
	if f.ClientEmail == "" || f.PrivateKey == "" {
		return nil, errors.New("gcsv4: the credentials are not a service account key (no client_email and private_key): only a service account's key signs URLs locally")
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return nil, errors.New("gcsv4: service account private_key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if k1, err1 := x509.ParsePKCS1PrivateKey(block.Bytes); err1 == nil {
			k = k1
		} else {
			return nil, fmt.Errorf("gcsv4: service account private_key: %w", err)
		}
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("gcsv4: service account private_key is not an RSA key")
	}
	return &Signer{Email: f.ClientEmail, Key: rk}, nil
}

// Sign signs r at now for ttl (1 s to MaxExpires).
func (s *Signer) Sign(r Request, now time.Time, ttl time.Duration) (Signed, error) {
	d, err := prepare(r, now, ttl, AlgorithmRSA, s.Email)
	if err != nil {
		return Signed{}, err
	}
	digest := sha256.Sum256([]byte(d.stringToSign))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.Key, crypto.SHA256, digest[:])
	if err != nil {
		return Signed{}, fmt.Errorf("gcsv4: sign: %w", err)
	}
	return d.signed(sig), nil
}
