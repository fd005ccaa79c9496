package client_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"presign/client"
)

// The test signs as the Standard Webhooks specification says, with the standard library alone,
// independently of presign's signer.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func sign(secret, id string, at time.Time, body []byte) http.Header {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

const completedBody = `{"id":"evt_1","type":"upload.completed","timestamp":"2026-01-02T03:04:05Z","sequence":1,` +
	`"data":{"upload_id":"01up","user_id":"01us","subject":"app-user-7","file":{"id":"01up","key":"u/01us/01up/a.mp4",` +
	`"filename":"a.mp4","content_type":"video/mp4","size":42,"sha256":"abc","etag":"\"e\"","subject":"app-user-7",` +
	`"created_at":"2026-01-02T03:04:05Z"}}}`

func TestVerifyAppEventAcceptsAGenuineDeliveryAndDecodesIt(t *testing.T) {
	body := []byte(completedBody)
	e, err := client.VerifyAppEvent(testSecret, sign(testSecret, "evt_1", time.Now(), body), body)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "evt_1" || e.Type != client.EventUploadCompleted || e.Sequence != 1 || e.Data.Subject != "app-user-7" ||
		e.Data.File == nil || e.Data.File.Size != 42 || e.Data.File.Filename != "a.mp4" || e.Data.File.Subject != "app-user-7" {
		t.Fatalf("decoded %+v", e)
	}
	// Broker headers arrive with the keys as sent, in lower case.
	raw := http.Header{}
	for k, v := range sign(testSecret, "evt_1", time.Now(), body) {
		raw[strings.ToLower(k)] = v
	}
	if _, err := client.VerifyAppEvent(testSecret, raw, body); err != nil {
		t.Fatalf("lower-case header keys: %v", err)
	}
}

func TestVerifyAppEventRefusesForgedStaleAndMismatchedDeliveries(t *testing.T) {
	body := []byte(completedBody)
	now := time.Now()
	other := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cases := map[string]struct {
		h    http.Header
		body []byte
	}{
		"body changed":            {sign(testSecret, "evt_1", now, body), bytes.Replace(body, []byte("42"), []byte("43"), 1)},
		"signed by another":       {sign(other, "evt_1", now, body), body},
		"ten minutes old":         {sign(testSecret, "evt_1", now.Add(-10*time.Minute), body), body},
		"ten minutes ahead":       {sign(testSecret, "evt_1", now.Add(10*time.Minute), body), body},
		"no signature":            {http.Header{"Webhook-Id": {"evt_1"}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)}}, body},
		"signed id is not the id": {sign(testSecret, "evt_2", now, body), body},
	}
	for name, c := range cases {
		if _, err := client.VerifyAppEvent(testSecret, c.h, c.body); !errors.Is(err, client.ErrEventSignature) {
			t.Errorf("%s: %v, want ErrEventSignature", name, err)
		}
	}
	if _, err := client.VerifyAppEvent("whsec_not base64", sign(testSecret, "evt_1", now, body), body); err == nil {
		t.Error("a malformed secret verified")
	}
}

func TestAppEventHandlerAnswersSoPresignRetriesOnlyWhatFailed(t *testing.T) {
	var applied []string
	fail := false
	srv := httptest.NewServer(client.AppEventHandler(testSecret, func(_ context.Context, e *client.AppEvent) error {
		if fail {
			return errors.New("database down")
		}
		applied = append(applied, e.ID)
		return nil
	}))
	defer srv.Close()
	post := func(h http.Header, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(completedBody)
	if s := post(sign(testSecret, "evt_1", time.Now(), body), body); s != http.StatusNoContent {
		t.Fatalf("genuine delivery: %d", s)
	}
	if s := post(sign(testSecret, "evt_1", time.Now(), body), append(body, ' ')); s != http.StatusUnauthorized {
		t.Fatalf("forged delivery: %d", s)
	}
	fail = true
	if s := post(sign(testSecret, "evt_1", time.Now(), body), body); s != http.StatusInternalServerError {
		t.Fatalf("apply failed: %d", s)
	}
	if len(applied) != 1 || applied[0] != "evt_1" {
		t.Fatalf("applied %v", applied)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}
