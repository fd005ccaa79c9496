// Package providertest is the contract every storage provider of the control plane keeps: the
// whole flow of a file (single upload, multipart upload, resumed upload, download with its
// name, delete) through the control plane's API and Go SDK against a real store or emulator,
// and what completion does with objects that do not match their ticket. Each provider's tests
// run Run against their store, so S3, Azure and GCS are held to the same behaviour.
package providertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"presign/client"
	"presign/control"
	"presign/control/sqlite"
	"presign/internal/testenv/testclock"
)

// Target is a store to run the contract against.
type Target struct {
	// Objects is the provider, on an empty bucket or container that exists.
	Objects control.Objects
	// Configure completes the control plane's configuration (an S3 provider's URL and
	// credentials); nil for a provider that signs its own URLs.
	Configure func(*control.Config)
	// CapsSize says whether the store refuses a body larger than its ticket before keeping it
	// (a signed Content-Length or length range); when false the object is kept and completion
	// must delete it.
	CapsSize bool
	// PrivateDownloads says whether the store answers a download with the Cache-Control its
	// URL signs (S3's response-cache-control, Azure's rscc; GCS has no such override), which
	// the control plane sets to private so that shared caches do not keep files.
	PrivateDownloads bool
	// Checksums are the checksums a ticket may declare ("md5", "crc32c") that the store
	// checks for a single upload, before it keeps the bytes or at completion; a ticket
	// declaring another is refused (501).
	Checksums []string
	// PartChecksums are the same for an upload in parts.
	PartChecksums []string
	// RefusesBadChecksum says whether the store refuses a body that does not match the
	// checksum the ticket's headers carry; when false it keeps it and completion must fail the
	// upload and delete it.
	RefusesBadChecksum bool
	// ChecksumHeaderSigned says whether the store refuses a request that leaves out the
	// header carrying the checksum, because the signature covers it.
	ChecksumHeaderSigned bool
	// StoresAddedHeaders says whether the store keeps a header an upload adds outside its
	// signature (Cache-Control, Content-Encoding) and replays it on downloads: when true
	// completion must fail the upload, naming the header, and delete the object; when false
	// (presign's node) the store drops the header and the upload completes without it.
	StoresAddedHeaders bool
	// StoredHeaderPrefix is the prefix of a second request header that sets each stored header
	// and that the store always keeps ("x-ms-blob-" on Azure: x-ms-blob-cache-control), ""
	// when there is none.
	StoredHeaderPrefix string
}

const (
	adminPassword = "providertest-admin-1"
	partSize      = 5 << 20
)

// env is a control plane over the target, with a logged-in SDK client.
type env struct {
	t   *testing.T
	svc *control.Service
	obj control.Objects
	c   *client.Client
	clk *testclock.Clock
	url string
}

func newEnv(t *testing.T, tg Target) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "control.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testclock.New(time.Now())
	cfg := control.Config{Store: store, Objects: tg.Objects, Bucket: "files", Logger: slog.New(slog.DiscardHandler),
		MultipartThreshold: 2 * partSize, PartSize: partSize, ReconcileGrace: -1, Now: clk.Now}
	if tg.Configure != nil {
		tg.Configure(&cfg)
	}
	svc, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnsureAdmin(ctx, adminPassword); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler(nil))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, control.AdminUsername, adminPassword); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, svc: svc, obj: tg.Objects, c: c, clk: clk, url: srv.URL}
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Run runs the contract against the store newTarget makes (one per subtest).
func Run(t *testing.T, newTarget func(t *testing.T) Target) {
	t.Run("SingleUploadDownloadWithNameDelete", func(t *testing.T) { singleUpload(t, newTarget(t)) })
	t.Run("MultipartUploadIsComposedFromItsParts", func(t *testing.T) { multipartUpload(t, newTarget(t)) })
	t.Run("ResumedMultipartSendsOnlyMissingParts", func(t *testing.T) { resumedUpload(t, newTarget(t)) })
	t.Run("OversizeBodyNeverBecomesAFile", func(t *testing.T) { oversize(t, newTarget(t)) })
	t.Run("WrongContentTypeNeverBecomesAFile", func(t *testing.T) { wrongType(t, newTarget(t)) })
	t.Run("ReconcilerCompletesAnUploadNobodyCompleted", func(t *testing.T) { reconciled(t, newTarget(t)) })
	t.Run("WhatTheProviderCannotSignIsRefused", func(t *testing.T) { refusals(t, newTarget(t)) })
	t.Run("FormUploadBecomesAFile", func(t *testing.T) { formUpload(t, newTarget(t)) })
	t.Run("Checksums", func(t *testing.T) { checksumTests(t, newTarget) })
	t.Run("AddedHeaders", func(t *testing.T) { addedHeaderTests(t, newTarget) })
}

