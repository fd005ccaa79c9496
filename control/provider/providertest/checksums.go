package providertest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"net/http"
	"slices"
	"strings"
	"testing"

	"presign/client"
	"presign/control"
)

// The checksums a ticket may declare beside sha256, as the API names them.
const (
	md5Name    = "md5"
	crc32cName = "crc32c"
)

// sum is the raw checksum of data named name.
func sum(name string, data []byte) []byte {
	if name == md5Name {
		s := md5.Sum(data)
		return s[:]
	}
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
}

// declare sets the checksum named name of data on the request: MD5 in hex and CRC32C in base64,
// so that both spellings the API takes are used.
func declare(req *client.TicketRequest, name string, data []byte) {
	if name == md5Name {
		req.MD5 = hex.EncodeToString(sum(name, data))
		return
	}
	req.CRC32C = base64.StdEncoding.EncodeToString(sum(name, data))
}

// checksumTests are the contract's tests of declared checksums.
func checksumTests(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("DeclaredChecksumThatMatchesCompletes", func(t *testing.T) { checksumMatches(t, newTarget(t)) })
	t.Run("BodyThatDoesNotMatchItsChecksumNeverBecomesAFile", func(t *testing.T) { checksumDiffers(t, newTarget(t)) })
	t.Run("ChecksumHeaderLeftOutStillNeverLetsOtherBytesIn", func(t *testing.T) { checksumHeaderLeftOut(t, newTarget(t)) })
	t.Run("ChecksumTheStoreCannotCheckIsRefused", func(t *testing.T) { checksumRefused(t, newTarget(t)) })
	t.Run("MultipartUploadIsHeldToItsChecksum", func(t *testing.T) { checksumMultipart(t, newTarget(t)) })
	t.Run("FormUploadIsHeldToItsChecksum", func(t *testing.T) { checksumForm(t, newTarget(t)) })
	t.Run("MalformedChecksumIsA400", func(t *testing.T) { checksumMalformed(t, newTarget(t)) })
}

// singleTicket issues the ticket of a single upload of data declaring the checksum named name
// (of declared, which is data unless the test lies).
func singleTicket(t *testing.T, e *env, name string, data, declared []byte) *client.Ticket {
	t.Helper()
	req := client.TicketRequest{Filename: "sum.bin", Size: int64(len(data)), ContentType: "application/octet-stream"}
	declare(&req, name, declared)
	tk, err := e.c.NewTicket(context.Background(), req)
	if err != nil {
		t.Fatalf("ticket declaring %s: %v", name, err)
	}
	if tk.Multipart || tk.Method != http.MethodPut {
		t.Fatalf("ticket %+v, want a single PUT", tk)
	}
	return tk
}

func checksumMatches(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	ctx := context.Background()
	for _, name := range tg.Checksums {
		t.Run(name, func(t *testing.T) {
			data := random(t, 4000)
			tk := singleTicket(t, e, name, data, data)
			if code := put(t, tk.Method, tk.URL, tk.Headers, data); code/100 != 2 {
				t.Fatalf("upload with the ticket's headers answered %d", code)
			}
			f, err := e.c.Complete(ctx, tk.ID, nil)
			if err != nil {
				t.Fatalf("complete: %v", err)
			}
			got := map[string]string{md5Name: f.MD5, crc32cName: f.CRC32C}[name]
			if want := hex.EncodeToString(sum(name, data)); got != want {
				t.Fatalf("the file shows %s %q, want %q (hex)", name, got, want)
			}
		})
	}
}

