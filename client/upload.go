package client

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// hashBelow is the size under which Upload declares the whole file's SHA-256 in the ticket: it
// costs one extra read of the file, and a single PUT (every upload under the control plane's
// default multipart threshold, 100 MiB) is then verified by the store with it.
const hashBelow = 100 << 20

// UploadOptions tune one upload. The zero value is ready to use.
type UploadOptions struct {
	// ContentType of the file; empty: from the name's extension, else application/octet-stream.
	ContentType string
	// Name is the file name UploadFile records; empty: the path's base name. (Upload takes
	// the name as an argument.)
	Name string
	// SHA256 is the file's SHA-256 in hex when the caller knows it; it is declared in the
	// ticket, and a single PUT is then refused by the store unless the bytes match. When
	// empty, Upload computes it for files under 100 MiB.
	SHA256 string
	// Metadata is given with the ticket: the application's own, kept on the file and carried
	// in the upload.completed event. A resumed upload keeps the metadata it started with.
	Metadata map[string]string
	// NoChecksums sends no part checksum (CRC-32C or Content-MD5) and declares no SHA-256: the
	// bytes are then protected by TCP (and TLS) only. Resumed parts are kept by their size.
	NoChecksums bool
	// Concurrency overrides the client's number of parallel parts for this upload.
	Concurrency int
	// Progress, when set, is called as bytes move; calls never overlap, and come from the
	// upload's goroutines, so it must not block for long.
	Progress func(Progress)
	// Started, when set, is called once the upload is known: a new ticket, or an interrupted
	// upload being resumed.
	Started func(Start)
	// StateDir is the directory where multipart uploads keep their resume state (one small
	// file each, mode 0600, removed when the upload completes or ends); it is created when
	// missing, and an upload fails if it cannot write there. Empty: an interrupted upload
	// cannot be resumed by a later call.
	StateDir string
	// ResumeKey identifies the content for Upload's resume state (UploadFile derives it from
	// the file's path, size and modification time). Empty: Upload keeps no state.
	ResumeKey string
}

// Start describes an upload as it begins.
type Start struct {
	UploadID  string
	Multipart bool
	PartCount int
	// Resumed is true when an earlier, interrupted upload continues; StoredParts is how many
	// of its parts the store held (each is checked against the local bytes before it is kept).
	Resumed     bool
	StoredParts int
}

// UploadFile uploads the regular file at path and returns its file record. It is Upload with
// the file's name, size and a resume key made of its absolute path, size and modification
// time: with opts.StateDir set, calling UploadFile again after an interruption (a cancelled
// context, a crash, a lost network) resumes the upload, sending only the missing parts.
func (c *Client) UploadFile(ctx context.Context, path string, opts *UploadOptions) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	name := o.Name
	if name == "" {
		name = filepath.Base(path)
	}
	if o.ResumeKey == "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		o.ResumeKey = "file\x00" + abs + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	}
	return c.Upload(ctx, name, f, st.Size(), &o)
}

