package storage_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"presign/sigv4"
	"presign/storage"
	"presign/storage/disk"
)

// The browser-upload tests (POST forms, CORS, a real browser) share a node started by
// startFormNode: storage.New on a disk backend behind a real listener on 127.0.0.1.

const (
	formAccessKey = "PSFORMTESTKEY"
	formSecretKey = "form-test-secret/with+symbols="
	formRegion    = "us-east-1"
	formBucket    = "uploads"
)

// formNode is a running storage node and what a test needs to reach it.
type formNode struct {
	URL     string
	Backend *disk.Backend // the disk backend (not cfg.Backend, when the test gave one)
	Signer  *sigv4.Signer
}

// startFormNode runs a storage node configured by cfg, with the test credentials and region
// and, when cfg has no Backend, a fresh disk backend holding the bucket formBucket. wrap, when
// not nil, wraps its handler.
func startFormNode(t *testing.T, cfg storage.Config, wrap func(http.Handler) http.Handler) *formNode {
	t.Helper()
	b, err := disk.Open(t.Context(), disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if cfg.Backend == nil {
		cfg.Backend = b
	}
	if cfg.Nonces == nil {
		cfg.Nonces = b // as presign storage runs: the disk backend keeps the nonces
	}
	cfg.Credentials = sigv4.StaticCredentials{formAccessKey: formSecretKey}
	cfg.Region = formRegion
	srv, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close) // after the HTTP server, which stops first
	var h http.Handler = srv
	if wrap != nil {
		h = wrap(srv)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	if err := b.CreateBucket(t.Context(), formBucket); err != nil {
		t.Fatal(err)
	}
	return &formNode{
		URL:     ts.URL,
		Backend: b,
		Signer: &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: formAccessKey, SecretAccessKey: formSecretKey},
			Region: formRegion},
	}
}

// formField is one field of a form, in the order it is sent.
type formField struct{ name, value string }

// sortedFields turns a map of fields into a list in name order.
func sortedFields(m map[string]string) []formField {
	var out []formField
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, formField{k, m[k]})
	}
	return out
}

// multipartForm encodes fields, then the file part (when filename is not empty), then after.
func multipartForm(t *testing.T, fields []formField, filename string, file []byte, after []formField) (body []byte, contentType string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if filename != "" {
		fw, err := mw.CreateFormFile("file", filename)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	for _, f := range after {
		if err := mw.WriteField(f.name, f.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), mw.FormDataContentType()
}

// noRedirects is a client that shows a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// send makes a request and returns the response with its body read.
func send(t *testing.T, method, u string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// postForm posts a form to the bucket URL.
func postForm(t *testing.T, bucketURL string, fields []formField, filename string, file []byte, after []formField) (*http.Response, []byte) {
	t.Helper()
	body, ct := multipartForm(t, fields, filename, file, after)
	return send(t, http.MethodPost, bucketURL, http.Header{"Content-Type": {ct}}, body)
}

// s3Error is the part of an S3 XML error body the tests look at.
type s3Error struct {
	Code    string
	Message string
}

func parseS3Error(body []byte) s3Error {
	var e s3Error
	xml.Unmarshal(body, &e)
	return e
}

// signForm signs a form for key with a content-length-range of lo..hi and the given extra
// fields, valid for ten minutes.
func (n *formNode) signForm(t *testing.T, key string, lo, hi int64, fields map[string]string) map[string]string {
	t.Helper()
	all := map[string]string{"key": key}
	maps.Copy(all, fields)
	now := time.Now()
	f, err := n.Signer.SignPost(all, []sigv4.PolicyCondition{
		{Op: sigv4.OpEq, Field: "bucket", Value: formBucket},
		{Op: sigv4.OpContentLengthRange, Min: lo, Max: hi},
	}, now.Add(10*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// stored returns the object at key and its bytes, or the backend's error.
func (n *formNode) stored(t *testing.T, key string) (storage.ObjectInfo, []byte, error) {
	t.Helper()
	obj, err := n.Backend.GetObject(t.Context(), formBucket, key)
	if err != nil {
		return storage.ObjectInfo{}, nil, err
	}
	defer obj.Close()
	info := obj.Info()
	rc, err := obj.Range(t.Context(), 0, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return info, data, nil
}

func (n *formNode) requireAbsent(t *testing.T, key string) {
	t.Helper()
	if _, _, err := n.stored(t, key); !errors.Is(err, storage.ErrNoSuchKey) {
		t.Fatalf("%s: %v, want nothing stored", key, err)
	}
}

// signPolicy signs a policy as SignPost does, so that a test can sign a document SignPost
// would never make.
func signPolicy(amzDate, policy string) string {
	t, _ := time.Parse(sigv4.TimeFormat, amzDate)
	s := &sigv4.Signer{Credentials: sigv4.Credentials{AccessKeyID: formAccessKey, SecretAccessKey: formSecretKey}, Region: formRegion}
	key := s.SigningKey(t)
	return formHMACHex(key[:], policy)
}

func formMD5Hex(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func formHMACHex(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}
