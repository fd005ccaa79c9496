package storage_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"presign/events"
	"presign/storage"
)

// minioMP is one multipart scenario driven by minio-go: its low-level Core API and its
// presigned URLs, the way a resuming uploader or a browser behind an app server uses them.
type minioMP struct {
	t    *testing.T
	n    *mpNode
	core *minio.Core
	key  string
}

func (m *minioMP) create() string {
	m.t.Helper()
	id, err := m.core.NewMultipartUpload(m.t.Context(), mpBucket, m.key, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		m.t.Fatalf("NewMultipartUpload(%q): %v", m.key, err)
	}
	return id
}

func (m *minioMP) put(id string, number int, data []byte) minio.CompletePart {
	m.t.Helper()
	p, err := m.core.PutObjectPart(m.t.Context(), mpBucket, m.key, id, number, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
	if err != nil {
		m.t.Fatalf("PutObjectPart(%d): %v", number, err)
	}
	return minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag}
}

func (m *minioMP) complete(id string, parts ...minio.CompletePart) (minio.UploadInfo, error) {
	return m.core.CompleteMultipartUpload(m.t.Context(), mpBucket, m.key, id, parts, minio.PutObjectOptions{})
}

// presignPart is the URL minio-go presigns for one part: partNumber and uploadId are signed.
func (m *minioMP) presignPart(id string, number int) string {
	m.t.Helper()
	u, err := m.n.Minio.Presign(m.t.Context(), http.MethodPut, mpBucket, m.key, 15*time.Minute,
		url.Values{"partNumber": {fmt.Sprint(number)}, "uploadId": {id}})
	if err != nil {
		m.t.Fatalf("Presign part %d: %v", number, err)
	}
	return u.String()
}

