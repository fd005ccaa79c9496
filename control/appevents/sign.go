package appevents

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks headers every delivery carries: on a webhook's POST, and as message
// headers on NATS, RabbitMQ and Kafka.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret; the rest is the key in standard base64.
const secretPrefix = "whsec_"

// Bounds on a secret's key: 24 bytes (192 bits) is the Standard Webhooks minimum, 64 bytes one
// SHA-256 block, past which HMAC hashes the key first.
const (
	minSecretBytes = 24
	maxSecretBytes = 64
)

// Secret is an endpoint's signing key. Its String and LogValue never show the key; Encode
// does, for the one answer that hands it to the endpoint's owner.
type Secret struct {
	key []byte
}

// NewSecret returns a fresh 32-byte secret.
func NewSecret() Secret {
	k := make([]byte, 32)
	rand.Read(k)
	return Secret{key: k}
}

// ParseSecret reads a secret as "whsec_<base64>" (the prefix may be left out), with a key of
// 24 to 64 bytes.
func ParseSecret(s string) (Secret, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, secretPrefix))
	if err != nil {
		return Secret{}, errors.New("appevents: a secret is whsec_ and standard base64")
	}
	if len(k) < minSecretBytes || len(k) > maxSecretBytes {
		return Secret{}, fmt.Errorf("appevents: a secret's key has %d to %d bytes, not %d", minSecretBytes, maxSecretBytes, len(k))
	}
	return Secret{key: k}, nil
}

// Encode returns the secret as "whsec_<base64>", the form endpoints are given and stores keep.
func (s Secret) Encode() string {
	if len(s.key) == 0 {
		return ""
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(s.key)
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String hides the key.
func (s Secret) String() string {
	if s.IsZero() {
		return "(no secret)"
	}
	return "whsec_(redacted)"
}

// GoString hides the key from %#v too.
func (s Secret) GoString() string { return s.String() }

// LogValue hides the key from structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Signature returns the webhook-signature value for the message: "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>" for each secret, separated by spaces (several while a secret is being
// rotated; a receiver accepts any one). It is "" without secrets.
func Signature(id string, at time.Time, body []byte, secrets ...Secret) string {
	var b strings.Builder
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhookRaw(s.key)
		if err != nil {
			continue // a zero Secret signs nothing
		}
		sig, err := wh.Sign(id, at, body)
		if err != nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sig)
	}
	return b.String()
}

// Headers returns the Standard Webhooks headers of one attempt to deliver the message at at:
// webhook-id, webhook-timestamp (at, in Unix seconds), and webhook-signature when there are
// secrets.
func Headers(id string, at time.Time, body []byte, secrets ...Secret) map[string]string {
	h := map[string]string{HeaderID: id, HeaderTimestamp: strconv.FormatInt(at.Unix(), 10)}
	if sig := Signature(id, at, body, secrets...); sig != "" {
		h[HeaderSignature] = sig
	}
	return h
}

// Verify checks a delivery as a receiver does, with the Standard Webhooks reference library:
// a signature by one of the secrets, and a timestamp within five minutes of now. Tests use it;
// receivers in Go use the SDK's VerifyAppEvent.
func Verify(header http.Header, body []byte, secrets ...Secret) error {
	var errs []error
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhookRaw(s.key)
		if err != nil {
			return err
		}
		err = wh.Verify(body, header)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("appevents: no secret to verify with")
	}
	return errors.Join(errs...)
}