// wantRefusedOrFailed checks how a body that does not match its declared checksum ended: the
// store refused it (the upload is then still waiting for its object: 409 not_uploaded), or it
// kept it and completion failed the upload (422 object_mismatch). Either way no object is left.
func wantRefusedOrFailed(t *testing.T, e *env, tk *client.Ticket, storeRefused bool) {
	t.Helper()
	_, err := e.c.Complete(context.Background(), tk.ID, nil)
	var ae *client.APIError
	want := map[bool]string{true: "not_uploaded", false: "object_mismatch"}[storeRefused]
	if !errors.As(err, &ae) || ae.Code != want {
		t.Fatalf("complete: %v, want %s", err, want)
	}
	if _, err := e.obj.Head(context.Background(), tk.Key); !errors.Is(err, control.ErrNoObject) {
		t.Fatalf("an object is left under the key: Head = %v", err)
	}
}

func checksumDiffers(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	for _, name := range tg.Checksums {
		t.Run(name, func(t *testing.T) {
			data, other := random(t, 4000), random(t, 4000)
			tk := singleTicket(t, e, name, data, other)
			code := put(t, tk.Method, tk.URL, tk.Headers, data)
			if tg.RefusesBadChecksum != (code/100 != 2) {
				t.Fatalf("a body not matching its %s answered %d; the store refuses it before keeping it: %v", name, code, tg.RefusesBadChecksum)
			}
			wantRefusedOrFailed(t, e, tk, tg.RefusesBadChecksum)
		})
	}
}

// checksumHeaderLeftOut sends other bytes without the header that carries the checksum (which
// a client can leave out where the signature does not cover it, as on Azure): the store
// refuses the request (the header is signed) or keeps the bytes, and then completion finds the
// store's own checksum differs.
func checksumHeaderLeftOut(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	for _, name := range tg.Checksums {
		t.Run(name, func(t *testing.T) {
			data, other := random(t, 4000), random(t, 4000)
			tk := singleTicket(t, e, name, data, other)
			b64 := base64.StdEncoding.EncodeToString(sum(name, other))
			h := map[string]string{}
			for k, v := range tk.Headers {
				if !strings.Contains(v, b64) {
					h[k] = v
				}
			}
			if len(h) == len(tk.Headers) {
				t.Fatalf("the ticket's headers %q carry no %s", tk.Headers, name)
			}
			code := put(t, tk.Method, tk.URL, h, data)
			if tg.ChecksumHeaderSigned != (code/100 != 2) {
				t.Fatalf("a PUT without its %s header answered %d; the signature covers it: %v", name, code, tg.ChecksumHeaderSigned)
			}
			wantRefusedOrFailed(t, e, tk, tg.ChecksumHeaderSigned)
		})
	}
}

func checksumRefused(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	data := random(t, 100)
	for _, tc := range []struct {
		kind  string
		size  int64
		works []string
	}{{"single", 100, tg.Checksums}, {"multipart", 2*partSize + 1, tg.PartChecksums}} {
		for _, name := range []string{md5Name, crc32cName} {
			if slices.Contains(tc.works, name) {
				continue
			}
			t.Run(tc.kind+"/"+name, func(t *testing.T) {
				req := client.TicketRequest{Filename: "f.bin", Size: tc.size}
				declare(&req, name, data)
				_, err := e.c.NewTicket(context.Background(), req)
				var ae *client.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented || ae.Code != "not_supported" ||
					!strings.Contains(ae.Message, name) {
					t.Fatalf("a %s ticket declaring %s: %v, want 501 not_supported naming %s", tc.kind, name, err, name)
				}
			})
		}
	}
}