// Upload sends size bytes read from r as a new file called name, straight to the object store,
// and returns the file record once the control plane has verified the object.
//
// The ticket decides the method: a single PUT (with Content-MD5, or the declared SHA-256),
// or a multipart upload whose parts go opts.Concurrency at a time, each URL asked for just
// before its part is sent, each part retried with backoff on network errors and 5xx answers.
// r must not change during the upload; it is read concurrently at different offsets.
//
// On failure the error is an *APIError (the control plane refused), a *StorageError (the
// store refused a part or the PUT), or a network or context error. A multipart upload that
// stopped on a cancelled context or a network failure stays resumable (with StateDir and
// ResumeKey); any other failure aborts it. A single PUT that does not finish is aborted.
func (c *Client) Upload(ctx context.Context, name string, r io.ReaderAt, size int64, opts *UploadOptions) (*File, error) {
	var o UploadOptions
	if opts != nil {
		o = *opts
	}
	if size < 0 {
		return nil, errors.New("upload: negative size")
	}
	if o.ContentType == "" {
		o.ContentType = mime.TypeByExtension(strings.ToLower(filepath.Ext(name)))
		if o.ContentType == "" {
			o.ContentType = "application/octet-stream"
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = c.opts.Concurrency
	}
	u := &upload{c: c, name: name, r: r, size: size, o: o, t: newTracker(name, size, o.Progress)}
	if f, done, err := u.resume(ctx); done {
		return f, err
	}
	req := TicketRequest{Filename: name, Size: size, ContentType: o.ContentType, SHA256: o.SHA256, Metadata: o.Metadata}
	if req.SHA256 == "" && !o.NoChecksums && size < hashBelow {
		sum, err := u.contentSHA256()
		if err != nil {
			return nil, err
		}
		req.SHA256 = sum
	}
	t, err := c.NewTicket(ctx, req)
	if err != nil {
		return nil, err
	}
	u.id = t.ID
	if t.Multipart {
		u.plan = plan{PartSize: t.PartSize, PartCount: t.PartCount}
		if err := u.saveState(); err != nil {
			c.abortQuietly(ctx, t.ID)
			return nil, err
		}
		u.started(Start{UploadID: t.ID, Multipart: true, PartCount: t.PartCount})
		return u.multipart(ctx, nil)
	}
	if t.Method != http.MethodPut || t.URL == "" {
		c.abortQuietly(ctx, t.ID)
		return nil, fmt.Errorf("upload: the control plane answered a %s ticket this client cannot send", t.Method)
	}
	u.started(Start{UploadID: t.ID})
	return u.single(ctx, t)
}

// upload is one Upload call in progress.
type upload struct {
	c    *Client
	name string
	r    io.ReaderAt
	size int64
	o    UploadOptions
	t    *tracker
	id   string
	plan plan
	// sha256 is the content's hex SHA-256 once computed.
	sha256 string
	// noCRC is set when the control plane does not sign part checksums.
	noCRC atomic.Bool
}

// contentSHA256 returns the hex SHA-256 of the whole content, computed once.
func (u *upload) contentSHA256() (string, error) {
	if u.sha256 == "" {
		sum, err := hashSection(sha256.New(), u.r, 0, u.size)
		if err != nil {
			return "", err
		}
		u.sha256 = hex.EncodeToString(sum)
	}
	return u.sha256, nil
}

// plan is a multipart upload's split of the file.
type plan struct {
	PartSize  int64 `json:"part_size"`
	PartCount int   `json:"part_count"`
}

// section returns the offset and length of part n (1-based).
func (p plan) section(n int, size int64) (int64, int64) {
	off := int64(n-1) * p.PartSize
	return off, min(p.PartSize, size-off)
}

func (u *upload) started(s Start) {
	u.t.start()
	if u.o.Started != nil {
		u.o.Started(s)
	}
}

// single sends the file with the ticket's one PUT, then completes the upload.
func (u *upload) single(ctx context.Context, t *Ticket) (*File, error) {
	headers := map[string]string{}
	for k, v := range t.Headers {
		headers[k] = v
	}
	if !u.o.NoChecksums && !hasChecksumHeader(headers) {
		sum, err := hashSection(md5.New(), u.r, 0, u.size)
		if err != nil {
			u.c.abortQuietly(ctx, t.ID)
			return nil, err
		}
		headers["Content-MD5"] = base64.StdEncoding.EncodeToString(sum)
	}
	retry := u.c.opts.Retry
	lostAnswer := false
	for attempt := 0; ; attempt++ {
		_, err := u.c.put(ctx, "upload", t.URL, headers, u.r, 0, u.size, u.t)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			u.c.abortQuietly(ctx, t.ID)
			return nil, ctx.Err()
		}
		var se *StorageError
		if lostAnswer && errors.As(err, &se) && (se.Status == http.StatusForbidden || se.Status == http.StatusPreconditionFailed) {
			// A once-URL (or an If-None-Match: * PUT) refused after an attempt whose answer was
			// lost: that attempt may have stored the object, or the store has not released the
			// URL yet.
			if f, cerr := u.c.Complete(ctx, t.ID, nil); cerr == nil {
				return f, nil
			}
		} else if !transient(err) {
			u.c.abortQuietly(ctx, t.ID)
			return nil, err
		}
		if attempt+1 >= retry.Attempts {
			u.c.abortQuietly(ctx, t.ID)
			return nil, err
		}
		lostAnswer = lostAnswer || transient(err)
		if err := sleep(ctx, retry.delay(attempt, 0)); err != nil {
			u.c.abortQuietly(ctx, t.ID)
			return nil, err
		}
	}
	return u.c.Complete(ctx, t.ID, nil)
}

func hasChecksumHeader(h map[string]string) bool {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum-") || strings.EqualFold(k, "Content-MD5") {
			return true
		}
	}
	return false
}

// abortQuietly aborts an upload that will not finish, even when ctx is already cancelled, so
// it stops holding the caller's quota. Failures are ignored: the reconciler expires it anyway.
func (c *Client) abortQuietly(ctx context.Context, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	c.Abort(actx, id)
}

// put sends bytes [off, off+n) of r to a presigned PUT URL with the headers, once, and returns
// the ETag the store answered with. A transfer that moves no byte for the stall timeout is
// abandoned. The bytes of a failed attempt are taken back from the progress.
func (c *Client) put(ctx context.Context, op, rawURL string, headers map[string]string, r io.ReaderAt, off, n int64, t *tracker) (string, error) {
	actx, wd, cancel := newWatchdog(ctx, c.opts.StallTimeout)
	defer cancel(nil)
	defer wd.Stop()
	body := &countingReader{r: io.NewSectionReader(r, off, n), t: t, w: wd, total: n}
	req, err := http.NewRequestWithContext(actx, http.MethodPut, rawURL, body)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	req.ContentLength = n
	if n == 0 {
		req.Body = http.NoBody
	}
	req.GetBody = nil
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if n > 0 {
		// The store may refuse before the body (an expired URL, a size over the cap): don't
		// send megabytes for nothing.
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		body.takeBack()
		return "", c.attemptErr(ctx, actx, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body.takeBack()
		return "", storageError(op, resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return strings.Trim(resp.Header.Get("ETag"), `"`), nil
}

// hashSection returns the digest of bytes [off, off+n) of r.
func hashSection(h hash.Hash, r io.ReaderAt, off, n int64) ([]byte, error) {
	buf := make([]byte, 256<<10)
	got, err := io.CopyBuffer(h, io.NewSectionReader(r, off, n), buf)
	if err == nil && got != n {
		err = fmt.Errorf("%d bytes at offset %d, not %d: %w", got, off, n, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, &localError{fmt.Errorf("read the file: %w", err)}
	}
	return h.Sum(nil), nil
}
