package e2e

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type partURL struct {
	Number int    `json:"part_number"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
}

// TestServeMultipartUploadWithPartsSignedJustInTime: from the multipart threshold on, a ticket
// is a plan; part URLs are asked for as the upload goes, each capped at its part's size, and
// complete assembles the parts and verifies the object.
func TestServeMultipartUploadWithPartsSignedJustInTime(t *testing.T) {
	p := serveProcess(t, "--multipart-threshold", "8MiB", "--part-size", "5MiB", "--events=false")
	ivy, _ := adminAPI(t, p).newUser("ivy", nil)
	body := make([]byte, 12<<20+123)
	rand.Read(body)
	var tk ticket
	ivy.must(201, "POST", "/v1/uploads", map[string]any{"filename": "big.bin", "size": len(body), "content_type": "application/octet-stream"}, &tk)
	if !tk.Multipart || tk.State != "uploading" || tk.PartSize != 5<<20 || tk.PartCount != 3 || tk.URL != "" {
		t.Fatalf("plan %+v", tk)
	}
	if st, code := ivy.call("POST", "/v1/uploads/"+tk.ID+"/parts", map[string]any{"part_numbers": []int{4}}, nil); st != 400 {
		t.Fatalf("a part outside the plan: %d %s", st, code)
	}
	type done struct {
		Number int    `json:"part_number"`
		ETag   string `json:"etag"`
	}
	var parts []done
	for n := 1; n <= tk.PartCount; n++ { // one part at a time, each signed when it starts
		var pu struct {
			Parts []partURL `json:"parts"`
		}
		ivy.must(200, "POST", "/v1/uploads/"+tk.ID+"/parts", map[string]any{"part_numbers": []int{n}}, &pu)
		if len(pu.Parts) != 1 || !strings.Contains(pu.Parts[0].URL, "X-Presign-Max-Bytes=") {
			t.Fatalf("part URLs %+v", pu.Parts)
		}
		off := int64(n-1) * tk.PartSize
		chunk := body[off : off+pu.Parts[0].Size]
		if n == 2 {
			// A part larger than planned is refused by the storage node.
			if st, _, _ := httpDo(t, "PUT", pu.Parts[0].URL, nil, bytes.NewReader(append(chunk[:len(chunk):len(chunk)], 'x'))); st != 400 {
				t.Fatalf("an oversized part: %d", st)
			}
		}
		req, _ := http.NewRequest("PUT", pu.Parts[0].URL, bytes.NewReader(chunk))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("ETag") == "" {
			t.Fatalf("part %d: %d", n, resp.StatusCode)
		}
		parts = append(parts, done{n, strings.Trim(resp.Header.Get("ETag"), `"`)})
	}
	var f fileView
	ivy.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", map[string]any{"parts": parts}, &f)
	if f.Size != int64(len(body)) || !strings.HasSuffix(f.ETag, "-3") {
		t.Fatalf("file %+v", f)
	}
	ivy.must(200, "POST", "/v1/uploads/"+tk.ID+"/complete", nil, &f) // idempotent
	var d struct{ URL string }
	ivy.must(200, "GET", "/v1/files/"+tk.ID+"/download", nil, &d)
	st, _, got := httpDo(t, "GET", d.URL, nil, nil)
	if st != 200 || !bytes.Equal(got, body) {
		t.Fatalf("download: %d, %d bytes, equal %v", st, len(got), bytes.Equal(got, body))
	}

	// A multipart upload left unfinished is aborted; one completed without a parts list uses
	// the parts the store holds.
	var tk2 ticket
	ivy.must(201, "POST", "/v1/uploads", map[string]any{"filename": "b2.bin", "size": 9 << 20, "content_type": "application/octet-stream"}, &tk2)
	var pu struct {
		Parts []partURL `json:"parts"`
	}
	ivy.must(200, "POST", "/v1/uploads/"+tk2.ID+"/parts", map[string]any{"part_numbers": []int{1, 2}}, &pu)
	for _, pt := range pu.Parts {
		if st, code, _ := httpDo(t, "PUT", pt.URL, nil, bytes.NewReader(make([]byte, pt.Size))); st != 200 {
			t.Fatalf("part %d: %d %s", pt.Number, st, code)
		}
	}
	ivy.must(200, "POST", "/v1/uploads/"+tk2.ID+"/complete", nil, &f)
	if f.Size != 9<<20 {
		t.Fatalf("file from stored parts: %+v", f)
	}
	var tk3 ticket
	ivy.must(201, "POST", "/v1/uploads", map[string]any{"filename": "b3.bin", "size": 9 << 20, "content_type": "application/octet-stream"}, &tk3)
	ivy.must(200, "DELETE", "/v1/uploads/"+tk3.ID, nil, nil)
	ivy.waitState(tk3.ID, "failed", time.Second)
	if st, code := ivy.call("POST", "/v1/uploads/"+tk3.ID+"/parts", map[string]any{"part_numbers": []int{1}}, nil); st != 409 || code != "state_conflict" {
		t.Fatalf("parts of an aborted upload: %d %s", st, code)
	}
}
