package appevents_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/control/appevents"
	"presign/internal/testenv"
)

// The example the Standard Webhooks specification and its reference libraries publish.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignatureMatchesTheSpecificationsExample(t *testing.T) {
	s, err := appevents.ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	got := appevents.Signature(specID, time.Unix(specTimestamp, 0), []byte(specBody), s)
	if got != specSignature {
		t.Fatalf("Signature = %q, want %q", got, specSignature)
	}
	h := appevents.Headers(specID, time.Unix(specTimestamp, 0), []byte(specBody), s)
	want := map[string]string{"webhook-id": specID, "webhook-timestamp": "1614265330", "webhook-signature": specSignature}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q", k, h[k], v)
		}
	}
}

func TestRotationSignsWithEverySecret(t *testing.T) {
	a, b := appevents.NewSecret(), appevents.NewSecret()
	at := time.Now()
	sig := appevents.Signature("evt_1", at, []byte("{}"), a, b)
	parts := strings.Split(sig, " ")
	if len(parts) != 2 || parts[0] != appevents.Signature("evt_1", at, []byte("{}"), a) ||
		parts[1] != appevents.Signature("evt_1", at, []byte("{}"), b) {
		t.Fatalf("two secrets signed %q", sig)
	}
	if got := appevents.Signature("evt_1", at, []byte("{}")); got != "" {
		t.Fatalf("no secret signed %q", got)
	}
}

func TestParseSecretRefusesMalformedAndShortKeys(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_!!!", "whsec_" + strings.Repeat("A", 20), // 15 bytes
		"whsec_" + strings.Repeat("AAAA", 22)} { // 66 bytes
		if _, err := appevents.ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		}
	}
	s := appevents.NewSecret()
	back, err := appevents.ParseSecret(s.Encode())
	if err != nil || back.Encode() != s.Encode() || !strings.HasPrefix(s.Encode(), "whsec_") {
		t.Fatalf("round trip of %s: %v", s.Encode(), err)
	}
	if _, err := appevents.ParseSecret(strings.TrimPrefix(s.Encode(), "whsec_")); err != nil {
		t.Fatalf("a secret without its prefix: %v", err)
	}
}

func TestSecretNeverPrintsItsKey(t *testing.T) {
	s := appevents.NewSecret()
	key := strings.TrimPrefix(s.Encode(), "whsec_")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s, "endpoint", appevents.Endpoint{ID: "e", Secret: s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logs.String(),
		fmt.Sprintf("%+v", appevents.Endpoint{Secret: s})} {
		if strings.Contains(out, key) {
			t.Fatalf("the key leaked: %s", out)
		}
	}
}

// nodeVerifier runs testdata/node/verify.mjs: the npm standardwebhooks package, the Standard
// Webhooks reference verifier, answering one verification per line.
type nodeVerifier struct {
	in  *json.Encoder
	out *bufio.Scanner
}

func startNodeVerifier(t *testing.T) *nodeVerifier {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "node not installed: %v", err)
	}
	dir := filepath.Join("testdata", "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		testenv.Missing(t, "npm standardwebhooks not installed: run npm ci in %s", dir)
	}
	cmd := exec.Command(node, "verify.mjs")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	return &nodeVerifier{in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}
}

// verify asks the npm verifier; "" means it accepted.
func (v *nodeVerifier) verify(t *testing.T, secret string, h http.Header, body []byte) string {
	t.Helper()
	headers := map[string]string{}
	for k := range h {
		headers[strings.ToLower(k)] = h.Get(k)
	}
	if err := v.in.Encode(map[string]any{"secret": secret, "headers": headers, "body": string(body)}); err != nil {
		t.Fatal(err)
	}
	if !v.out.Scan() {
		t.Fatalf("node verifier ended: %v", v.out.Err())
	}
	var a struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(v.out.Bytes(), &a); err != nil {
		t.Fatalf("node verifier answered %q", v.out.Text())
	}
	if a.OK {
		return ""
	}
	return a.Error
}

func header(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestNPMStandardWebhooksVerifiesPresignSignatures(t *testing.T) {
	v := startNodeVerifier(t)
	s, other := appevents.NewSecret(), appevents.NewSecret()
	body := []byte(`{"id":"evt_1","type":"upload.completed","data":{"upload_id":"u1"}}`)
	now := time.Now()
	signed := header(appevents.Headers("evt_1", now, body, s))
	rotated := header(appevents.Headers("evt_1", now, body, other, s))
	old := header(appevents.Headers("evt_1", now.Add(-10*time.Minute), body, s))
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		ok     bool
	}{
		{"signed", s.Encode(), signed, body, true},
		{"rotation: the second signature matches", s.Encode(), rotated, body, true},
		{"body changed", s.Encode(), signed, append([]byte(" "), body...), false},
		{"another secret", other.Encode(), signed, body, false},
		{"a replay ten minutes old", s.Encode(), old, body, false},
		{"the specification's example, out of the time window", specSecret,
			header(map[string]string{"webhook-id": specID, "webhook-timestamp": "1614265330", "webhook-signature": specSignature}),
			[]byte(specBody), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := v.verify(t, c.secret, c.h, c.body)
			if c.ok && got != "" {
				t.Fatalf("npm verifier refused: %s", got)
			}
			if !c.ok && got == "" {
				t.Fatal("npm verifier accepted")
			}
			// The Go reference verifier agrees with the npm one.
			goErr := appevents.Verify(c.h, c.body, must(appevents.ParseSecret(c.secret)))
			if (goErr == nil) != c.ok {
				t.Fatalf("Go verifier: %v, npm verifier: %q", goErr, got)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
