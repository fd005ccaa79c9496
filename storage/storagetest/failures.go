package storagetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"presign/storage"
)

var failedPutTests = []namedTest{
	{"StoresNothingAndKeepsPreviousVersion", testFailedPuts},
}

var errBodyBroken = errors.New("storagetest: connection reset in the middle of the body")

// cancelingReader cancels a context on its first Read and then goes on yielding its bytes, as
// a request body does when the server shuts down the request while bytes still arrive.
type cancelingReader struct {
	r      io.Reader
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	c.cancel()
	return c.r.Read(p)
}

// failingPut is a put whose body or context fails; check verifies PutObject's error.
type failingPut struct {
	name string
	// body returns the body of data, and the context to put it with.
	body  func(ctx context.Context, data []byte) (context.Context, storage.Body)
	check func(t *testing.T, err error)
}

func wantErrorIs(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("PutObject error = %v, want one wrapping %v", err, target)
		}
	}
}

func wantDigestError(alg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var de *storage.DigestError
		if !errors.As(err, &de) || de.Algorithm != alg {
			t.Fatalf("PutObject error = %v, want a *storage.DigestError for %s", err, alg)
		}
	}
}

var failingPuts = []failingPut{
	{
		name: "ReaderErrorMidStream",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errBodyBroken))
			return ctx, storage.NewBody(r, storage.BodyOptions{Size: int64(len(data))})
		},
		check: wantErrorIs(errBodyBroken),
	},
	{
		name: "ReaderErrorMidStreamUnknownSize",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			r := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errBodyBroken))
			return ctx, storage.NewBody(r, storage.BodyOptions{Size: -1})
		},
		check: wantErrorIs(errBodyBroken),
	},
	{
		name: "ShorterThanDeclared",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			return ctx, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)) + 10})
		},
		check: wantErrorIs(storage.ErrIncompleteBody),
	},
	{
		name: "LongerThanDeclared",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			return ctx, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)) - 1})
		},
		check: wantErrorIs(storage.ErrEntityTooLarge),
	},
	{
		name: "OverMaxBytes",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			return ctx, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: -1, MaxBytes: int64(len(data)) - 1})
		},
		check: wantErrorIs(storage.ErrEntityTooLarge),
	},
	{
		name: "WrongContentMD5",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			wrong := md5.Sum(append(data, 0))
			return ctx, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{Size: int64(len(data)), ContentMD5: wrong[:]})
		},
		check: wantDigestError("MD5"),
	},
	{
		name: "WrongChecksum",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			return ctx, storage.NewBody(bytes.NewReader(data), storage.BodyOptions{
				Size:   int64(len(data)),
				Expect: map[string]string{"SHA256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, // of no bytes
			})
		},
		check: wantDigestError("SHA256"),
	},
	{
		name: "ContextCanceledMidStream",
		body: func(ctx context.Context, data []byte) (context.Context, storage.Body) {
			ctx, cancel := context.WithCancel(ctx)
			// Half the bytes per Read, so that the body is not over after the first one.
			r := &cancelingReader{r: iotest.HalfReader(bytes.NewReader(data)), cancel: cancel}
			return ctx, storage.NewBody(r, storage.BodyOptions{Size: int64(len(data))})
		},
		check: wantErrorIs(context.Canceled),
	},
}

func testFailedPuts(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, fp := range failingPuts {
		for _, size := range []int{smallSize, largeSize} {
			t.Run(fmt.Sprintf("%s/%d", fp.name, size), func(t *testing.T) {
				data := content(fp.name, size)
				fresh := fmt.Sprintf("fresh/%s/%d", fp.name, size)
				ctx, body := fp.body(t.Context(), data)
				_, err := be.PutObject(ctx, bucket, fresh, body, storage.PutOptions{})
				fp.check(t, err)
				wantMissing(t, be, bucket, fresh)

				// Over an existing object, of the other size class.
				existing := fmt.Sprintf("existing/%s/%d", fp.name, size)
				prevSize := largeSize + smallSize - size
				prev := content(existing, prevSize)
				mustPut(t, be, bucket, existing, prev, storage.PutOptions{Meta: storage.Metadata{ContentType: "prev/ious"}})
				ctx, body = fp.body(t.Context(), data)
				_, err = be.PutObject(ctx, bucket, existing, body, storage.PutOptions{})
				fp.check(t, err)
				wantContent(t, be, bucket, existing, prev)
				if info, err := be.HeadObject(t.Context(), bucket, existing); err != nil || info.Meta.ContentType != "prev/ious" {
					t.Fatalf("HeadObject after the failed replace = %+v, %v; want the previous metadata", info, err)
				}
			})
		}
	}
	// Nothing but the previous versions is listed.
	keys := listAll(t, be, bucket)
	if want := 2 * len(failingPuts); len(keys) != want {
		t.Fatalf("after the failed puts the bucket lists %d keys %q, want the %d existing ones", len(keys), keys, want)
	}
	for _, k := range keys {
		if !bytes.HasPrefix([]byte(k), []byte("existing/")) {
			t.Fatalf("a failed put left %q visible", k)
		}
	}
}