// readBack returns the object's bytes as minio-go reads them, and its ETag.
func (m *minioMP) readBack() ([]byte, string) {
	m.t.Helper()
	obj, err := m.n.Minio.GetObject(m.t.Context(), mpBucket, m.key, minio.GetObjectOptions{})
	if err != nil {
		m.t.Fatal(err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		m.t.Fatalf("GetObject(%q): %v", m.key, err)
	}
	info, err := obj.Stat()
	if err != nil {
		m.t.Fatal(err)
	}
	return data, info.ETag
}

// exists reports whether the scenario's object is there.
func (m *minioMP) exists() bool {
	m.t.Helper()
	_, err := m.n.Minio.StatObject(m.t.Context(), mpBucket, m.key, minio.StatObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		m.t.Fatalf("StatObject(%q): %v", m.key, err)
	}
	return err == nil
}

// minioCode is the S3 error code minio-go reports for err.
func minioCode(err error) string { return minio.ToErrorResponse(err).Code }

// TestMultipartWithMinioGo runs multipart scenarios with minio-go against a node whose events
// go through a real outbox to a webhook: parallel presigned parts, a resumed upload, abort, the
// completion rules S3 enforces, and a retried completion.
func TestMultipartWithMinioGo(t *testing.T) {
	sink := startEventSink(t)
	n := startMultipartNode(t, func(c *storage.Config) { c.Events = sink.Log })
	core := &minio.Core{Client: n.Minio}

	for _, tc := range []struct {
		name string
		run  func(m *minioMP)
	}{
		{"presigned part URLs uploaded in parallel, then completed", func(m *minioMP) {
			t := m.t
			id := m.create()
			chunks := [][]byte{mpData("pp1", 5*mib), mpData("pp2", 5*mib), mpData("pp3", 5*mib+7), mpData("pp4", 999)}
			parts := make([]minio.CompletePart, len(chunks))
			var wg sync.WaitGroup
			for i := range chunks {
				wg.Go(func() {
					resp, body := putURL(t, m.presignPart(id, i+1), nil, chunks[i])
					if resp.StatusCode != http.StatusOK {
						t.Errorf("PUT part %d: %d %s", i+1, resp.StatusCode, body)
						return
					}
					parts[i] = minio.CompletePart{PartNumber: i + 1, ETag: resp.Header.Get("ETag")}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			info, err := m.complete(id, parts...)
			if err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			if `"`+info.ETag+`"` != wantETag(chunks...) {
				t.Fatalf("ETag %s, want %s", info.ETag, wantETag(chunks...))
			}
			if data, etag := m.readBack(); !bytes.Equal(data, slices.Concat(chunks...)) || `"`+etag+`"` != wantETag(chunks...) {
				t.Fatalf("read back %d bytes (ETag %s) that differ from the parts", len(data), etag)
			}
		}},
		{"resumed: the uploader finds its upload and parts, then continues", func(m *minioMP) {
			t := m.t
			id := m.create()
			chunks := [][]byte{mpData("r1", 5*mib), mpData("r2", 5*mib), mpData("r3", 5*mib), mpData("r4", 12)}
			m.put(id, 1, chunks[0])
			m.put(id, 2, chunks[1])
			// State lost: find the upload by key, then its parts one per page.
			ups, err := core.ListMultipartUploads(t.Context(), mpBucket, m.key, "", "", "", 10)
			if err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id || ups.Uploads[0].Key != m.key {
				t.Fatalf("ListMultipartUploads: %+v, %v", ups.Uploads, err)
			}
			var have []minio.CompletePart
			marker, pages := 0, 0
			for {
				res, err := core.ListObjectParts(t.Context(), mpBucket, m.key, id, marker, 1)
				if err != nil {
					t.Fatalf("ListObjectParts after %d: %v", marker, err)
				}
				pages++
				for _, p := range res.ObjectParts {
					if p.Size != int64(len(chunks[p.PartNumber-1])) {
						t.Fatalf("part %d listed with %d bytes, uploaded %d", p.PartNumber, p.Size, len(chunks[p.PartNumber-1]))
					}
					have = append(have, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
				}
				if !res.IsTruncated {
					break
				}
				marker = res.NextPartNumberMarker
			}
			if len(have) != 2 || pages < 2 {
				t.Fatalf("%d pages listed %d parts, want 2 parts on 2 or more pages", pages, len(have))
			}
			for i := len(have); i < len(chunks); i++ {
				have = append(have, m.put(id, i+1, chunks[i]))
			}
			if _, err := m.complete(id, have...); err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			if data, _ := m.readBack(); !bytes.Equal(data, slices.Concat(chunks...)) {
				t.Fatal("the resumed upload reads back different bytes")
			}
		}},
		{"aborted: parts gone, the upload unknown", func(m *minioMP) {
			t := m.t
			id := m.create()
			part := m.put(id, 1, mpData("ab", 5*mib))
			if err := core.AbortMultipartUpload(t.Context(), mpBucket, m.key, id); err != nil {
				t.Fatalf("AbortMultipartUpload: %v", err)
			}
			if _, err := core.ListObjectParts(t.Context(), mpBucket, m.key, id, 0, 100); minioCode(err) != "NoSuchUpload" {
				t.Fatalf("ListObjectParts after abort: %v, want NoSuchUpload", err)
			}
			if _, err := m.complete(id, part); minioCode(err) != "NoSuchUpload" {
				t.Fatalf("CompleteMultipartUpload after abort: %v, want NoSuchUpload", err)
			}
			if resp, body := putURL(t, m.presignPart(id, 2), nil, []byte("late")); resp.StatusCode != http.StatusNotFound || parseS3Error(body).Code != "NoSuchUpload" {
				t.Fatalf("presigned part after abort: %d %s, want 404 NoSuchUpload", resp.StatusCode, body)
			}
			if err := core.AbortMultipartUpload(t.Context(), mpBucket, m.key, id); minioCode(err) != "NoSuchUpload" {
				t.Fatalf("second abort: %v, want NoSuchUpload", err)
			}
			ups, err := core.ListMultipartUploads(t.Context(), mpBucket, m.key, "", "", "", 10)
			if err != nil || len(ups.Uploads) != 0 {
				t.Fatalf("ListMultipartUploads after abort: %+v, %v", ups.Uploads, err)
			}
			if m.exists() {
				t.Fatal("an aborted upload made an object")
			}
		}},
		{"parts listed out of order: InvalidPartOrder", func(m *minioMP) {
			t := m.t
			id := m.create()
			p1, p2 := m.put(id, 1, mpData("o1", 5*mib)), m.put(id, 2, mpData("o2", 10))
			if _, err := m.complete(id, p2, p1); minioCode(err) != "InvalidPartOrder" {
				t.Fatalf("parts 2, 1: %v, want InvalidPartOrder", err)
			}
			if m.exists() {
				t.Fatal("a refused completion made the object")
			}
			if _, err := m.complete(id, p1, p2); err != nil {
				t.Fatalf("the upload is intact after the refusal: %v", err)
			}
		}},
		{"a part under 5 MiB that is not the last: EntityTooSmall", func(m *minioMP) {
			t := m.t
			id := m.create()
			small, big := mpData("s1", 5*mib-1), mpData("s2", 5*mib)
			p1, p2 := m.put(id, 1, small), m.put(id, 2, big)
			if _, err := m.complete(id, p1, p2); minioCode(err) != "EntityTooSmall" {
				t.Fatalf("5 MiB - 1 as part 1 of 2: %v, want EntityTooSmall", err)
			}
			if m.exists() {
				t.Fatal("a refused completion made the object")
			}
			// The same small part is fine as the last one.
			if _, err := m.complete(id, p1); err != nil {
				t.Fatalf("completion with the small part last: %v", err)
			}
			if data, _ := m.readBack(); !bytes.Equal(data, small) {
				t.Fatal("the object is not the one part listed")
			}
		}},
		{"a retried completion: same ETag, one event", func(m *minioMP) {
			t := m.t
			id := m.create()
			chunks := [][]byte{mpData("c1", 5*mib), mpData("c2", 3)}
			parts := []minio.CompletePart{m.put(id, 1, chunks[0]), m.put(id, 2, chunks[1])}
			first, err := m.complete(id, parts...)
			if err != nil {
				t.Fatalf("CompleteMultipartUpload: %v", err)
			}
			sink.delivered(t) // the first event has left the log: the retry cannot be refused by it
			again, err := m.complete(id, parts...)
			if err != nil || again.ETag != first.ETag || `"`+first.ETag+`"` != wantETag(chunks...) {
				t.Fatalf("retried completion: %v, ETag %s; first %s, want %s", err, again.ETag, first.ETag, wantETag(chunks...))
			}
			records, ids := sink.deliveredWithIDs(t)
			seen := map[string]bool{}
			for i, r := range records {
				if key, _ := r.S3.Object.DecodedKey(); key == m.key {
					checkRecord(t, r, events.ObjectCreatedCompleteMultipartUpload, m.key, 5*mib+3, first.ETag)
					seen[ids[i]] = true
				}
			}
			if len(seen) != 1 {
				t.Fatalf("%d distinct events for the object, want 1:\n%s", len(seen), recordList(records, ids))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(&minioMP{t: t, n: n, core: core, key: "minio/" + t.Name()})
		})
	}
}
