package client

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
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
//
// The bytes are checked by the store: with the part's CRC-32C signed into its URL when the
// control plane offers that (one cheap pass over the part), else with Content-MD5.
func (u *upload) part(ctx context.Context, n int, stored Part) (string, error) {
	off, size := u.plan.section(n, u.size)
	var md5sum []byte
	md5b64 := func() (string, error) {
		if md5sum == nil {
			var err error
			if md5sum, err = hashSection(md5.New(), u.r, off, size); err != nil {
				return "", err
			}
		}
		return base64.StdEncoding.EncodeToString(md5sum), nil
	}
	if stored.Number == n && stored.Size == size {
		if !u.o.NoChecksums {
			if _, err := md5b64(); err != nil {
				return "", err
			}
		}
		if etagMatches(stored.ETag, md5sum) {
			u.t.resumed(size)
			return stored.ETag, nil
		}
	}
	var crc []string
	if !u.o.NoChecksums && !u.noCRC.Load() {
		sum, err := hashSection(crc32.New(castagnoli), u.r, off, size)
		if err != nil {
			return "", err
		}
		crc = []string{base64.StdEncoding.EncodeToString(sum)}
	}
	op := "upload part " + strconv.Itoa(n)
	retry := u.c.opts.Retry
	var pu *PartURL
	var headers map[string]string
	refreshed := false
	for attempt := 0; ; attempt++ {
		if pu == nil || time.Until(pu.Expires) < urlMargin {
			var err error
			if pu, headers, err = u.partURL(ctx, n, size, crc, md5b64); err != nil {
				return "", fmt.Errorf("%s: %w", op, err)
			}
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

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// partURL asks for part n's URL (with its CRC-32C when there is one) and returns it with the
// headers to send: the URL's signed ones, plus Content-MD5 when the store was not given the
// CRC-32C to check. A control plane that does not know checksums_crc32c (400) is asked again
// without, and not offered it again during this upload.
func (u *upload) partURL(ctx context.Context, n int, size int64, crc []string, md5b64 func() (string, error)) (*PartURL, map[string]string, error) {
	if u.noCRC.Load() {
		crc = nil
	}
	urls, err := u.c.PartURLs(ctx, u.id, []int{n}, crc)
	var ae *APIError
	if crc != nil && errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		u.noCRC.Store(true)
		crc = nil
		urls, err = u.c.PartURLs(ctx, u.id, []int{n}, nil)
	}
	if err != nil {
		return nil, nil, err
	}
	if len(urls) != 1 || urls[0].Number != n || urls[0].Size != size {
		return nil, nil, fmt.Errorf("the control plane signed %+v, not part %d of %d bytes", urls, n, size)
	}
	pu := &urls[0]
	headers := make(map[string]string, len(pu.Headers)+1)
	for k, v := range pu.Headers {
		headers[k] = v
	}
	if !u.o.NoChecksums && !hasChecksumHeader(headers) {
		sum, err := md5b64()
		if err != nil {
			return nil, nil, err
		}
		headers["Content-MD5"] = sum
	}
	return pu, headers, nil
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
