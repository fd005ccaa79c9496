package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"presign/sigv4"
	"presign/storage"
)

func TestPostFormFromMinioPresignedPostPolicy(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	mc, err := minio.New(strings.TrimPrefix(n.URL, "http://"), &minio.Options{
		Creds: miniocreds.NewStaticV4(formAccessKey, formSecretKey, ""), Region: formRegion, BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := minio.NewPostPolicy()
	p.SetBucket(formBucket)
	p.SetKey("u/42/report.pdf")
	p.SetContentType("application/pdf")
	p.SetContentLengthRange(1, 4096)
	p.SetUserMetadata("origin", "browser")
	p.SetExpires(time.Now().Add(10 * time.Minute))
	u, fields, err := mc.PresignedPostPolicy(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("%PDF"), 1024) // exactly the maximum
	resp, body := postForm(t, u.String(), sortedFields(fields), "report.pdf", content, nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	info, data, err := n.stored(t, "u/42/report.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, content) || info.Meta.ContentType != "application/pdf" || info.Meta.User["origin"] != "browser" {
		t.Fatalf("stored %d bytes, %+v", len(data), info.Meta)
	}
	if got := strings.Trim(resp.Header.Get("ETag"), `"`); got != info.ETag {
		t.Fatalf("ETag header %q, stored %q", got, info.ETag)
	}

	over := append(content, '!')
	resp, body = postForm(t, u.String(), sortedFields(fields), "report.pdf", over, nil)
	if resp.StatusCode != http.StatusBadRequest || parseS3Error(body).Code != "EntityTooLarge" {
		t.Fatalf("one byte over: %d %s", resp.StatusCode, body)
	}
	if _, data, _ := n.stored(t, "u/42/report.pdf"); !bytes.Equal(data, content) {
		t.Fatal("a refused upload changed the stored object")
	}
}

// TestPostFormOutcomes posts forms from sigv4.Signer.SignPost, each altered one way, and checks
// the answer and what was stored.
func TestPostFormOutcomes(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	bucketURL := n.URL + "/" + formBucket
	valid := func(key string) map[string]string {
		return n.signForm(t, key, 10, 100, map[string]string{"Content-Type": "text/plain", "x-amz-meta-owner": "7"})
	}
	for _, tc := range []struct {
		name    string
		form    func(key string) map[string]string
		url     string
		size    int
		after   []formField
		status  int
		code    string
		message string
	}{
		{name: "within range", form: valid, size: 50, status: http.StatusNoContent},
		{name: "exactly at max", form: valid, size: 100, status: http.StatusNoContent},
		{name: "exactly at min", form: valid, size: 10, status: http.StatusNoContent},
		{name: "one byte over", form: valid, size: 101, status: http.StatusBadRequest, code: "EntityTooLarge"},
		{name: "below min", form: valid, size: 9, status: http.StatusBadRequest, code: "EntityTooSmall"},
		{name: "fields after the file are ignored", form: valid, size: 20, after: []formField{{"x-amz-meta-late", "1"}}, status: http.StatusNoContent},
		{name: "expired policy", form: func(key string) map[string]string {
			then := time.Now().Add(-2 * time.Hour)
			f, err := n.Signer.SignPost(map[string]string{"key": key}, nil, then.Add(time.Hour), then)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}, size: 20, status: http.StatusForbidden, code: "AccessDenied", message: "Invalid according to Policy: Policy expired."},
		{name: "field not covered by the policy", form: func(key string) map[string]string {
			f := valid(key)
			f["x-amz-meta-extra"] = "sneaked in"
			return f
		}, size: 20, status: http.StatusForbidden, code: "AccessDenied", message: "Invalid according to Policy: Extra input fields: x-amz-meta-extra"},
		{name: "condition broken", form: func(key string) map[string]string {
			f := valid(key)
			f["content-type"] = "text/html"
			return f
		}, size: 20, status: http.StatusForbidden, code: "AccessDenied", message: `Invalid according to Policy: Policy Condition failed: ["eq","$content-type","text/plain"]`},
		{name: "tampered policy", form: func(key string) map[string]string {
			f := valid(key)
			raw, _ := base64.StdEncoding.DecodeString(f["policy"])
			f["policy"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `,10,100]`, `,10,100000]`, 1)))
			return f
		}, size: 200, status: http.StatusForbidden, code: "SignatureDoesNotMatch"},
		{name: "wrong bucket", form: valid, url: n.URL + "/elsewhere", size: 20, status: http.StatusForbidden, code: "AccessDenied",
			message: `Invalid according to Policy: Policy Condition failed: ["eq","$bucket","uploads"]`},
		{name: "invalid policy document", form: func(key string) map[string]string {
			f := valid(key)
			f["policy"] = base64.StdEncoding.EncodeToString([]byte(`{"conditions": []}`))
			f["x-amz-signature"] = signPolicy(f["x-amz-date"], f["policy"])
			return f
		}, size: 20, status: http.StatusBadRequest, code: "InvalidPolicyDocument"},
		{name: "no key field", form: func(string) map[string]string {
			f := valid("x")
			delete(f, "key")
			return f
		}, size: 20, status: http.StatusBadRequest, code: "InvalidArgument"},
		{name: "unknown access key", form: func(key string) map[string]string {
			f := valid(key)
			f["x-amz-credential"] = strings.Replace(f["x-amz-credential"], formAccessKey, "PSOTHER", 1)
			return f
		}, size: 20, status: http.StatusForbidden, code: "InvalidAccessKeyId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "t/" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.url == "" {
				tc.url = bucketURL
			}
			content := bytes.Repeat([]byte{'x'}, tc.size)
			resp, body := postForm(t, tc.url, sortedFields(tc.form(key)), "f.txt", content, tc.after)
			e := parseS3Error(body)
			if resp.StatusCode != tc.status || e.Code != tc.code || (tc.message != "" && e.Message != tc.message) {
				t.Fatalf("got %d %s %q\nwant %d %s %q\n%s", resp.StatusCode, e.Code, e.Message, tc.status, tc.code, tc.message, body)
			}
			if tc.status >= 300 {
				n.requireAbsent(t, key)
				return
			}
			info, data, err := n.stored(t, key)
			if err != nil || !bytes.Equal(data, content) || info.Meta.ContentType != "text/plain" || info.Meta.User["owner"] != "7" {
				t.Fatalf("stored %d bytes %+v, %v", len(data), info.Meta, err)
			}
			if _, late := info.Meta.User["late"]; late {
				t.Fatal("a field after the file was stored")
			}
		})
	}
}

