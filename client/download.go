package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DownloadOptions tune one download. The zero value is ready to use.
type DownloadOptions struct {
	// Offset is how many bytes of the file the destination holds already (a download resumed
	// with Download); the transfer starts there with a Range request.
	Offset int64
	// Progress, when set, is called as bytes arrive; calls never overlap.
	Progress func(Progress)
}

// Download writes the bytes of the caller's file id into w at their offsets and returns the
// file's record. Bytes arrive in order, with one presigned GET; when the connection breaks
// or stalls, the download goes on from the last byte received with a Range request (If-Match
// the file's ETag, so the bytes are always of one object), retried with backoff. When the file
// has a recorded SHA-256 and every byte was hashed (from offset 0, or w is also an
// io.ReaderAt), it is checked at the end. w is not closed or synced.
func (c *Client) Download(ctx context.Context, id string, w io.WriterAt, opts *DownloadOptions) (*File, error) {
	f, err := c.File(ctx, id)
	if err != nil {
		return nil, err
	}
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	return f, c.download(ctx, f, w, o)
}

// DownloadTo writes the bytes of the caller's file id to w, in order, resuming with Range
// requests within the call when the connection breaks. It suits a pipe or standard output.
func (c *Client) DownloadTo(ctx context.Context, id string, w io.Writer, opts *DownloadOptions) (*File, error) {
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	o.Offset = 0
	return c.Download(ctx, id, &sequentialWriter{w: w}, &o)
}

// DownloadFile downloads the caller's file id to path. Bytes go first to a partial file beside
// it (path.<id>.partial), which is synced and renamed over path once complete and checked; a
// download interrupted by a cancelled context, a crash or a lost network resumes from the
// partial file on the next call with the same id and path. opts.Offset is ignored.
func (c *Client) DownloadFile(ctx context.Context, id, path string, opts *DownloadOptions) (*File, error) {
	f, err := c.File(ctx, id)
	if err != nil {
		return nil, err
	}
	var o DownloadOptions
	if opts != nil {
		o = *opts
	}
	partial := PartialPath(path, id)
	fh, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := fh.Stat()
	if err == nil && st.Size() > f.Size {
		err = fh.Truncate(0)
	}
	if err != nil {
		fh.Close()
		return nil, err
	}
	o.Offset = min(st.Size(), f.Size)
	if err := c.download(ctx, f, fh, o); err != nil {
		fh.Close()
		if ctx.Err() == nil && !transient(err) && !IsUnauthenticated(err) {
			os.Remove(partial)
		}
		return nil, err
	}
	err = fh.Sync()
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, path)
	}
	if err != nil {
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return f, nil
}

// PartialPath is where DownloadFile keeps the bytes of file id while they arrive at path.
func PartialPath(path, id string) string {
	return path + "." + id + ".partial"
}

// ErrChecksum means the downloaded bytes do not have the SHA-256 recorded for the file.
var ErrChecksum = errors.New("the downloaded bytes do not match the file's SHA-256")

func (c *Client) download(ctx context.Context, f *File, w io.WriterAt, o DownloadOptions) error {
	off := o.Offset
	if off < 0 || off > f.Size {
		return fmt.Errorf("download: offset %d is outside the file's %d bytes", off, f.Size)
	}
	var h hash.Hash
	if f.SHA256 != "" {
		h = sha256.New()
		if off > 0 {
			if ra, ok := w.(io.ReaderAt); !ok {
				h = nil
			} else if _, err := io.Copy(h, io.NewSectionReader(ra, 0, off)); err != nil {
				return &localError{fmt.Errorf("read the bytes downloaded before: %w", err)}
			}
		}
	}
	t := newTracker(f.Filename, f.Size, o.Progress)
	t.start()
	t.resumed(off)
	var link *Link
	refreshed := false
	retry := c.opts.Retry
	for attempt := 0; off < f.Size; {
		if link == nil || time.Until(link.Expires) < urlMargin {
			var err error
			if link, err = c.share(ctx, f.ID, 0, persistent); err != nil {
				return err
			}
		}
		n, err := c.getRange(ctx, link.URL, f, w, off, h, t)
		off += n
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if n > 0 {
			attempt = 0 // a connection that moved bytes before it broke is not a failed try
		}
		var se *StorageError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusForbidden && !refreshed:
			link, refreshed = nil, true
		case !transient(err):
			return err
		}
		if attempt++; attempt >= retry.Attempts {
			return err
		}
		if err := sleep(ctx, retry.delay(attempt-1, 0)); err != nil {
			return err
		}
	}
	if h != nil && hex.EncodeToString(h.Sum(nil)) != strings.ToLower(f.SHA256) {
		return fmt.Errorf("download %s: %w", f.ID, ErrChecksum)
	}
	return nil
}

// getRange fetches the file from off to its end with one GET and writes what arrives; it
// returns how many bytes it wrote, and an error when the body ended early or broke.
func (c *Client) getRange(ctx context.Context, rawURL string, f *File, w io.WriterAt, off int64, h hash.Hash, t *tracker) (int64, error) {
	actx, wd, cancel := newWatchdog(ctx, c.opts.StallTimeout)
	defer cancel(nil)
	defer wd.Stop()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	if f.ETag != "" {
		req.Header.Set("If-Match", `"`+strings.Trim(f.ETag, `"`)+`"`)
	}
	op := "download " + f.ID
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, c.attemptErr(ctx, actx, op, err)
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
		// A store that ignored the Range sends the whole object: skip what we have.
		if _, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			return 0, c.attemptErr(ctx, actx, op, err)
		}
	case http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(off, 10)+"-") {
			return 0, fmt.Errorf("%s: asked for bytes from %d, got %q", op, off, resp.Header.Get("Content-Range"))
		}
	default:
		return 0, storageError(op, resp)
	}
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			if off+n+int64(m) > f.Size {
				return n, fmt.Errorf("%s: the store sent more than the file's %d bytes", op, f.Size)
			}
			if _, err := w.WriteAt(buf[:m], off+n); err != nil {
				return n, &localError{fmt.Errorf("write: %w", err)}
			}
			if h != nil {
				h.Write(buf[:m])
			}
			n += int64(m)
			t.add(int64(m))
			wd.Touch()
		}
		if rerr == io.EOF {
			if off+n < f.Size {
				return n, fmt.Errorf("%s: %w after %d of %d bytes", op, io.ErrUnexpectedEOF, off+n, f.Size)
			}
			return n, nil
		}
		if rerr != nil {
			return n, c.attemptErr(ctx, actx, op, rerr)
		}
	}
}

// attemptErr names a stalled attempt as such, so it is retried like a broken connection.
func (c *Client) attemptErr(ctx, actx context.Context, op string, err error) error {
	if ctx.Err() == nil && errors.Is(context.Cause(actx), errStalled) {
		return fmt.Errorf("%s: %w", op, errStalled)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// sequentialWriter adapts an io.Writer to the in-order writes of a download.
type sequentialWriter struct {
	w   io.Writer
	pos int64
}

func (s *sequentialWriter) WriteAt(p []byte, off int64) (int, error) {
	if off != s.pos {
		return 0, fmt.Errorf("write at %d, expected %d", off, s.pos)
	}
	n, err := s.w.Write(p)
	s.pos += int64(n)
	return n, err
}