// formUpload posts a file as a browser form, the fields first and the file last, where the
// provider signs forms, and checks it completes with its bytes and type.
func formUpload(t *testing.T, tg Target) {
	if _, ok := tg.Objects.(control.FormSigner); !ok {
		t.Skip("the provider takes no forms (WhatTheProviderCannotSignIsRefused); S3's forms are the control package's")
	}
	e := newEnv(t, tg)
	ctx := context.Background()
	data := random(t, 2500)
	tk, err := e.c.NewTicket(ctx, client.TicketRequest{Filename: "form.txt", Size: int64(len(data)), ContentType: "text/plain", Form: true})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Method != http.MethodPost || tk.Fields["key"] != tk.Key {
		t.Fatalf("form ticket %s, fields %q", tk.Method, tk.Fields)
	}
	if code := postForm(t, tk.URL, tk.Fields, data); code != http.StatusCreated {
		t.Fatalf("form post: %d", code)
	}
	f, err := e.c.Complete(ctx, tk.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || f.ContentType != "text/plain" {
		t.Fatalf("file %+v", f)
	}
	var got bytes.Buffer
	if _, err := e.c.DownloadTo(ctx, f.ID, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the form's file downloads with other bytes")
	}
}

// refusals checks that what a provider that signs its own URLs cannot do (forms where it is
// not a FormSigner, revoking one URL) is refused with 501 not_supported and records nothing,
// and that an upload of undeclared size gets a single PUT only where the signature caps its
// size.
func refusals(t *testing.T, tg Target) {
	signer, ok := tg.Objects.(control.URLSigner)
	if !ok {
		t.Skip("an S3 store signs forms and, on presign's nodes, revokes (control package tests)")
	}
	e := newEnv(t, tg)
	ctx := context.Background()
	if _, forms := signer.(control.FormSigner); !forms {
		_, err := e.c.NewTicket(ctx, client.TicketRequest{Filename: "f.txt", Size: 5, ContentType: "text/plain", Form: true})
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented || ae.Code != "not_supported" {
			t.Fatalf("form ticket: %v, want 501 not_supported", err)
		}
	}
	tk, err := e.c.NewTicket(ctx, client.TicketRequest{Filename: "f.txt", Size: 5, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/uploads/"+tk.ID+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+e.c.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "not_supported") {
		t.Fatalf("revoke: %d %s, want 501 not_supported", resp.StatusCode, body)
	}
	// An undeclared size, over the raw API (the SDK always declares one).
	req, _ = http.NewRequest(http.MethodPost, e.url+"/v1/uploads", strings.NewReader(`{"filename":"g.txt","max_size":1000,"content_type":"text/plain"}`))
	req.Header.Set("Authorization", "Bearer "+e.c.Token())
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if want := map[bool]int{true: http.StatusCreated, false: http.StatusBadRequest}[signer.CapsUploadSize()]; resp.StatusCode != want {
		t.Fatalf("a PUT of undeclared size with CapsUploadSize %v: %d, want %d", signer.CapsUploadSize(), resp.StatusCode, want)
	}
}

func singleUpload(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	ctx := context.Background()
	data := random(t, 3000)
	f, err := e.c.Upload(ctx, "Résumé 2026.pdf", bytes.NewReader(data), int64(len(data)), &client.UploadOptions{ContentType: "application/pdf"})
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != int64(len(data)) || f.ContentType != "application/pdf" {
		t.Fatalf("file %+v", f)
	}
	var got bytes.Buffer
	if _, err := e.c.DownloadTo(ctx, f.ID, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("downloaded %d bytes, not the %d uploaded", got.Len(), len(data))
	}
	link, err := e.c.Share(ctx, f.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("shared link answered %s", resp.Status)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if err != nil || params["filename"] != "Résumé 2026.pdf" {
		t.Fatalf("Content-Disposition %q: the download does not carry the file's name", resp.Header.Get("Content-Disposition"))
	}
	if cc := resp.Header.Get("Cache-Control"); tg.PrivateDownloads && cc != "private" {
		t.Fatalf("Cache-Control %q on a download, want private", cc)
	}
	if err := e.c.Delete(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.obj.Head(ctx, f.Key); !errors.Is(err, control.ErrNoObject) {
		t.Fatalf("after delete, Head = %v, want ErrNoObject", err)
	}
}

func multipartUpload(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	ctx := context.Background()
	data := random(t, 2*partSize+1234)
	f, err := e.c.Upload(ctx, "big.bin", bytes.NewReader(data), int64(len(data)), &client.UploadOptions{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.obj.Head(ctx, f.Key)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("stored object %+v, %v", info, err)
	}
	var got bytes.Buffer
	if _, err := e.c.DownloadTo(ctx, f.ID, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the assembled object is not the file")
	}
}

// postForm posts the form's fields and then the file, as a browser does, and returns the status.
func postForm(t *testing.T, url string, fields map[string]string, data []byte) int {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "form.bin")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// put sends body to a signed request as a browser would, with the headers given.
func put(t *testing.T, method, url string, headers map[string]string, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
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
	return resp.StatusCode
}

func resumedUpload(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	ctx := context.Background()
	data := random(t, 2*partSize+10)
	size := int64(len(data))
	tk, err := e.c.NewTicket(ctx, client.TicketRequest{Filename: "resumed.bin", Size: size, ContentType: "application/octet-stream"})
	if err != nil {
		t.Fatal(err)
	}
	if !tk.Multipart || tk.PartCount != 3 {
		t.Fatalf("ticket %+v, want 3 parts", tk)
	}
	sendPart := func(n int) {
		urls, err := e.c.PartURLs(ctx, tk.ID, []int{n}, nil)
		if err != nil {
			t.Fatal(err)
		}
		off := int64(n-1) * tk.PartSize
		end := min(off+tk.PartSize, size)
		if code := put(t, http.MethodPut, urls[0].URL, urls[0].Headers, data[off:end]); code/100 != 2 {
			t.Fatalf("part %d answered %d", n, code)
		}
	}
	sendPart(2) // the first session sent one part and stopped
	stored, err := e.c.StoredParts(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Number != 2 || stored[0].Size != partSize {
		t.Fatalf("stored parts %+v, want part 2 of %d bytes", stored, partSize)
	}
	sendPart(1)
	sendPart(3)
	f, err := e.c.Complete(ctx, tk.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := e.c.DownloadTo(ctx, f.ID, &got, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("the resumed upload's object is not the file")
	}
}

// mustNotBecomeFile completes the upload and checks it failed or never arrived, and that no
// object is left under its key.
func mustNotBecomeFile(t *testing.T, e *env, id, key string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.c.Complete(ctx, id, nil)
	if err == nil {
		t.Fatal("the upload completed")
	}
	if _, err := e.obj.Head(ctx, key); !errors.Is(err, control.ErrNoObject) {
		t.Fatalf("an object is left under the key: Head = %v", err)
	}
}

func oversize(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	size := int64(100)
	tk, err := e.c.NewTicket(context.Background(), client.TicketRequest{Filename: "a.txt", Size: size, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range tk.Headers {
		if !strings.EqualFold(k, "Content-Length") {
			h[k] = v
		}
	}
	code := put(t, tk.Method, tk.URL, h, random(t, 101))
	if tg.CapsSize && code/100 == 2 {
		t.Fatalf("the store kept a body over its signed size (%d)", code)
	}
	mustNotBecomeFile(t, e, tk.ID, tk.Key)
}

func wrongType(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	size := int64(10)
	tk, err := e.c.NewTicket(context.Background(), client.TicketRequest{Filename: "a.txt", Size: size, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for k, v := range tk.Headers {
		h[k] = v
	}
	h["Content-Type"] = "text/html"
	put(t, tk.Method, tk.URL, h, random(t, 10))
	mustNotBecomeFile(t, e, tk.ID, tk.Key)
}

func reconciled(t *testing.T, tg Target) {
	e := newEnv(t, tg)
	ctx := context.Background()
	size := int64(42)
	tk, err := e.c.NewTicket(ctx, client.TicketRequest{Filename: "r.txt", Size: size, ContentType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	if code := put(t, tk.Method, tk.URL, tk.Headers, random(t, 42)); code/100 != 2 {
		t.Fatalf("upload answered %d", code)
	}
	e.clk.Advance(tk.Expires.Sub(e.clk.Now()) + time.Second) // past the ticket's deadline
	if _, err := e.svc.ReconcileOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.UploadStatus(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "completed" {
		t.Fatalf("after the reconciler the upload is %s, want completed", st.State)
	}
}