func TestPostFormMalformedBodies(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	bucketURL := n.URL + "/" + formBucket
	fields := sortedFields(n.signForm(t, "broken", 0, 100, nil))

	t.Run("not multipart", func(t *testing.T) {
		resp, body := send(t, http.MethodPost, bucketURL, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte("key=broken"))
		if e := parseS3Error(body); resp.StatusCode != http.StatusPreconditionFailed || e.Code != "PreconditionFailed" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("no file", func(t *testing.T) {
		resp, body := postForm(t, bucketURL, fields, "", nil, nil)
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidArgument" || !strings.Contains(e.Message, "exactly one file") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("truncated inside the file", func(t *testing.T) {
		body, ct := multipartForm(t, fields, "a.bin", bytes.Repeat([]byte("y"), 50), nil)
		cut := body[:bytes.LastIndex(body, []byte("yyyy"))]
		resp, rb := send(t, http.MethodPost, bucketURL, http.Header{"Content-Type": {ct}}, cut)
		if e := parseS3Error(rb); resp.StatusCode != http.StatusBadRequest || e.Code != "MalformedPOSTRequest" {
			t.Fatalf("%d %s", resp.StatusCode, rb)
		}
		n.requireAbsent(t, "broken")
	})
	t.Run("garbage", func(t *testing.T) {
		resp, body := send(t, http.MethodPost, bucketURL, http.Header{"Content-Type": {"multipart/form-data; boundary=xyz"}}, []byte("no parts here"))
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "MalformedPOSTRequest" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("fields over 20 KiB", func(t *testing.T) {
		big := append(fields, formField{"x-ignore-padding", strings.Repeat("p", 20<<10)})
		resp, body := postForm(t, bucketURL, big, "a.bin", []byte("data"), nil)
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "MaxPostPreDataLengthExceededError" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		n.requireAbsent(t, "broken")
	})
	t.Run("part headers over the bound", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, f := range fields {
			mw.WriteField(f.name, f.value)
		}
		pw, _ := mw.CreatePart(textproto.MIMEHeader{
			"Content-Disposition": {`form-data; name="x-ignore-p"`},
			"X-Padding":           {strings.Repeat("h", 100<<10)},
		})
		pw.Write([]byte("v"))
		fw, _ := mw.CreateFormFile("file", "a.bin")
		fw.Write([]byte("data"))
		mw.Close()
		resp, body := send(t, http.MethodPost, bucketURL, http.Header{"Content-Type": {mw.FormDataContentType()}}, buf.Bytes())
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "MaxPostPreDataLengthExceededError" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("duplicate field", func(t *testing.T) {
		resp, body := postForm(t, bucketURL, append(fields, formField{"Key", "other"}), "a.bin", []byte("data"), nil)
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "InvalidArgument" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		n.requireAbsent(t, "other")
	})
}

// The node's own limit caps a policy that allows more; a file far over it is refused without
// being read to its end.
func TestPostFormCappedByNodeMaxPutSize(t *testing.T) {
	n := startFormNode(t, storage.Config{MaxPutSize: 256 << 10}, nil)
	f := n.signForm(t, "capped", 0, 1<<30, nil)
	for _, size := range []int{256<<10 + 1, 16 << 20} {
		resp, body := postForm(t, n.URL+"/"+formBucket, sortedFields(f), "a.bin", bytes.Repeat([]byte("z"), size), nil)
		if e := parseS3Error(body); resp.StatusCode != http.StatusBadRequest || e.Code != "EntityTooLarge" {
			t.Fatalf("%d bytes: %d %s", size, resp.StatusCode, body)
		}
		n.requireAbsent(t, "capped")
	}
}

func TestPostFormVirtualHostAddressing(t *testing.T) {
	n := startFormNode(t, storage.Config{Domain: "s3.test"}, nil)
	f := n.signForm(t, "vhost.txt", 0, 100, map[string]string{"success_action_status": "201"})
	body, ct := multipartForm(t, sortedFields(f), "a.txt", []byte("by host"), nil)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, n.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = formBucket + ".s3.test"
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(rb), "<Location>http://uploads.s3.test/vhost.txt</Location>") {
		t.Fatalf("%d %s", resp.StatusCode, rb)
	}
	if _, data, err := n.stored(t, "vhost.txt"); err != nil || string(data) != "by host" {
		t.Fatalf("stored %q, %v", data, err)
	}
}

// A content-length-range of 0..0 admits only an empty file.
func TestPostFormZeroRangeAdmitsOnlyEmptyFile(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	bucketURL := n.URL + "/" + formBucket
	f := sortedFields(n.signForm(t, "empty", 0, 0, nil))
	if resp, body := postForm(t, bucketURL, f, "a.bin", []byte("x"), nil); parseS3Error(body).Code != "EntityTooLarge" {
		t.Fatalf("one byte: %d %s", resp.StatusCode, body)
	}
	if resp, body := postForm(t, bucketURL, f, "a.bin", nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("empty: %d %s", resp.StatusCode, body)
	}
}

func TestPostFormSuccessActions(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	bucketURL := n.URL + "/" + formBucket
	content := []byte("hello, form")
	sum := formMD5Hex(content)

	t.Run("201 with PostResponse", func(t *testing.T) {
		f := n.signForm(t, "dir/a b.txt", 0, 100, map[string]string{"success_action_status": "201"})
		resp, body := postForm(t, bucketURL, sortedFields(f), "a.txt", content, nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var pr struct {
			XMLName                     xml.Name `xml:"PostResponse"`
			Location, Bucket, Key, ETag string
		}
		if err := xml.Unmarshal(body, &pr); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		want := bucketURL + "/dir/a%20b.txt"
		if pr.Bucket != formBucket || pr.Key != "dir/a b.txt" || pr.ETag != `"`+sum+`"` || pr.Location != want {
			t.Fatalf("PostResponse %+v, want location %s", pr, want)
		}
	})
	t.Run("200", func(t *testing.T) {
		f := n.signForm(t, "ok200", 0, 100, map[string]string{"success_action_status": "200"})
		if resp, body := postForm(t, bucketURL, sortedFields(f), "a.txt", content, nil); resp.StatusCode != http.StatusOK || len(body) != 0 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("unknown status gives 204", func(t *testing.T) {
		f := n.signForm(t, "ok204", 0, 100, map[string]string{"success_action_status": "302"})
		if resp, body := postForm(t, bucketURL, sortedFields(f), "a.txt", content, nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("303 to success_action_redirect", func(t *testing.T) {
		f := n.signForm(t, "redirected", 0, 100, map[string]string{"success_action_redirect": "https://app.example.com/done?upload=7"})
		resp, body := postForm(t, bucketURL, sortedFields(f), "a.txt", content, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if loc.Host != "app.example.com" || loc.Path != "/done" || q.Get("upload") != "7" || q.Get("bucket") != formBucket ||
			q.Get("key") != "redirected" || q.Get("etag") != `"`+sum+`"` {
			t.Fatalf("Location %s", loc)
		}
		if _, data, err := n.stored(t, "redirected"); err != nil || !bytes.Equal(data, content) {
			t.Fatalf("stored %q, %v", data, err)
		}
	})
}

func TestPostFormFilenameVariable(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	now := time.Now()
	f, err := n.Signer.SignPost(map[string]string{"Content-Type": "image/jpeg"}, []sigv4.PolicyCondition{
		{Op: sigv4.OpStartsWith, Field: "key", Value: "u/7/"},
	}, now.Add(time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	f["key"] = "u/7/${filename}"
	resp, body := postForm(t, n.URL+"/"+formBucket, sortedFields(f), "holiday photo.jpg", []byte("jpeg bytes"), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, data, err := n.stored(t, "u/7/holiday photo.jpg"); err != nil || string(data) != "jpeg bytes" {
		t.Fatalf("stored %q, %v", data, err)
	}
	// The prefix condition is checked against the key with the file name in it.
	f["key"] = "${filename}"
	resp, body = postForm(t, n.URL+"/"+formBucket, sortedFields(f), "escape.jpg", []byte("jpeg bytes"), nil)
	if resp.StatusCode != http.StatusForbidden || parseS3Error(body).Code != "AccessDenied" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	n.requireAbsent(t, "escape.jpg")
}

func TestPostFormChecksumFields(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	content := []byte("checked content")
	sum := sha256.Sum256(content)
	good := base64.StdEncoding.EncodeToString(sum[:])
	bad := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, value string
		status      int
	}{{"matching", good, http.StatusNoContent}, {"mismatching", bad, http.StatusBadRequest}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "sum-" + tc.name
			f := n.signForm(t, key, 0, 100, map[string]string{"x-amz-checksum-sha256": tc.value})
			resp, body := postForm(t, n.URL+"/"+formBucket, sortedFields(f), "a.txt", content, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tc.status != http.StatusNoContent {
				if parseS3Error(body).Code != "BadDigest" {
					t.Fatalf("%s", body)
				}
				n.requireAbsent(t, key)
				return
			}
			info, _, err := n.stored(t, key)
			if err != nil || info.Checksums["SHA256"] != good || resp.Header.Get("X-Amz-Checksum-Sha256") != good {
				t.Fatalf("checksums %v, header %q, %v", info.Checksums, resp.Header.Get("X-Amz-Checksum-Sha256"), err)
			}
		})
	}
}

// Routing form uploads before signature checks leaves DeleteObjects, the other bucket POST,
// behind them.
func TestPostRoutingLeavesDeleteObjectsSigned(t *testing.T) {
	n := startFormNode(t, storage.Config{}, nil)
	resp, body := send(t, http.MethodPost, n.URL+"/"+formBucket+"?delete", http.Header{"Content-Type": {"application/xml"}}, []byte("<Delete/>"))
	if resp.StatusCode != http.StatusForbidden || parseS3Error(body).Code != "AccessDenied" {
		t.Fatalf("unsigned DeleteObjects: %d %s", resp.StatusCode, body)
	}
}