// checksumMultipart uploads in parts a file whose checksum the store checks for such uploads:
// declared right it completes, declared wrong completion fails the upload and deletes the
// object.
func checksumMultipart(t *testing.T, tg Target) {
	if len(tg.PartChecksums) == 0 {
		t.Skip("the store checks no checksum of an upload in parts (ChecksumTheStoreCannotCheckIsRefused)")
	}
	e := newEnv(t, tg)
	ctx := context.Background()
	data := random(t, 2*partSize+77)
	for _, name := range tg.PartChecksums {
		for _, right := range []bool{true, false} {
			t.Run(map[bool]string{true: "right/", false: "wrong/"}[right]+name, func(t *testing.T) {
				req := client.TicketRequest{Filename: "parts.bin", Size: int64(len(data))}
				declared := data
				if !right {
					declared = append(bytes.Clone(data[:len(data)-1]), data[len(data)-1]^1)
				}
				declare(&req, name, declared)
				tk, err := e.c.NewTicket(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if !tk.Multipart {
					t.Fatalf("ticket %+v, want multipart", tk)
				}
				for n := 1; n <= tk.PartCount; n++ {
					urls, err := e.c.PartURLs(ctx, tk.ID, []int{n}, nil)
					if err != nil {
						t.Fatal(err)
					}
					off := int64(n-1) * tk.PartSize
					if code := put(t, http.MethodPut, urls[0].URL, urls[0].Headers, data[off:min(off+tk.PartSize, int64(len(data)))]); code/100 != 2 {
						t.Fatalf("part %d answered %d", n, code)
					}
				}
				if right {
					if _, err := e.c.Complete(ctx, tk.ID, nil); err != nil {
						t.Fatalf("complete: %v", err)
					}
					return
				}
				wantRefusedOrFailed(t, e, tk, false)
			})
		}
	}
}

// checksumForm posts, where the provider signs forms, a form declaring each checksum the store
// checks: the right bytes complete, other bytes are kept and completion fails the upload and
// deletes them (S3's forms, which carry the checksums as fields, are the control package's
// tests).
func checksumForm(t *testing.T, tg Target) {
	if _, ok := tg.Objects.(control.FormSigner); !ok {
		t.Skip("the provider takes no forms; S3's forms are the control package's")
	}
	e := newEnv(t, tg)
	ctx := context.Background()
	for _, name := range tg.Checksums {
		for _, right := range []bool{true, false} {
			t.Run(map[bool]string{true: "right/", false: "wrong/"}[right]+name, func(t *testing.T) {
				data, other := random(t, 3000), random(t, 3000)
				declared := data
				if !right {
					declared = other
				}
				req := client.TicketRequest{Filename: "form.bin", Size: int64(len(data)), ContentType: "application/octet-stream", Form: true}
				declare(&req, name, declared)
				tk, err := e.c.NewTicket(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				// A provider's form does not carry the checksums: they are compared at
				// completion.
				if code := postForm(t, tk.URL, tk.Fields, data); code != http.StatusCreated {
					t.Fatalf("form post answered %d", code)
				}
				if !right {
					wantRefusedOrFailed(t, e, tk, false)
					return
				}
				if _, err := e.c.Complete(ctx, tk.ID, nil); err != nil {
					t.Fatalf("complete: %v", err)
				}
			})
		}
	}
}

// checksumMalformed sends checksums that are neither hex nor base64 of the right length: each
// is refused with the API's JSON error, 400 invalid_request, naming the field.
func checksumMalformed(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	for _, tc := range []struct{ field, value string }{
		{"md5", "xyz"},
		{"md5", strings.Repeat("a", 31)},
		{"md5", strings.Repeat("g", 32)},
		{"md5", base64.StdEncoding.EncodeToString(make([]byte, 15))},
		{"crc32c", "1234567"},
		{"crc32c", "1234567z"},
		{"crc32c", base64.StdEncoding.EncodeToString(make([]byte, 5))},
		{"crc32c", strings.Repeat("0", 32)},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"filename": "f.bin", "size": 10, tc.field: tc.value})
			req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/uploads", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.c.Token())
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var answer struct{ Error, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
				t.Fatalf("the answer is not the API's JSON error: %v", err)
			}
			if resp.StatusCode != http.StatusBadRequest || answer.Error != "invalid_request" || !strings.Contains(answer.Message, tc.field) {
				t.Fatalf("%d %+v, want 400 invalid_request naming %s", resp.StatusCode, answer, tc.field)
			}
		})
	}
}
