package control_test

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strings"
	"testing"

	"presign/control"
)

func crc32cOf(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestS3CompletionComparesTheStoredCRC32C: on S3 the CRC32C the store kept (HEAD with checksum
// mode) is compared at completion, and a declared CRC32C the store does not report fails the
// upload, since nothing checked it; the MD5, which S3 reports nowhere (an ETag is not always
// one), was checked by the store before it kept the bytes and passes. The ticket's own URL
// cannot make the failing objects (it signs the checksum); the bucket's root keys, standing
// for a store that ignores the header, do here.
func TestS3CompletionComparesTheStoredCRC32C(t *testing.T) {
	declared := []byte("the declared bytes\n")
	other := bytes.ToUpper(declared)
	md5Sum := md5.Sum(declared)
	for _, tc := range []struct {
		name   string
		req    control.TicketRequest
		header http.Header // the root PUT's, beside Content-Type
		body   []byte
		reason string // what the fail reason names; "" when the upload completes
	}{
		{"stored crc32c differs", control.TicketRequest{CRC32C: hex.EncodeToString(crc32cOf(declared))},
			http.Header{"X-Amz-Checksum-Crc32c": {base64.StdEncoding.EncodeToString(crc32cOf(other))}}, other, "checksum: stored crc32c"},
		{"no crc32c stored", control.TicketRequest{CRC32C: hex.EncodeToString(crc32cOf(declared))},
			http.Header{}, declared, "checksum: the store reports no crc32c"},
		{"stored crc32c matches", control.TicketRequest{CRC32C: base64.StdEncoding.EncodeToString(crc32cOf(declared))},
			http.Header{"X-Amz-Checksum-Crc32c": {base64.StdEncoding.EncodeToString(crc32cOf(declared))}}, declared, ""},
		{"md5 checked before, not reported", control.TicketRequest{MD5: hex.EncodeToString(md5Sum[:])},
			http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(md5Sum[:])}}, declared, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNodeEnv(t, false, nil)
			_, tok := n.user("ada", nil)
			req := tc.req
			req.Filename, req.Size, req.ContentType = "notes.txt", ptr(int64(len(declared))), "text/plain"
			var tk control.Ticket
			n.must(201, "POST", "/v1/uploads", tok, req, &tk)
			h := tc.header.Clone()
			h.Set("Content-Type", "text/plain")
			if st := n.rootDo("PUT", tk.Key, h, tc.body); st != 200 {
				t.Fatalf("root PUT: %d", st)
			}
			st, code := n.call("POST", "/v1/uploads/"+tk.ID+"/complete", tok, nil, nil)
			if tc.reason == "" {
				if st != 200 {
					t.Fatalf("complete: %d %s, want 200", st, code)
				}
				return
			}
			if st != 422 || code != "object_mismatch" {
				t.Fatalf("complete: %d %s, want 422 object_mismatch", st, code)
			}
			var u control.UploadView
			n.must(200, "GET", "/v1/uploads/"+tk.ID, tok, nil, &u)
			if !strings.Contains(u.FailReason, tc.reason) {
				t.Fatalf("fail reason %q does not say %q", u.FailReason, tc.reason)
			}
			if n.stored(tk.Key) {
				t.Fatal("the mismatching object is still in storage")
			}
		})
	}
}

