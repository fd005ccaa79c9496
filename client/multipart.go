package client

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// urlMargin is how long a part URL must still live to be used for another attempt; an older
// one is replaced by a fresh one first.
const urlMargin = time.Minute

// multipart sends every part of the plan the store does not hold already (stored, keyed by
// part number, from a resumed upload), opts.Concurrency at a time, then completes the upload.
// It stops at the first part that fails for good: a cancellation, lost credentials or a
// network that stays down leave the upload resumable; any other failure aborts it.
func (u *upload) multipart(ctx context.Context, stored map[int]Part) (*File, error) {
	count := u.plan.PartCount
	if count < 1 || u.plan.PartSize < 1 || int64(count)*u.plan.PartSize < u.size || int64(count-1)*u.plan.PartSize >= u.size {
		u.c.abortQuietly(ctx, u.id)
		u.dropState()
		return nil, fmt.Errorf("upload %s: the control plane's plan (%d parts of %d bytes) does not fit %d bytes", u.id, count, u.plan.PartSize, u.size)
	}
	etags := make([]string, count)
	jobs := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for n := 1; n <= count; n++ {
			select {
			case jobs <- n:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range min(u.o.Concurrency, count) {
		g.Go(func() error {
			for n := range jobs {
				etag, err := u.part(gctx, n, stored[n])
				if err != nil {
					return err
				}
				etags[n-1] = etag
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, u.stopped(ctx, err)
	}
	parts := make([]Part, count)
	for i, e := range etags {
		parts[i] = Part{Number: i + 1, ETag: e}
	}
	f, err := u.c.Complete(ctx, u.id, parts)
	if err != nil {
		return nil, u.stopped(ctx, err)
	}
	u.dropState()
	return f, nil
}

// stopped decides what an upload that failed leaves behind, and returns the error to report.
func (u *upload) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if transient(err) || IsUnauthenticated(err) {
		return err
	}
	u.c.abortQuietly(ctx, u.id)
	u.dropState()
	return err
}

// part sends part n unless the store holds it with the same bytes already, and returns its
// ETag. Each attempt uses a part URL asked for just before it (reused while it has more than
// urlMargin to live); network errors and 5xx answers are retried with backoff, an expired or
// refused URL once with a fresh one.
func (u *upload) part(ctx context.Context, n int, stored Part) (string, error) {
	off, size := u.plan.section(n, u.size)
	var sum []byte
	if !u.o.NoChecksums {
		var err error
		if sum, err = hashSection(md5.New(), u.r, off, size); err != nil {
			return "", err
		}
	}
	if stored.Number == n && stored.Size == size && etagMatches(stored.ETag, sum) {
		u.t.resumed(size)
		return stored.ETag, nil
	}
	var md5b64 string
	if sum != nil {
		md5b64 = base64.StdEncoding.EncodeToString(sum)
	}
	op := "upload part " + strconv.Itoa(n)
	retry := u.c.opts.Retry
	var pu *PartURL
	refreshed := false
	for attempt := 0; ; attempt++ {
		if pu == nil || time.Until(pu.Expires) < urlMargin {
			urls, err := u.c.PartURLs(ctx, u.id, []int{n})
			if err != nil {
				return "", fmt.Errorf("%s: %w", op, err)
			}
			if len(urls) != 1 || urls[0].Number != n || urls[0].Size != size {
				return "", fmt.Errorf("%s: the control plane signed %+v, not part %d of %d bytes", op, urls, n, size)
			}
			pu = &urls[0]
		}
		headers := make(map[string]string, len(pu.Headers)+1)
		for k, v := range pu.Headers {
			headers[k] = v
		}
		if md5b64 != "" {
			headers["Content-MD5"] = md5b64
		}
		etag, err := u.c.put(ctx, op, pu.URL, headers, u.r, off, size, u.t)
		if err == nil {
			return etag, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var se *StorageError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusForbidden && !refreshed:
			pu, refreshed = nil, true // expired, or signed by a key the store has since rotated
		case !transient(err):
			return "", err
		}
		if attempt+1 >= retry.Attempts {
			return "", err
		}
		if err := sleep(ctx, retry.delay(attempt, 0)); err != nil {
			return "", err
		}
	}
}

// etagMatches reports whether a stored part's ETag is the MD5 of the local bytes. An ETag that
// is not a plain MD5 (some stores encrypt, and then the ETag is opaque), or a part hashed with
// no checksum, cannot be checked and is trusted by its size.
func etagMatches(etag string, md5sum []byte) bool {
	if md5sum == nil || len(etag) != 32 {
		return true
	}
	b, err := hex.DecodeString(etag)
	if err != nil {
		return true
	}
	return string(b) == string(md5sum)
}
