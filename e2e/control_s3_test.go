package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/internal/testenv/seaweed"
)

// TestControlAgainstSeaweedFS runs "presign control" against a third-party S3 service, a real
// SeaweedFS, with no storage events: completion comes from the client's complete call and the
// reconciler. SeaweedFS enforces none of presign's extensions, so the control plane binds each
// URL with what S3 checks itself.
func TestControlAgainstSeaweedFS(t *testing.T) {
	srv := seaweed.Shared(t)
	ctl := start(t, []string{"PRESIGN_ACCESS_KEY=" + srv.AccessKey, "PRESIGN_SECRET_KEY=" + srv.SecretKey,
		"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
		[]string{"control", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--s3-endpoint", srv.Endpoint, "--s3-bucket", srv.Bucket,
			"--s3-region", srv.Region, "--s3-path-style", "--multipart-threshold", "8MiB", "--part-size", "5MiB",
			"--reconcile-interval", "200ms", "--reconcile-grace", "0"}, "control plane")
	base := ctl.url("control plane")
	waitReady(t, base)
	admin := (&api{t: t, base: base}).login("admin", e2eAdminPassword)
	sdk := s3.New(s3.Options{Region: srv.Region, Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true})
	stored := func(key string) bool {
		_, err := sdk.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
		return err == nil
	}

	t.Run("login, ticket, upload, complete, download, delete", func(t *testing.T) {
		ada, _ := admin.newUser("ada", nil)
		body := []byte("bytes kept by seaweedfs")
		var tk ticket
		ada.must(201, "POST", "/v1/uploads", map[string]any{"filename": "notes é.txt", "size": len(body), "content_type": "text/plain"}, &tk)
		if strings.Contains(tk.URL, "X-Presign-") || tk.Headers["If-None-Match"] != "*" || tk.Headers["Content-Length"] == "" {
			t.Fatalf("a ticket for a foreign S3 must bind by signed headers, not extensions: %s %v", tk.URL, tk.Headers)
		}
		if st, code := ada.call("POST", "/v1/uploads/"+tk.ID+"/complete", nil, nil); st != 409 || code != "not_uploaded" {
			t.Fatalf("complete before the upload: %d %s", st, code)
		}
		if st, code := put(t, tk, body); st != 200 {
			t.Fatalf("PUT to SeaweedFS: %d %s", st, code)
		}
		// The URL cannot replace the object it made (If-None-Match: *).
		if st, code := put(t, tk, []byte("other bytes, same length!")[:len(body)]); st != 412 {
			t.Fatalf("second PUT with the same URL: %d %s, want 412", st, code)
		}
		var f fileView
		ada.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f)
		if f.ID != tk.ID || f.Size != int64(len(body)) {
			t.Fatalf("file %+v", f)
		}
		var d struct{ URL string }
		ada.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &d)
		resp, err := http.Get(d.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Fatalf("download: %d %q", resp.StatusCode, got)
		}
		if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, "notes") {
			t.Fatalf("Content-Disposition %q", cd)
		}
		ada.must(204, "DELETE", "/v1/files/"+tk.ID, nil, nil)
		if stored(tk.Key) {
			t.Fatal("the object is still in SeaweedFS after the file was deleted")
		}
		ada.must(404, "GET", "/v1/files/"+tk.ID, nil, nil)
	})

	t.Run("an upload of another size is refused, or failed and deleted", func(t *testing.T) {
		bea, _ := admin.newUser("bea", nil)
		var tk ticket
		bea.must(201, "POST", "/v1/uploads", map[string]any{"filename": "five.txt", "size": 5, "content_type": "text/plain"}, &tk)
		// Longer or shorter bodies break the signed Content-Length: SeaweedFS refuses them.
		for _, body := range []string{"sixsix", "four"} {
			req, _ := http.NewRequest("PUT", tk.URL, strings.NewReader(body))
			for k, v := range tk.Headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Fatalf("PUT of %d bytes for a 5-byte ticket: %d, want 403", len(body), resp.StatusCode)
			}
		}
		if stored(tk.Key) {
			t.Fatal("a refused PUT left an object")
		}
		// An object of another size that lands anyway (here written with the service's own
		// keys) fails the upload at completion and is deleted.
		if _, err := sdk.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(tk.Key),
			Body: strings.NewReader("much longer than five"), ContentType: aws.String("text/plain")}); err != nil {
			t.Fatal(err)
		}
		if st, code := bea.call("POST", "/v1/uploads/"+tk.ID+"/complete", nil, nil); st != 422 || code != "object_mismatch" {
			t.Fatalf("complete with a mismatching object: %d %s", st, code)
		}
		if u := bea.waitState(tk.ID, "failed", time.Second); !strings.Contains(u.FailReason, "size") {
			t.Fatalf("fail reason %q", u.FailReason)
		}
		if stored(tk.Key) {
			t.Fatal("the mismatching object was not deleted")
		}
	})

	t.Run("a form upload holds its size by the POST policy", func(t *testing.T) {
		cy, _ := admin.newUser("cy", nil)
		var tk ticket
		cy.must(201, "POST", "/v1/uploads", map[string]any{"filename": "f.txt", "size": 3, "content_type": "text/plain", "form": true}, &tk)
		for k := range tk.Fields {
			if strings.HasPrefix(strings.ToLower(k), "x-presign-") {
				t.Fatalf("form field %s sent to SeaweedFS", k)
			}
		}
		if st, code := postForm(t, tk, []byte("toolong")); st != 400 {
			t.Fatalf("form with 7 bytes for 3: %d %s", st, code)
		}
		if st, code := postForm(t, tk, []byte("abc")); st != 201 {
			t.Fatalf("form: %d %s", st, code)
		}
		cy.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, nil)
	})

	t.Run("multipart", func(t *testing.T) {
		dee, _ := admin.newUser("dee", nil)
		body := make([]byte, 11<<20+7)
		rand.Read(body)
		var tk ticket
		dee.must(201, "POST", "/v1/uploads", map[string]any{"filename": "big.bin", "size": len(body), "content_type": "application/octet-stream"}, &tk)
		if !tk.Multipart || tk.PartCount != 3 {
			t.Fatalf("plan %+v", tk)
		}
		var pu struct {
			Parts []struct {
				Number  int               `json:"part_number"`
				URL     string            `json:"url"`
				Size    int64             `json:"size"`
				Headers map[string]string `json:"headers"`
			} `json:"parts"`
		}
		dee.must(200, "POST", "/v1/uploads/"+tk.ID+"/parts", map[string]any{"part_numbers": []int{1, 2, 3}}, &pu)
		type done struct {
			Number int    `json:"part_number"`
			ETag   string `json:"etag"`
		}
		var parts []done
		for _, pt := range pu.Parts {
			if strings.Contains(pt.URL, "X-Presign-") || pt.Headers["Content-Length"] == "" {
				t.Fatalf("part URL for a foreign S3: %s %v", pt.URL, pt.Headers)
			}
			off := int64(pt.Number-1) * tk.PartSize
			chunk := body[off : off+pt.Size]
			if pt.Number == 3 {
				// A part of another size than planned breaks its signature.
				if st, _, _ := httpDo(t, "PUT", pt.URL, nil, bytes.NewReader(append(chunk[:len(chunk):len(chunk)], 'x'))); st != 403 {
					t.Fatalf("an oversized part: %d, want 403", st)
				}
			}
			req, _ := http.NewRequest("PUT", pt.URL, bytes.NewReader(chunk))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("part %d: %d", pt.Number, resp.StatusCode)
			}
			parts = append(parts, done{pt.Number, strings.Trim(resp.Header.Get("ETag"), `"`)})
		}
		var f fileView
		dee.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", map[string]any{"parts": parts}, &f)
		if f.Size != int64(len(body)) {
			t.Fatalf("file %+v", f)
		}
		var d struct{ URL string }
		dee.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &d)
		st, _, got := httpDo(t, "GET", d.URL, nil, nil)
		if st != 200 || sha256.Sum256(got) != sha256.Sum256(body) {
			t.Fatalf("download: %d, %d bytes", st, len(got))
		}
	})

	t.Run("the reconciler completes an upload whose client never called complete", func(t *testing.T) {
		eli, _ := admin.newUser("eli", map[string]any{"url_ttl_seconds": 2})
		var kept, lost ticket
		eli.must(201, "POST", "/v1/uploads", map[string]any{"filename": "k.txt", "size": 4, "content_type": "text/plain"}, &kept)
		eli.must(201, "POST", "/v1/uploads", map[string]any{"filename": "l.txt", "size": 4, "content_type": "text/plain"}, &lost)
		if st, code := put(t, kept, []byte("kept")); st != 200 {
			t.Fatalf("PUT: %d %s", st, code)
		}
		eli.waitState(kept.ID, "completed", 20*time.Second)
		eli.waitState(lost.ID, "expired", 20*time.Second)
		eli.must(200, "GET", "/v1/files/"+kept.ID, nil, nil)
	})

	t.Run("an endpoint at localhost is addressed in the path", func(t *testing.T) {
		// localhost has no subdomains, so without --s3-path-style the bucket stays in the path.
		p := start(t, []string{"PRESIGN_ACCESS_KEY=" + srv.AccessKey, "PRESIGN_SECRET_KEY=" + srv.SecretKey,
			"PRESIGN_ADMIN_PASSWORD=" + e2eAdminPassword},
			[]string{"control", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--s3-endpoint", strings.Replace(srv.Endpoint, "127.0.0.1", "localhost", 1),
				"--s3-bucket", srv.Bucket, "--s3-extensions", "off"}, "control plane")
		waitReady(t, p.url("control plane"))
		fay, _ := (&api{t: t, base: p.url("control plane")}).login("admin", e2eAdminPassword).newUser("fay", nil)
		var tk ticket
		fay.must(201, "POST", "/v1/uploads", map[string]any{"filename": "v.txt", "size": 1}, &tk)
		u, _ := url.Parse(tk.URL)
		if u.Hostname() != "localhost" || !strings.HasPrefix(u.Path, "/"+srv.Bucket+"/") {
			t.Fatalf("a localhost endpoint is addressed in the path: %s", tk.URL)
		}
	})
}
