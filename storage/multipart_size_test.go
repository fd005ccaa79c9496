package storage_test

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"presign/sigv4"
	"presign/storage"
)

// heldBody is a request body that is never sent: its first Read tells the test that the
// client was asked for the body (with Expect: 100-continue, only after the server's
// "100 Continue", that is once the handler started reading), then blocks until the request
// is cancelled.
type heldBody struct {
	asked chan struct{}
	once  sync.Once
	ctx   context.Context
}

func (b *heldBody) Read([]byte) (int, error) {
	b.once.Do(func() { close(b.asked) })
	<-b.ctx.Done()
	return 0, b.ctx.Err()
}

// headersOnly sends req with a declared Content-Length of size and Expect: 100-continue, and
// no body. It returns the node's answer if it answered without asking for the body, or
// asked == true if the node started reading the body (the request is then cancelled).
func headersOnly(t *testing.T, req *http.Request, size int64) (resp *http.Response, answer []byte, asked bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	body := &heldBody{asked: make(chan struct{}), ctx: ctx}
	req = req.WithContext(ctx)
	req.Body, req.ContentLength = io.NopCloser(body), size
	req.Header.Set("Expect", "100-continue")
	// A client waits for "100 Continue" only when ExpectContinueTimeout is set; this one is
	// long enough never to give up first.
	tr := &http.Transport{ExpectContinueTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: tr}).Do(req)
		done <- result{resp, err}
	}()
	guard := time.NewTimer(30 * time.Second) // against a hang; not a measurement
	defer guard.Stop()
	select {
	case <-body.asked:
		cancel()
		if r := <-done; r.err == nil {
			r.resp.Body.Close()
			t.Fatalf("a body that never came got %s", r.resp.Status)
		}
		return nil, nil, true
	case r := <-done:
		if r.err != nil {
			t.Fatalf("no answer: %v", r.err)
		}
		defer r.resp.Body.Close()
		answer, _ = io.ReadAll(r.resp.Body)
		return r.resp, answer, false
	case <-guard.C:
		t.Fatal("the node neither answered nor asked for the body")
	}
	return nil, nil, false
}

// presignedRequest turns what the SDK's presigner returns into a request without a body,
// failing t if presigning failed.
func presignedRequest(t *testing.T) func(*v4.PresignedHTTPRequest, error) *http.Request {
	return func(p *v4.PresignedHTTPRequest, err error) *http.Request {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(p.Method, p.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range p.SignedHeader {
			req.Header[k] = vs
		}
		return req
	}
}

// TestPartOverFiveGiBIsRefusedBeforeItsBody: an UploadPart declaring 5 GiB + 1 bytes is refused
// with EntityTooLarge (MaxSizeAllowed 5 GiB) from its headers alone, header-signed or
// presigned, with or without Expect: 100-continue, even on a node whose PUT limit is higher;
// a part of exactly 5 GiB, and a plain PUT of 5 GiB + 1 on that node, pass the size check
// (the node asks for the body, and the test stops there rather than send 5 GiB). Nothing is
// stored by any of them.
func TestPartOverFiveGiBIsRefusedBeforeItsBody(t *testing.T) {
	const putLimit = 1 << 40
	n := startMultipartNode(t, func(c *storage.Config) { c.MaxPutSize = putLimit })
	key := "huge/part.bin"
	id := n.create(t, key, nil)
	creds := aws.Credentials{AccessKeyID: mpAccessKey, SecretAccessKey: mpSecretKey}

	presignedPart := func(t *testing.T) *http.Request {
		return presignedRequest(t)(n.Presign.PresignUploadPart(t.Context(), &s3.UploadPartInput{
			Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(1),
		}, s3.WithPresignExpires(15*time.Minute)))
	}
	headerSignedPart := func(size int64) func(*testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			req, _ := http.NewRequest(http.MethodPut, n.URL+"/"+mpBucket+"/"+key+"?partNumber=1&uploadId="+id, nil)
			req.ContentLength = size
			req.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
			if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, sigv4.UnsignedPayload, "s3", mpRegion, time.Now()); err != nil {
				t.Fatal(err)
			}
			return req
		}
	}
	presignedPut := func(t *testing.T) *http.Request {
		return presignedRequest(t)(n.Presign.PresignPutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("huge/object.bin")},
			s3.WithPresignExpires(15*time.Minute)))
	}
	for _, tc := range []struct {
		name    string
		req     func(*testing.T) *http.Request
		size    int64
		refused bool
	}{
		{"presigned part of 5 GiB + 1", presignedPart, storage.MaxPartSize + 1, true},
		{"header-signed part of 5 GiB + 1", headerSignedPart(storage.MaxPartSize + 1), storage.MaxPartSize + 1, true},
		{"presigned part of 5 GiB", presignedPart, storage.MaxPartSize, false},
		{"header-signed part of 5 GiB", headerSignedPart(storage.MaxPartSize), storage.MaxPartSize, false},
		{"plain PUT of 5 GiB + 1 under a 1 TiB PUT limit", presignedPut, storage.MaxPartSize + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, answer, asked := headersOnly(t, tc.req(t), tc.size)
			if tc.refused {
				if asked {
					t.Fatal("the node asked for the body of an oversized part")
				}
				var e struct {
					Code           string
					ProposedSize   int64
					MaxSizeAllowed int64
				}
				if err := xml.Unmarshal(answer, &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code != "EntityTooLarge" ||
					e.ProposedSize != tc.size || e.MaxSizeAllowed != storage.MaxPartSize {
					t.Fatalf("got %d %s, want 400 EntityTooLarge with ProposedSize %d and MaxSizeAllowed %d", resp.StatusCode, answer, tc.size, int64(storage.MaxPartSize))
				}
				return
			}
			if asked {
				return
			}
			// A small disk may refuse 5 GiB for lack of space, which is also decided from
			// the declared size before the body; that is past the size check.
			if resp.StatusCode == http.StatusInsufficientStorage {
				t.Logf("the disk has less than %d bytes free: %s", tc.size, answer)
				return
			}
			t.Fatalf("refused before its body: %d %s", resp.StatusCode, answer)
		})
	}
	// A client that does not wait for "100 Continue" but has no body to send yet (a raw
	// request: headers only, the connection kept open) gets the refusal all the same.
	t.Run("raw presigned part of 5 GiB + 1 without Expect", func(t *testing.T) {
		req := presignedPart(t)
		c, err := net.Dial("tcp", req.URL.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second)) // against a hang; not a measurement
		if _, err := fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", req.URL.RequestURI(), req.URL.Host, int64(storage.MaxPartSize+1)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			t.Fatalf("no answer to the headers: %v", err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || parseS3Error(answer).Code != "EntityTooLarge" {
			t.Fatalf("got %d %s, want 400 EntityTooLarge", resp.StatusCode, answer)
		}
		if !resp.Close {
			t.Error("the node keeps a connection whose declared body it did not read")
		}
	})
	out, err := n.S3.ListParts(t.Context(), &s3.ListPartsInput{Bucket: aws.String(mpBucket), Key: aws.String(key), UploadId: aws.String(id)})
	if err != nil || len(out.Parts) != 0 {
		t.Fatalf("ListParts after the refused and cut parts: %d parts, %v; want none", len(out.Parts), err)
	}
	if _, err := n.S3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(mpBucket), Key: aws.String("huge/object.bin")}); s3Code(err) != "NotFound" {
		t.Fatalf("HeadObject of the cut PUT: %v, want NotFound", err)
	}
}
