package azure_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"presign/control"
	"presign/control/provider/azure"
	"presign/control/provider/providertest"
)

// TestContractOnAzurite holds the Azure provider to the control plane's storage contract,
// against Azurite, which checks every SAS.
func TestContractOnAzurite(t *testing.T) {
	providertest.Run(t, func(t *testing.T) providertest.Target {
		p, _ := newContainer(t)
		// Azure checks a Content-MD5 that Put Blob carries, and computes the blob's own when it
		// carries none; the SAS does not cover the header. It keeps no CRC32C, and no MD5 of
		// a blob put together from blocks. Put Blob's x-ms-blob-cache-control,
		// x-ms-blob-content-encoding... set blob properties the SAS does not cover; Azurite
		// keeps no plain Cache-Control or Content-Encoding (whatever a store keeps, completion
		// reads it from the blob's properties).
		return providertest.Target{Objects: p, CapsSize: false, PrivateDownloads: true,
			Checksums: []string{"md5"}, RefusesBadChecksum: true, StoredHeaderPrefix: "x-ms-blob-"}
	})
}

func send(t *testing.T, method, rawURL string, headers map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// TestAzuriteRefusesTamperedAndExpiredSAS shows that what the provider signs is what Azure
// checks: the SAS works as signed, and Azurite itself refuses it once its signature, its blob,
// its permissions or its expiry are changed.
func TestAzuriteRefusesTamperedAndExpiredSAS(t *testing.T) {
	p, _ := newContainer(t)
	now := time.Now()
	up, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/file.txt", ContentType: "text/plain", Size: 5, Now: now, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(param, value string) string {
		u, _ := url.Parse(up.URL)
		q := u.Query()
		q.Set(param, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	otherBlob := strings.Replace(up.URL, "/file.txt?", "/other.txt?", 1)
	expired, err := p.SignUpload(control.UploadSigning{Key: "u/1/a/file.txt", ContentType: "text/plain", Size: 5,
		Now: now.Add(-2 * time.Hour), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
	}{
		{"signature changed", tamper("sig", strings.Repeat("A", 43)+"=")},
		{"permissions widened", tamper("sp", "rcwd")},
		{"expiry moved", tamper("se", now.Add(time.Hour).UTC().Format("2006-01-02T15:04:05Z"))},
		{"another blob", otherBlob},
		{"expired", expired.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp := send(t, up.Method, tc.url, up.Headers, []byte("hello")); resp.StatusCode != http.StatusForbidden {
				t.Fatalf("Azurite answered %s, want 403", resp.Status)
			}
		})
	}
	if resp := send(t, up.Method, up.URL, up.Headers, []byte("hello")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the SAS as signed: Azurite answered %s, want 201", resp.Status)
	}
	// A write SAS does not read.
	if resp := send(t, http.MethodGet, up.URL, nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET with the upload SAS: %s, want 403", resp.Status)
	}
}

// TestMultipartCommitsBlocksByPartNumber sends parts out of order through their SAS and
// checks the blob is assembled in part-number order from the ids the part numbers give.
func TestMultipartCommitsBlocksByPartNumber(t *testing.T) {
	p, _ := newContainer(t)
	ctx := context.Background()
	key := "u/1/m/file.bin"
	id, err := p.CreateMultipart(ctx, key, "application/x-test")
	if err != nil {
		t.Fatal(err)
	}
	chunks := map[int]string{3: "three", 1: "one-", 2: "two-"}
	for _, n := range []int{3, 1, 2} {
		r, err := p.SignPart(control.PartSigning{Key: key, MultipartID: id, Number: n, Size: int64(len(chunks[n])), Now: time.Now(), TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if resp := send(t, r.Method, r.URL, r.Headers, []byte(chunks[n])); resp.StatusCode != http.StatusCreated {
			t.Fatalf("part %d: %s", n, resp.Status)
		}
	}
	parts, err := p.ListParts(ctx, key, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0].Number != 1 || parts[2].Number != 3 || parts[1].Size != 4 {
		t.Fatalf("parts %+v", parts)
	}
	if _, err := p.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	info, err := p.Head(ctx, key)
	if err != nil || info.Size != 13 || info.ContentType != "application/x-test" {
		t.Fatalf("blob %+v, %v", info, err)
	}
	if _, err := p.ListParts(ctx, key, id); err != control.ErrNoMultipart {
		t.Fatalf("ListParts after completion: %v, want ErrNoMultipart", err)
	}
	dl, err := p.SignDownload(key, `attachment; filename="f.bin"`, "application/x-test", time.Now(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(dl)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "one-two-three" {
		t.Fatalf("blob holds %q", body)
	}
}

// TestBlockIDsRoundTrip pins that every part number has a block id of one length that reads
// back as the same number.
func TestBlockIDsRoundTrip(t *testing.T) {
	want := len(azure.BlockID(1))
	for _, n := range []int{1, 2, 99, 10000} {
		id := azure.BlockID(n)
		if len(id) != want {
			t.Fatalf("block id of %d has length %d, of 1 %d", n, len(id), want)
		}
		if got, ok := azure.PartNumber(id); !ok || got != n {
			t.Fatalf("PartNumber(BlockID(%d)) = %d, %v", n, got, ok)
		}
	}
	if _, ok := azure.PartNumber("bm90LWEtcGFydA=="); ok {
		t.Fatal("a foreign block id read as a part")
	}
}
