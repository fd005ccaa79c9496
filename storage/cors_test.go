package storage_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/cors"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/sigv4"
	"presign/storage"
)

func (n *formNode) awsClient() *s3.Client {
	return s3.New(s3.Options{
		Region:       formRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(formAccessKey, formSecretKey, ""),
		BaseEndpoint: aws.String(n.URL),
		UsePathStyle: true,
	})
}

func (n *formNode) minioClient(t *testing.T) *minio.Client {
	t.Helper()
	mc, err := minio.New(strings.TrimPrefix(n.URL, "http://"), &minio.Options{
		Creds: miniocreds.NewStaticV4(formAccessKey, formSecretKey, ""), Region: formRegion, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

// signedSend sends a header-signed request.
func (n *formNode) signedSend(t *testing.T, method, path string, h http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if _, err := n.Signer.SignRequest(req, sigv4.UnsignedPayload, time.Now()); err != nil {
		t.Fatal(err)
	}
	return send(t, method, req.URL.String(), req.Header, body)
}

// presign returns a presigned URL for path.
func (n *formNode) presign(t *testing.T, method, path string, expires time.Duration) string {
	t.Helper()
	u, err := url.Parse(n.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := n.Signer.Presign(method, u, nil, time.Now(), expires)
	if err != nil {
		t.Fatal(err)
	}
	return p.String()
}

func TestBucketCORSConfigWithAWSSDK(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	c := n.awsClient()
	ctx := t.Context()
	_, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(formBucket)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchCORSConfiguration" {
		t.Fatalf("before any configuration: %v", err)
	}
	rules := []types.CORSRule{
		{ID: aws.String("app"), AllowedOrigins: []string{"https://app.example.com", "http://*.example.com"}, AllowedMethods: []string{"PUT", "POST"},
			AllowedHeaders: []string{"content-type", "x-amz-*"}, ExposeHeaders: []string{"ETag", "x-amz-request-id"}, MaxAgeSeconds: aws.Int32(600)},
		{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET", "HEAD"}},
	}
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String(formBucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(formBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.CORSRules) != 2 {
		t.Fatalf("got %d rules", len(out.CORSRules))
	}
	got, want := out.CORSRules[0], rules[0]
	if aws.ToString(got.ID) != "app" || !slices.Equal(got.AllowedOrigins, want.AllowedOrigins) || !slices.Equal(got.AllowedMethods, want.AllowedMethods) ||
		!slices.Equal(got.AllowedHeaders, want.AllowedHeaders) || !slices.Equal(got.ExposeHeaders, want.ExposeHeaders) || aws.ToInt32(got.MaxAgeSeconds) != 600 {
		t.Fatalf("rule 1 came back as %+v", got)
	}
	if got := out.CORSRules[1]; !slices.Equal(got.AllowedOrigins, []string{"*"}) || got.MaxAgeSeconds != nil || got.ID != nil {
		t.Fatalf("rule 2 came back as %+v", got)
	}
	if _, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String(formBucket)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String(formBucket)}); !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchCORSConfiguration" {
		t.Fatalf("after delete: %v", err)
	}
	_, err = c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("missing")})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "NoSuchBucket" {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestBucketCORSConfigWithMinio(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	mc := n.minioClient(t)
	ctx := t.Context()
	cfg := cors.NewConfig([]cors.Rule{{AllowedOrigin: []string{"https://app.example.com"}, AllowedMethod: []string{"PUT"}, AllowedHeader: []string{"*"}, ExposeHeader: []string{"ETag"}}})
	if err := mc.SetBucketCors(ctx, formBucket, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := mc.GetBucketCors(ctx, formBucket)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 1 || !slices.Equal(got.CORSRules[0].AllowedOrigin, []string{"https://app.example.com"}) || !slices.Equal(got.CORSRules[0].AllowedHeader, []string{"*"}) {
		t.Fatalf("got %+v", got)
	}
	if err := mc.SetBucketCors(ctx, formBucket, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := mc.GetBucketCors(ctx, formBucket); err != nil || got != nil {
		t.Fatalf("after removal: %+v, %v", got, err)
	}
}

func TestPutBucketCORSRefusesInvalidConfigurations(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	rule := func(inner string) string {
		return `<CORSConfiguration><CORSRule>` + inner + `</CORSRule></CORSConfiguration>`
	}
	for _, tc := range []struct {
		name, doc, code string
		noMD5           bool
	}{
		{"unknown method", rule(`<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>`), "InvalidRequest", false},
		{"two wildcards in an origin", rule(`<AllowedOrigin>http://*.*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>`), "InvalidRequest", false},
		{"two wildcards in a header", rule(`<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader>`), "InvalidRequest", false},
		{"no origin", rule(`<AllowedMethod>GET</AllowedMethod>`), "MalformedXML", false},
		{"no method", rule(`<AllowedOrigin>*</AllowedOrigin>`), "MalformedXML", false},
		{"no rule", `<CORSConfiguration></CORSConfiguration>`, "MalformedXML", false},
		{"not XML", `CORS please`, "MalformedXML", false},
		{"no Content-MD5", rule(`<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>`), "InvalidRequest", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if !tc.noMD5 {
				sum := md5.Sum([]byte(tc.doc))
				h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
			}
			resp, body := n.signedSend(t, http.MethodPut, "/"+formBucket+"?cors", h, []byte(tc.doc))
			if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if resp, _ := n.signedSend(t, http.MethodGet, "/"+formBucket+"?cors", nil, nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("a refused configuration was stored: GET ?cors %d", resp.StatusCode)
			}
		})
	}
}

// putCORS sets the bucket's configuration with the AWS SDK.
func (n *formNode) putCORS(t *testing.T, rules ...types.CORSRule) {
	t.Helper()
	if _, err := n.awsClient().PutBucketCors(t.Context(), &s3.PutBucketCorsInput{Bucket: aws.String(formBucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: rules}}); err != nil {
		t.Fatal(err)
	}
}

// preflight sends an OPTIONS request as a browser does: no credentials.
func preflight(t *testing.T, u, origin, method, headers string) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	if method != "" {
		h.Set("Access-Control-Request-Method", method)
	}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	return send(t, http.MethodOptions, u, h, nil)
}

var appRules = []types.CORSRule{
	{AllowedOrigins: []string{"http://*.example.com"}, AllowedMethods: []string{"PUT", "POST"},
		AllowedHeaders: []string{"Content-Type", "x-amz-*"}, ExposeHeaders: []string{"x-amz-request-id"}, MaxAgeSeconds: aws.Int32(600)},
	{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"GET"}},
}

func TestPreflight(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	n.putCORS(t, appRules...)
	objectURL := n.URL + "/" + formBucket + "/u/1/file.bin"
	presigned := n.presign(t, http.MethodPut, "/"+formBucket+"/u/1/file.bin", time.Minute)
	type want struct {
		status                               int
		code, allowOrigin, methods, headers  string
		credentials, maxAge, expose, message string
	}
	for _, tc := range []struct {
		name, url, origin, method, headers string
		want                               want
	}{
		{"allowed by wildcard origin and headers", objectURL, "http://app.example.com", "PUT", "content-type, X-Amz-Meta-Owner",
			want{status: 200, allowOrigin: "http://app.example.com", methods: "PUT, POST", headers: "content-type, x-amz-meta-owner",
				credentials: "true", maxAge: "600", expose: "ETag, x-amz-request-id"}},
		{"to a presigned URL, query and all", presigned, "http://app.example.com", "PUT", "",
			want{status: 200, allowOrigin: "http://app.example.com", methods: "PUT, POST", credentials: "true", maxAge: "600", expose: "ETag, x-amz-request-id"}},
		{"to the bucket, for a form", n.URL + "/" + formBucket, "http://uploads.example.com", "POST", "",
			want{status: 200, allowOrigin: "http://uploads.example.com", methods: "PUT, POST", credentials: "true", maxAge: "600", expose: "ETag, x-amz-request-id"}},
		{"any origin for GET", objectURL, "https://elsewhere.test", "GET", "",
			want{status: 200, allowOrigin: "*", methods: "GET", expose: "ETag"}},
		{"header not allowed", objectURL, "http://app.example.com", "PUT", "content-type, authorization",
			want{status: 403, code: "AccessForbidden", message: "CORSResponse: This CORS request is not allowed."}},
		{"method not allowed", objectURL, "http://app.example.com", "DELETE", "",
			want{status: 403, code: "AccessForbidden"}},
		{"scheme differs from the rule", objectURL, "https://app.example.com", "PUT", "",
			want{status: 403, code: "AccessForbidden"}},
		{"origin only shares the suffix", objectURL, "http://example.com.evil.test", "PUT", "",
			want{status: 403, code: "AccessForbidden"}},
		{"no Origin", objectURL, "", "PUT", "", want{status: 400, code: "BadRequest"}},
		{"unknown method", objectURL, "http://app.example.com", "PATCH", "", want{status: 400, code: "BadRequest"}},
		{"bucket without configuration", n.URL + "/other-bucket/x", "http://app.example.com", "PUT", "",
			want{status: 403, code: "AccessForbidden", message: "CORSResponse: CORS is not enabled for this bucket."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := preflight(t, tc.url, tc.origin, tc.method, tc.headers)
			h := resp.Header
			e := parseS3Error(body)
			got := want{status: resp.StatusCode, code: e.Code, allowOrigin: h.Get("Access-Control-Allow-Origin"),
				methods: h.Get("Access-Control-Allow-Methods"), headers: h.Get("Access-Control-Allow-Headers"),
				credentials: h.Get("Access-Control-Allow-Credentials"), maxAge: h.Get("Access-Control-Max-Age"),
				expose: h.Get("Access-Control-Expose-Headers"), message: e.Message}
			// Messages are compared by their start, and only where the case names one.
			if strings.HasPrefix(got.message, tc.want.message) {
				got.message = tc.want.message
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v\n%s", got, tc.want, body)
			}
		})
	}
}

func TestActualResponsesCarryCORSHeaders(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	n.putCORS(t, appRules...)
	key := "/" + formBucket + "/doc.txt"
	origin := http.Header{"Origin": {"http://app.example.com"}}

	resp, body := send(t, http.MethodPut, n.presign(t, http.MethodPut, key, time.Minute), origin, []byte("cross-origin"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %d %s", resp.StatusCode, body)
	}
	h := resp.Header
	if h.Get("Access-Control-Allow-Origin") != "http://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Expose-Headers") != "ETag, x-amz-request-id" || !slices.Contains(h.Values("Vary"), "Origin") || h.Get("ETag") == "" {
		t.Fatalf("PUT response headers %v", h)
	}

	resp, _ = send(t, http.MethodGet, n.presign(t, http.MethodGet, key, time.Minute), http.Header{"Origin": {"https://reader.test"}}, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
	}

	// An error is readable by the page too.
	u, _ := url.Parse(n.URL + key)
	expired, err := n.Signer.Presign(http.MethodPut, u, nil, time.Now().Add(-time.Hour), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = send(t, http.MethodPut, expired.String(), origin, []byte("late"))
	if e := parseS3Error(body); resp.StatusCode != http.StatusForbidden || e.Message != "Request has expired" || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example.com" {
		t.Fatalf("expired PUT: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// A form upload answers the page's origin.
	f := n.signForm(t, "form.txt", 0, 100, map[string]string{"success_action_status": "201"})
	form, ct := multipartForm(t, sortedFields(f), "form.txt", []byte("posted"), nil)
	resp, body = send(t, http.MethodPost, n.URL+"/"+formBucket, http.Header{"Content-Type": {ct}, "Origin": {"http://forms.example.com"}}, form)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Access-Control-Allow-Origin") != "http://forms.example.com" {
		t.Fatalf("POST: %d %v %s", resp.StatusCode, resp.Header, body)
	}

	// No rule for this origin and method: no CORS headers, but caches are told the answer
	// depends on the Origin.
	resp, _ = send(t, http.MethodDelete, n.presign(t, http.MethodDelete, key, time.Minute), origin, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" || !slices.Contains(resp.Header.Values("Vary"), "Origin") {
		t.Fatalf("DELETE: %d %v", resp.StatusCode, resp.Header)
	}

	// Without an Origin, nothing CORS.
	resp, _ = send(t, http.MethodGet, n.presign(t, http.MethodGet, "/"+formBucket+"/form.txt", time.Minute), nil, nil)
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Vary") != "" {
		t.Fatalf("GET without Origin: %v", resp.Header)
	}
}

func TestDefaultCORSRule(t *testing.T) {
	const app = "http://localhost:5173"
	n := startFormNode(t, storage.Config{DefaultCORS: []storage.CORSRule{storage.BrowserCORSRule(app)}}, nil)
	objectURL := n.URL + "/" + formBucket + "/x"

	resp, body := preflight(t, objectURL, app, "PUT", "content-type")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != app ||
		!strings.HasPrefix(resp.Header.Get("Access-Control-Expose-Headers"), "ETag, ") {
		t.Fatalf("default rule: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := preflight(t, objectURL, "http://localhost:6000", "PUT", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another origin: %d", resp.StatusCode)
	}
	// A request that names no bucket, and a bucket that does not exist, get the default too.
	if resp, _ := preflight(t, n.URL+"/", app, "GET", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("root: %d", resp.StatusCode)
	}
	resp, body = send(t, http.MethodGet, n.presign(t, http.MethodGet, "/no-such-bucket/x", time.Minute), http.Header{"Origin": {app}}, nil)
	if parseS3Error(body).Code != "NoSuchBucket" || resp.Header.Get("Access-Control-Allow-Origin") != app {
		t.Fatalf("missing bucket: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// A bucket's own configuration replaces the default.
	n.putCORS(t, types.CORSRule{AllowedOrigins: []string{"https://other.test"}, AllowedMethods: []string{"PUT"}})
	if resp, _ := preflight(t, objectURL, app, "PUT", ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bucket configuration did not replace the default: %d", resp.StatusCode)
	}
}

func TestNewRefusesInvalidDefaultCORS(t *testing.T) {
	backend := startFormNode(t, storage.Config{}, nil).Backend
	for _, rules := range [][]storage.CORSRule{
		{{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"OPTIONS"}}},
		{{AllowedOrigins: []string{"http://*.*"}, AllowedMethods: []string{"GET"}}},
		{{AllowedMethods: []string{"GET"}}},
	} {
		_, err := storage.New(storage.Config{Backend: backend, Credentials: sigv4.StaticCredentials{}, DefaultCORS: rules})
		if err == nil {
			t.Errorf("%+v accepted", rules)
		}
	}
}

// A backend without the BucketCORSStore capability: bucket configurations are not
// implemented, the default rule still applies.
func TestCORSWithoutBackendCapability(t *testing.T) {
	const app = "https://app.test"
	base := startFormNode(t, storage.Config{}, nil)
	n := startFormNode(t, storage.Config{Backend: struct{ storage.Backend }{base.Backend}, DefaultCORS: []storage.CORSRule{storage.BrowserCORSRule(app)}}, nil)
	resp, body := n.signedSend(t, http.MethodGet, "/"+formBucket+"?cors", nil, nil)
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("GetBucketCors: %d %s", resp.StatusCode, body)
	}
	if resp, _ := preflight(t, n.URL+"/"+formBucket+"/x", app, "PUT", "content-type"); resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight: %d", resp.StatusCode)
	}
}
