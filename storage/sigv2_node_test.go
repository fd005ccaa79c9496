package storage_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"presign/sigv2"
	"presign/storage"
)

// The node's Signature Version 2: header-signed requests, presigned URLs and POST forms as the
// S3 tools make them (sigv2.Signer makes them as botocore and s3cmd do; the e2e tests run the
// tools themselves), its errors, and the rules that keep presign's extensions off it.

var v2Signer = &sigv2.Signer{AccessKeyID: formAccessKey, SecretAccessKey: formSecretKey}

// v2Send sends a request signed with SigV2 in its Authorization header.
func (n *formNode) v2Send(t *testing.T, method, path string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if err := v2Signer.SignRequest(req, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	return send(t, method, req.URL.String(), req.Header, body)
}

// v2URL presigns path (with its query) with SigV2; header lists headers the client sends.
func (n *formNode) v2URL(t *testing.T, method, path string, header http.Header, expires time.Time) string {
	t.Helper()
	u, err := url.Parse(n.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := v2Signer.Presign(method, u, "", header, expires)
	if err != nil {
		t.Fatal(err)
	}
	return pu.String()
}

// TestSigV2RequestsAndURLsWork: header-signed writes and reads, and presigned GET and PUT,
// as the tools make them; a URL's query-carried Content-Type (botocore's form) is applied.
func TestSigV2RequestsAndURLsWork(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	resp, body := n.v2Send(t, http.MethodPut, "/"+formBucket+"/v2/a b.txt", http.Header{"Content-Type": {"text/plain"}, "X-Amz-Meta-Owner": {"alice"}}, []byte("hello v2"))
	if resp.StatusCode != 200 {
		t.Fatalf("header-signed PUT: %d %s", resp.StatusCode, body)
	}
	resp, body = n.v2Send(t, http.MethodGet, "/"+formBucket+"/v2/a%20b.txt", nil, nil)
	if resp.StatusCode != 200 || string(body) != "hello v2" || resp.Header.Get("X-Amz-Meta-Owner") != "alice" {
		t.Fatalf("header-signed GET: %d %s", resp.StatusCode, body)
	}
	resp, body = n.v2Send(t, http.MethodGet, "/"+formBucket+"?prefix=v2%2F", nil, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("<Key>v2/a b.txt</Key>")) {
		t.Fatalf("header-signed listing: %d %s", resp.StatusCode, body)
	}
	u := n.v2URL(t, http.MethodGet, "/"+formBucket+"/v2/a%20b.txt?response-content-disposition=attachment", nil, time.Now().Add(time.Hour))
	resp, body = send(t, http.MethodGet, u, nil, nil)
	if resp.StatusCode != 200 || string(body) != "hello v2" || resp.Header.Get("Content-Disposition") != "attachment" {
		t.Fatalf("presigned GET: %d %s", resp.StatusCode, body)
	}
	// botocore's presigned PUT carries Content-Type as a query parameter, signed.
	u = n.v2URL(t, http.MethodPut, "/"+formBucket+"/v2/put.mp4", nil, time.Now().Add(time.Hour))
	u += "&" + url.Values{"content-type": {"video/mp4"}}.Encode()
	resp, body = send(t, http.MethodPut, u, nil, []byte("movie"))
	if resp.StatusCode != 403 || xmlCode(body) != "SignatureDoesNotMatch" {
		t.Fatalf("a query-carried header added after signing: %d %s", resp.StatusCode, body)
	}
	u = n.v2URL(t, http.MethodPut, "/"+formBucket+"/v2/put.mp4?content-type=video%2Fmp4", nil, time.Now().Add(time.Hour))
	resp, body = send(t, http.MethodPut, u, nil, []byte("movie"))
	if resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, body)
	}
	resp, _ = n.signedSend(t, http.MethodHead, "/"+formBucket+"/v2/put.mp4", nil, nil)
	if resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("the URL's Content-Type was not applied: %q", resp.Header.Get("Content-Type"))
	}
}

