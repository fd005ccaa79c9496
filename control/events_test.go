package control_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"presign/control"
	"presign/events"
)

// deliver posts a webhook delivery with the headers and returns the status, error code and answer.
func deliver(t *testing.T, e *env, h http.Header, body []byte) (int, string, control.EventResult) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/storage-events", bytes.NewReader(body))
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res control.EventResult
	var ae struct{ Error string }
	json.Unmarshal(raw, &res)
	json.Unmarshal(raw, &ae)
	return resp.StatusCode, ae.Error, res
}

func eventBody(t *testing.T, bucket, key string) []byte {
	t.Helper()
	b, err := events.Marshal(events.NewRecord(events.ObjectEvent{Name: events.ObjectCreatedPut, Time: time.Now(),
		Bucket: bucket, Key: key, Size: 5, ETag: "abc", Sequencer: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStorageEventsRefuseForgeriesAndReplays: only deliveries signed with the secret, recently,
// are accepted; an event id is applied once and a repeat is acknowledged as a duplicate.
func TestStorageEventsRefuseForgeriesAndReplays(t *testing.T) {
	e := newEnv(t, nil)
	body := eventBody(t, "other-bucket", "u/x/y/z")
	now := e.clock.Now()
	id := events.NewID()
	for _, tc := range []struct {
		name string
		h    http.Header
		body []byte
	}{
		{"unsigned", http.Header{}, body},
		{"wrong secret", events.Sign([]byte("not-the-secret-at-all"), id, body, now), body},
		{"body changed", events.Sign([]byte(eventSecret), id, body, now), eventBody(t, "other-bucket", "u/x/y/other")},
		{"replayed after the tolerance", events.Sign([]byte(eventSecret), id, body, now.Add(-events.DefaultTolerance-time.Second)), body},
		{"signed in the future", events.Sign([]byte(eventSecret), id, body, now.Add(events.DefaultTolerance+time.Minute)), body},
	} {
		if st, code, _ := deliver(t, e, tc.h, tc.body); st != 401 || code != "bad_signature" {
			t.Errorf("%s: got %d %s, want 401 bad_signature", tc.name, st, code)
		}
	}
	h := events.Sign([]byte(eventSecret), id, body, now)
	st, _, res := deliver(t, e, h, body)
	if st != 200 || res.Duplicate || res.ID != id || res.Records != 0 {
		t.Fatalf("genuine delivery about another bucket: %d %+v", st, res)
	}
	st, _, res = deliver(t, e, h, body)
	if st != 200 || !res.Duplicate {
		t.Fatalf("the same delivery again: %d %+v, want 200 and a duplicate", st, res)
	}
	if st, code, _ := deliver(t, e, h, []byte("not json")); st != 401 || code != "bad_signature" {
		t.Fatalf("a genuine id with another body: %d %s", st, code)
	}
}

func TestStorageEventsAreRefusedWithoutASecret(t *testing.T) {
	e := newEnv(t, func(c *control.Config) { c.EventSecrets = nil })
	body := eventBody(t, testBucket, "u/a/b/c")
	h := events.Sign([]byte(eventSecret), events.NewID(), body, e.clock.Now())
	if st, code, _ := deliver(t, e, h, body); st != 404 || code != "events_disabled" {
		t.Fatalf("got %d %s", st, code)
	}
}

func TestProbesReportTheObjectStoreAndServeTheDocument(t *testing.T) {
	e := newEnv(t, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, b := get("/healthz"); st != 200 || b != "ok\n" {
		t.Fatalf("healthz: %d %q", st, b)
	}
	// The object store of these tests is a closed port: not ready, and the answer says which.
	if st, b := get("/readyz"); st != 503 || !strings.Contains(b, "not_ready") || !strings.Contains(b, "object store") {
		t.Fatalf("readyz: %d %s", st, b)
	}
	st, b := get("/openapi.json")
	var doc map[string]any
	if st != 200 || json.Unmarshal([]byte(b), &doc) != nil || doc["openapi"] == nil {
		t.Fatalf("openapi.json: %d", st)
	}
	if st, b := get("/v1/nothing-here"); st != 404 || !strings.Contains(b, `"not_found"`) {
		t.Fatalf("unknown route: %d %s", st, b)
	}
}
