package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"presign/internal/clientlimit"
	"presign/sigv4"
)

// responseOverrides are the GetObject query parameters that replace a response header.
var responseOverrides = [...][2]string{
	{"response-content-type", "Content-Type"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-encoding", "Content-Encoding"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	if err := checkVersionID(req.query); err != nil {
		return err
	}
	if namesVersion(req.query) {
		w.Header().Set("X-Amz-Version-Id", nullVersion)
	}
	if err := s.consumeNonce(ctx, req); err != nil {
		return err
	}
	part := 0 // the part asked for, or none
	if has(req.query, "partNumber") {
		n, err := partNumber(req)
		if err != nil {
			return err
		}
		if r.Header.Get("Range") != "" {
			return errRangeWithPart
		}
		part = n
	}
	var (
		info ObjectInfo
		obj  Object
		err  error
	)
	if r.Method == http.MethodHead && part == 0 {
		info, err = s.cfg.Backend.HeadObject(ctx, req.bucket, req.key)
	} else {
		obj, err = s.cfg.Backend.GetObject(ctx, req.bucket, req.key)
		if err == nil {
			defer obj.Close()
			info = obj.Info()
		}
	}
	if err != nil {
		return err
	}
	h := w.Header()
	if err := checkReadConditions(r.Header, info); err != nil {
		if err == errNotModified {
			h.Set("ETag", quoteETag(info.ETag))
			h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
		return err
	}
	var (
		off, n  int64
		partial bool
	)
	if part > 0 {
		var count int
		off, n, partial, count, err = partRange(ctx, obj, info, part)
		if count > 0 {
			h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(count))
		}
	} else {
		off, n, partial, err = parseRange(r.Header.Get("Range"), info.Size)
		if err != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
		}
	}
	if err != nil {
		return err
	}
	setObjectHeaders(h, info, !partial && strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED"))
	for _, o := range responseOverrides {
		if v := req.query.Get(o[0]); v != "" {
			h.Set(o[1], v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(info.Size, 10))
		status = http.StatusPartialContent
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	rc, err := obj.Range(ctx, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	w.WriteHeader(status)
	// io.Copy lets a backend reader hand the bytes to the socket itself: a file with
	// sendfile(2), a gateway's connection to its service with splice(2). Over TLS the bytes must
	// pass through this process to be encrypted, and the ResponseWriter's ReadFrom would read
	// them 32 KiB at a time, so the reader's own copy is left to choose its buffer.
	// A client slower than the minimum rate (one that never reads) is cut off, so that it
	// holds the object's file no longer than a window or two.
	cw := clientlimit.NewWriter(w, s.minRate())
	defer cw.Done()
	dst := io.Writer(cw)
	if r.TLS != nil {
		dst = struct{ io.Writer }{cw}
	}
	if _, err := io.Copy(dst, rc); err != nil {
		s.log.DebugContext(ctx, "response body cut short", "request_id", req.id, "err", err)
		if rec, ok := w.(*accessRecorder); ok && (errors.Is(err, clientlimit.ErrAborted) || errors.Is(err, clientlimit.ErrTimeout)) {
			rec.status = statusClientClosed
		}
	}
	return nil
}

var errRangeWithPart = apiErr("InvalidRequest", http.StatusBadRequest, "Cannot specify both Range header and partNumber query parameter.")

// partRange finds part n of obj, as S3 numbers them: the parts of a multipart upload in the
// order of its completion (count is how many, from the ETag's "-N"), or, for an object of one
// PUT, its whole self as part 1 (answered like a plain GET: partial is false and count 0).
func partRange(ctx context.Context, obj Object, info ObjectInfo, n int) (off, length int64, partial bool, count int, err error) {
	count = partsCount(info.ETag)
	if count == 0 {
		if n != 1 {
			return 0, 0, false, 0, ErrNoSuchPart
		}
		return 0, info.Size, false, 0, nil
	}
	if n > count {
		return 0, 0, false, count, ErrNoSuchPart
	}
	po, ok := obj.(PartedObject)
	if !ok {
		return 0, 0, false, count, ErrPartsUnknown
	}
	off, length, err = po.PartRange(ctx, n)
	if err != nil {
		return 0, 0, false, count, err
	}
	if off < 0 || length < 0 || off+length > info.Size {
		return 0, 0, false, count, fmt.Errorf("storage: part %d at %d+%d lies outside the object's %d bytes", n, off, length, info.Size)
	}
	return off, length, true, count, nil
}

// partsCount is N of a multipart ETag "<hex>-N", or 0 for any other.
func partsCount(etag string) int {
	i := strings.LastIndexByte(etag, '-')
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(etag[i+1:])
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// setObjectHeaders writes an object's stored headers; checksums only when asked for.
func setObjectHeaders(h http.Header, info ObjectInfo, checksums bool) {
	ct := info.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream" // what S3 answers for an object stored without a type
	}
	h.Set("Content-Type", ct)
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	// Whatever the type, a browser opening a download must neither guess another one nor run
	// it as a page of this origin: an uploaded HTML or SVG file stays inert.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	for _, kv := range [...][2]string{
		{"Content-Encoding", info.Meta.ContentEncoding},
		{"Content-Disposition", info.Meta.ContentDisposition},
		{"Content-Language", info.Meta.ContentLanguage},
		{"Cache-Control", info.Meta.CacheControl},
		{"Expires", info.Meta.Expires},
	} {
		if kv[1] != "" {
			h.Set(kv[0], kv[1])
		}
	}
	for k, v := range info.Meta.User {
		h["X-Amz-Meta-"+k] = []string{encodeMetaValue(v)}
	}
	if checksums {
		for alg, v := range info.Checksums {
			h.Set(sigv4.ChecksumHeader(alg), v)
		}
	}
}

// checkReadConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since as S3 does: a true If-Match overrides a false If-Unmodified-Since, and a
// false If-None-Match overrides a true If-Modified-Since.
func checkReadConditions(h http.Header, info ObjectInfo) error {
	lm := info.LastModified.Truncate(time.Second)
	ifMatch, ifNoneMatch := h.Get("If-Match"), h.Get("If-None-Match")
	if ifMatch != "" {
		if !etagMatches(ifMatch, info.ETag) {
			return errPrecondition
		}
	} else if t, ok := httpTime(h.Get("If-Unmodified-Since")); ok && lm.After(t) {
		return errPrecondition
	}
	if ifNoneMatch != "" {
		if etagMatches(ifNoneMatch, info.ETag) {
			return errNotModified
		}
	} else if t, ok := httpTime(h.Get("If-Modified-Since")); ok && !lm.After(t) {
		return errNotModified
	}
	return nil
}

// etagMatches tests an If-Match / If-None-Match list ("*", or quoted or bare ETags, comma
// separated, weak ones included) against an object's ETag.
func etagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == etag {
			return true
		}
	}
	return false
}

func httpTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}

// parseRange interprets a Range header against an object of size bytes: "bytes=a-b",
// "bytes=a-" and "bytes=-n". It returns the whole object (partial=false) for no header, a
// header that is not a single byte range (S3 serves the whole object then), and errInvalidRange
// when the range starts beyond the end.
func parseRange(v string, size int64) (off, n int64, partial bool, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if v == "" || !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" {
		k, err := strconv.ParseInt(last, 10, 64)
		if err != nil || k < 0 {
			return 0, size, false, nil
		}
		if k == 0 || size == 0 {
			return 0, 0, false, errInvalidRange
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	a, err1 := strconv.ParseInt(first, 10, 64)
	if err1 != nil || a < 0 {
		return 0, size, false, nil
	}
	b := size - 1
	if last != "" {
		var err2 error
		if b, err2 = strconv.ParseInt(last, 10, 64); err2 != nil || b < a {
			return 0, size, false, nil
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, errInvalidRange
	}
	return a, b - a + 1, true, nil
}