// TestS3FormCarriesTheDeclaredChecksums: an S3 form's policy pins content-md5 and
// x-amz-checksum-crc32c fields, so the storage node refuses other bytes and takes the file.
func TestS3FormCarriesTheDeclaredChecksums(t *testing.T) {
	data := []byte("form bytes\n")
	md5Sum := md5.Sum(data)
	n := newNodeEnv(t, false, nil)
	_, tok := n.user("ada", nil)
	for _, body := range [][]byte{bytes.ToUpper(data), data} {
		req := control.TicketRequest{Filename: "f.txt", Size: ptr(int64(len(data))), ContentType: "text/plain", Form: true,
			MD5: hex.EncodeToString(md5Sum[:]), CRC32C: hex.EncodeToString(crc32cOf(data))}
		var tk control.Ticket
		n.must(201, "POST", "/v1/uploads", tok, req, &tk)
		if tk.Fields["content-md5"] != base64.StdEncoding.EncodeToString(md5Sum[:]) ||
			tk.Fields["x-amz-checksum-crc32c"] != base64.StdEncoding.EncodeToString(crc32cOf(data)) {
			t.Fatalf("form fields %q lack the checksums", tk.Fields)
		}
		st, answer := postForm(t, tk.URL, tk.Fields, body)
		if right := bytes.Equal(body, data); right != (st/100 == 2) {
			t.Fatalf("form of the right bytes %v: %d %s", right, st, answer)
		}
	}
}

// TestS3RefusesSHA256WithCRC32C: an S3 request carries one x-amz-checksum header, so a single
// upload declaring both is refused (400) rather than signed with one and left unchecked on the
// other.
func TestS3RefusesSHA256WithCRC32C(t *testing.T) {
	n := newNodeEnv(t, false, nil)
	_, tok := n.user("ada", nil)
	req := control.TicketRequest{Filename: "f.txt", Size: ptr(int64(4)), ContentType: "text/plain",
		SHA256: strings.Repeat("ab", 32), CRC32C: "00000000"}
	if st, code := n.call("POST", "/v1/uploads", tok, req, nil); st != 400 || code != "invalid_request" {
		t.Fatalf("sha256 with crc32c: %d %s, want 400 invalid_request", st, code)
	}
}

// TestDeclaredChecksumsReachTheFileAndItsEvent: the MD5 and CRC32C a ticket declared are shown,
// in hex, on the upload, on its file and in the upload.completed event.
func TestDeclaredChecksumsReachTheFileAndItsEvent(t *testing.T) {
	n, _, tok, _, rcv := newHookedNodeEnv(t, 0)

	data := []byte("hello")
	md5Sum := md5.Sum(data)
	wantMD5, wantCRC := hex.EncodeToString(md5Sum[:]), hex.EncodeToString(crc32cOf(data))
	req := ticketReq("a.txt", 5, "text/plain")
	req.MD5, req.CRC32C = base64.StdEncoding.EncodeToString(md5Sum[:]), strings.ToUpper(wantCRC)
	var tk control.Ticket
	n.must(201, "POST", "/v1/uploads", tok, req, &tk)
	var up control.UploadView
	n.must(200, "GET", "/v1/uploads/"+tk.ID, tok, nil, &up)
	if up.MD5 != wantMD5 || up.CRC32C != wantCRC {
		t.Errorf("the upload shows md5 %q crc32c %q, want %q %q", up.MD5, up.CRC32C, wantMD5, wantCRC)
	}
	n.putTicket(tk, data)
	n.must(200, "GET", "/v1/uploads/"+tk.ID+"?wait=20s", tok, nil, &up)
	if up.State != control.StateCompleted {
		t.Fatalf("upload %+v", up)
	}
	var f control.FileView
	n.must(200, "GET", "/v1/files/"+tk.ID, tok, nil, &f)
	if f.MD5 != wantMD5 || f.CRC32C != wantCRC {
		t.Errorf("the file shows md5 %q crc32c %q, want %q %q", f.MD5, f.CRC32C, wantMD5, wantCRC)
	}
	n.eventually(func() error {
		if len(rcv.got()) != 1 {
			return fmt.Errorf("%d events", len(rcv.got()))
		}
		return nil
	})
	if ev := rcv.got()[0]; ev.Data.File == nil || ev.Data.File.MD5 != wantMD5 || ev.Data.File.CRC32C != wantCRC {
		t.Errorf("event %s with file %+v, want md5 %q crc32c %q", ev.Type, ev.Data.File, wantMD5, wantCRC)
	}
}