// TestSigV2FailuresAsS3: tampering, expiry, clock skew and an unknown key get S3's answers,
// and a SigV2 request carrying a presign extension is refused, never served without it.
func TestSigV2FailuresAsS3(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	n.signedSend(t, http.MethodPut, "/"+formBucket+"/k", nil, []byte("x"))
	good := n.v2URL(t, http.MethodGet, "/"+formBucket+"/k", nil, time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name   string
		do     func() (*http.Response, []byte)
		status int
		code   string
		msg    string
	}{
		{"presigned", func() (*http.Response, []byte) { return send(t, http.MethodGet, good, nil, nil) }, 200, "", ""},
		{"tampered key", func() (*http.Response, []byte) {
			return send(t, http.MethodGet, strings.Replace(good, "/k?", "/j?", 1), nil, nil)
		}, 403, "SignatureDoesNotMatch", ""},
		{"tampered expiry", func() (*http.Response, []byte) {
			u, _ := url.Parse(good)
			q := u.Query()
			q.Set("Expires", "4102444800")
			u.RawQuery = q.Encode()
			return send(t, http.MethodGet, u.String(), nil, nil)
		}, 403, "SignatureDoesNotMatch", ""},
		{"other method", func() (*http.Response, []byte) { return send(t, http.MethodDelete, good, nil, nil) }, 403, "SignatureDoesNotMatch", ""},
		{"expired", func() (*http.Response, []byte) {
			return send(t, http.MethodGet, n.v2URL(t, http.MethodGet, "/"+formBucket+"/k", nil, time.Now().Add(-time.Second)), nil, nil)
		}, 403, "AccessDenied", "Request has expired"},
		{"unknown key", func() (*http.Response, []byte) {
			return send(t, http.MethodGet, strings.Replace(good, formAccessKey, "AKIDUNKNOWN", 1), nil, nil)
		}, 403, "InvalidAccessKeyId", ""},
		{"once on a SigV2 URL", func() (*http.Response, []byte) {
			return send(t, http.MethodGet, good+"&X-Presign-Once=n1", nil, nil)
		}, 400, "InvalidRequest", "X-Presign-Once"},
		{"max bytes on a SigV2 header request", func() (*http.Response, []byte) {
			return n.v2Send(t, http.MethodPut, "/"+formBucket+"/k2?X-Presign-Max-Bytes=1", nil, []byte("xyz"))
		}, 400, "InvalidRequest", "X-Presign-Max-Bytes"},
		{"skewed date", func() (*http.Response, []byte) {
			req, _ := http.NewRequest(http.MethodGet, n.URL+"/"+formBucket+"/k", nil)
			v2Signer.SignRequest(req, "", time.Now().Add(-time.Hour))
			return send(t, http.MethodGet, req.URL.String(), req.Header, nil)
		}, 403, "RequestTimeTooSkewed", ""},
		{"malformed header", func() (*http.Response, []byte) {
			return send(t, http.MethodGet, n.URL+"/"+formBucket+"/k", http.Header{"Authorization": {"AWS nocolon"}, "Date": {time.Now().UTC().Format(http.TimeFormat)}}, nil)
		}, 400, "InvalidArgument", "AwsAccessKeyId:signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.do()
			if resp.StatusCode != tc.status || xmlCode(body) != tc.code || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	if resp, _ := n.signedSend(t, http.MethodHead, "/"+formBucket+"/k2", nil, nil); resp.StatusCode != 404 {
		t.Fatal("the refused SigV2 PUT stored something")
	}
}

// TestSigV2OffAnswersAsS3: with SigV2 off, every form of it gets S3's answer in the regions
// without it, and SigV4 still works.
func TestSigV2OffAnswersAsS3(t *testing.T) {
	n := startFormNode(t, storage.Config{NoSigV2: true}, nil)
	const msg = "<Code>InvalidRequest</Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.</Message>"
	policy := base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"` + formBucket + `"},["starts-with","$key",""]]}`))
	for name, do := range map[string]func() (*http.Response, []byte){
		"header": func() (*http.Response, []byte) { return n.v2Send(t, http.MethodGet, "/"+formBucket+"/k", nil, nil) },
		"query": func() (*http.Response, []byte) {
			return send(t, http.MethodGet, n.v2URL(t, http.MethodGet, "/"+formBucket+"/k", nil, time.Now().Add(time.Hour)), nil, nil)
		},
		"post": func() (*http.Response, []byte) {
			return postForm(t, n.URL+"/"+formBucket, []formField{{"key", "k"}, {"AWSAccessKeyId", formAccessKey}, {"policy", policy}, {"signature", v2Signer.SignPolicy(policy)}}, "f.txt", []byte("x"), nil)
		},
	} {
		resp, body := do()
		if resp.StatusCode != 400 || !strings.Contains(string(body), msg) {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	if resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"/v4", nil, []byte("x")); resp.StatusCode != 200 {
		t.Fatalf("SigV4 with SigV2 off: %d %s", resp.StatusCode, body)
	}
}

// TestSigV2PostForm: a form signed as boto3's generate_presigned_post signs it by default; its
// policy is checked as a SigV4 form's is, and a presign extension field is refused.
func TestSigV2PostForm(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	doc := func(extra string) string {
		p, _ := json.Marshal(map[string]any{"expiration": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"),
			"conditions": []any{map[string]string{"bucket": formBucket}, []string{"starts-with", "$key", "up/"}, []any{"content-length-range", 1, 100}}})
		if extra != "" {
			p = bytes.Replace(p, []byte(`"conditions":[`), []byte(`"conditions":[`+extra+`,`), 1)
		}
		return base64.StdEncoding.EncodeToString(p)
	}
	form := func(policy string, fields ...formField) []formField {
		return append([]formField{{"key", "up/${filename}"}, {"AWSAccessKeyId", formAccessKey}, {"policy", policy}, {"signature", v2Signer.SignPolicy(policy)}}, fields...)
	}
	p := doc("")
	if resp, body := postForm(t, n.URL+"/"+formBucket, form(p), "ok.txt", []byte("posted"), nil); resp.StatusCode != 204 {
		t.Fatalf("SigV2 form: %d %s", resp.StatusCode, body)
	}
	if resp, body := postForm(t, n.URL+"/"+formBucket, form(p), "big.txt", bytes.Repeat([]byte("x"), 101), nil); resp.StatusCode != 400 || xmlCode(body) != "EntityTooLarge" {
		t.Fatalf("a file over the policy's range: %d %s", resp.StatusCode, body)
	}
	bad := form(p)
	bad[3].value = v2Signer.SignPolicy(doc(`["eq","$x-amz-meta-a","b"]`))
	if resp, body := postForm(t, n.URL+"/"+formBucket, bad, "ok.txt", []byte("x"), nil); resp.StatusCode != 403 || xmlCode(body) != "SignatureDoesNotMatch" {
		t.Fatalf("a signature of another policy: %d %s", resp.StatusCode, body)
	}
	once := doc(`["eq","$x-presign-once","n1"]`)
	if resp, body := postForm(t, n.URL+"/"+formBucket, form(once, formField{"x-presign-once", "n1"}), "once.txt", []byte("x"), nil); resp.StatusCode != 400 || !strings.Contains(string(body), "x-presign-once") {
		t.Fatalf("x-presign-once on a SigV2 form: %d %s", resp.StatusCode, body)
	}
	if resp, _ := n.signedSend(t, http.MethodHead, "/"+formBucket+"/up/once.txt", nil, nil); resp.StatusCode != 404 {
		t.Fatal("the refused form stored its file")
	}
}
