package storage

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"presign/events"
	"presign/extension"
	"presign/sigv4"
)

// parallelHashMin is the body size from which hashing runs beside the writes: below it the
// hand-off costs more than it saves.
const parallelHashMin = 1 << 20

// maxUserMetadata is S3's limit on the x-amz-meta-* headers of an object, names and values.
const maxUserMetadata = 2 << 10

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, req *request) error {
	opts, err := putOptions(storedHeader(r, req))
	if err != nil {
		return err
	}
	limit, err := s.uploadLimit(req)
	if err != nil {
		return err
	}
	body, err := s.openBody(r, req, limit)
	if err != nil {
		return err
	}
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	info, err := s.cfg.Backend.PutObject(r.Context(), req.bucket, req.key, body, opts)
	if err != nil {
		return s.writeConditionFailure(r.Context(), req, opts.IfMatch, err)
	}
	req.nonce = "" // the write took effect: the once-URL stays used, whatever follows
	if err := s.emit(r.Context(), r, req, events.ObjectCreatedPut, req.key, info); err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	for alg, v := range info.Checksums {
		h.Set(sigv4.ChecksumHeader(alg), v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// writeConditionFailure gives a failed conditional write S3's answer: If-Match on a key where
// no object exists is NoSuchKey, not PreconditionFailed. The backends check the condition
// atomically with the commit and report any failure as ErrPreconditionFailed; which of the two
// it was is told here, for PUT, Copy and CompleteMultipartUpload alike.
func (s *Server) writeConditionFailure(ctx context.Context, req *request, ifMatch string, err error) error {
	if ifMatch == "" || !errors.Is(err, ErrPreconditionFailed) {
		return err
	}
	if _, herr := s.cfg.Backend.HeadObject(ctx, req.bucket, req.key); errors.Is(herr, ErrNoSuchKey) {
		return ErrNoSuchKey
	}
	return err
}

// putOptions reads the metadata and write conditions of a PUT.
func putOptions(h http.Header) (PutOptions, error) {
	var o PutOptions
	if err := checkACLHeaders(h); err != nil {
		return o, err
	}
	m, err := metadataFrom(h)
	if err != nil {
		return o, err
	}
	o.Meta = m
	switch v := strings.TrimSpace(h.Get("If-None-Match")); v {
	case "":
	case "*":
		o.IfNoneMatch = true
	default:
		return o, apiErr("NotImplemented", http.StatusNotImplemented, "If-None-Match on a write supports only \"*\".")
	}
	if v := strings.TrimSpace(h.Get("If-Match")); v != "" {
		o.IfMatch = strings.Trim(v, `"`)
	}
	return o, nil
}

// metadataFrom collects the stored headers of an object.
func metadataFrom(h http.Header) (Metadata, error) {
	m := Metadata{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    contentEncoding(h.Values("Content-Encoding")),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
	}
	size := 0
	for name, vs := range h {
		if len(name) <= len("X-Amz-Meta-") || !strings.EqualFold(name[:len("X-Amz-Meta-")], "X-Amz-Meta-") {
			continue
		}
		k := strings.ToLower(name[len("X-Amz-Meta-"):])
		v := decodeMetaValue(strings.Join(vs, ","))
		size += len(k) + len(v)
		if m.User == nil {
			m.User = make(map[string]string)
		}
		m.User[k] = v
	}
	if size > maxUserMetadata {
		return m, errMetadataTooLarge
	}
	return m, nil
}

// contentEncoding drops aws-chunked, which describes the upload, not the object, and keeps
// the rest as the client wrote it ("deflate, gzip" stays spaced).
func contentEncoding(values []string) string {
	v := strings.Join(values, ", ")
	if !strings.Contains(strings.ToLower(v), "aws-chunked") {
		return v
	}
	var keep []string
	for _, e := range strings.Split(v, ",") {
		if t := strings.TrimSpace(e); t != "" && !strings.EqualFold(t, "aws-chunked") {
			keep = append(keep, e)
		}
	}
	return strings.TrimSpace(strings.Join(keep, ","))
}

func quoteETag(etag string) string { return `"` + etag + `"` }

// uploadBody is the body of a write on its way to the backend: the payload as the signature
// checks it, then counted, limited and hashed by a CheckedBody. A checksum that arrived in an
// aws-chunked trailer was verified by the payload reader and is added to the sums rather than
// computed twice.
type uploadBody struct {
	*CheckedBody
	payload *sigv4.Payload
	trailer string // the algorithm of the trailing checksum the request declared, or ""
}

// ChecksumAlgorithms implements ChecksumPlanner.
func (b uploadBody) ChecksumAlgorithms() []string {
	algs := b.CheckedBody.ChecksumAlgorithms()
	if b.trailer != "" {
		algs = append(algs, b.trailer)
	}
	return algs
}

func (b uploadBody) Sums() Sums {
	sums := b.CheckedBody.Sums()
	if alg, v := b.payload.TrailerChecksum(); alg != "" {
		if sums.Checksums == nil {
			sums.Checksums = make(map[string]string, 1)
		}
		sums.Checksums[alg] = v
	}
	return sums
}

// openBody prepares the body of a write: it checks the declared length against limit before
// reading anything, and arranges for the signature's payload checks, the limit, Content-MD5
// and x-amz-checksum-* to be verified as the bytes arrive.
func (s *Server) openBody(r *http.Request, req *request, limit int64) (Body, error) {
	payload, err := sigv4.NewPayloadReader(req.auth, r)
	if err != nil {
		return nil, err
	}
	if payload.Length > limit {
		return nil, &APIError{Code: "EntityTooLarge", Status: http.StatusBadRequest,
			Message: "Your proposed upload exceeds the maximum allowed size",
			Fields:  []sigv4.Field{{Name: "ProposedSize", Value: strconv.FormatInt(payload.Length, 10)}, {Name: "MaxSizeAllowed", Value: strconv.FormatInt(limit, 10)}}}
	}
	opts := BodyOptions{Size: payload.Length, MaxBytes: limit}
	if sel, ok := s.cfg.Backend.(SelectiveMD5); ok && !sel.NeedsMD5(payload.Length) {
		opts.SkipMD5 = true
	}
	if opts.ContentMD5, err = contentMD5(r.Header); err != nil {
		return nil, err
	}
	trailerAlg, _ := sigv4.ChecksumFromHeader(r.Header.Get("X-Amz-Trailer"))
	for name, vs := range r.Header {
		alg, ok := sigv4.ChecksumFromHeader(name)
		if !ok || alg == trailerAlg {
			continue
		}
		if !validChecksum(alg, vs[0]) {
			return nil, errChecksumNotAChecksum(alg)
		}
		if opts.Expect == nil {
			opts.Expect = make(map[string]string, 1)
		}
		opts.Expect[alg] = vs[0]
	}
	for _, hdr := range []string{"X-Amz-Checksum-Algorithm", "X-Amz-Sdk-Checksum-Algorithm"} {
		if v := r.Header.Get(hdr); v != "" {
			alg := strings.ToUpper(v)
			if _, ok := sigv4.NewChecksum(alg); !ok {
				return nil, apiErr("InvalidRequest", http.StatusBadRequest, "Checksum algorithm %q is not supported.", v)
			}
			if alg != trailerAlg {
				opts.Compute = append(opts.Compute, alg)
			}
		}
	}
	var cb *CheckedBody
	if payload.Length < 0 || payload.Length >= parallelHashMin {
		cb = newParallelBody(r.Context(), payload, opts, &s.hashBufs)
	} else {
		cb = NewBody(payload, opts)
	}
	return uploadBody{CheckedBody: cb, payload: payload, trailer: trailerAlg}, nil
}

// uploadLimit is the largest body this request may carry.
func (s *Server) uploadLimit(req *request) (int64, error) {
	limit := s.cfg.MaxPutSize
	if v, ok := req.auth.Query(extension.MaxBytes); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, apiErr("InvalidArgument", http.StatusBadRequest, "%s must be a non-negative integer.", extension.MaxBytes)
		}
		limit = min(limit, n)
	}
	return limit, nil
}

// validChecksum reports a base64 value of the right length for its algorithm.
func validChecksum(alg, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return false
	}
	h, _ := sigv4.NewChecksum(alg)
	return len(b) == h.Size()
}
