package storage

import (
	"encoding/xml"
	"hash"
	"net/http"
	"strconv"
	"strings"

	"presign/extension"
	"presign/sigv4"
)

// Multipart uploads (S3's CreateMultipartUpload, UploadPart, UploadPartCopy, AbortMultipartUpload;
// completion and the listings are in multipart_complete.go and multipart_list.go). The face
// checks the S3 rules it can check alone (part numbers, checksum settings, limits) and leaves
// the rest to the backend's Multiparter, which it discovers by a type assertion.

// errPartNeedsUpload is S3's answer to a partNumber without an uploadId, or the reverse. The
// errors of a part list are with the completion rules, in multipart_rules.go.
var errPartNeedsUpload = &APIError{"InvalidRequest", http.StatusBadRequest, "A part upload needs both partNumber and uploadId.", nil}

// multipartOp serves the object requests that name uploads, uploadId or partNumber.
func (s *Server) createMultipartUpload(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	if err := checkACLHeaders(r.Header); err != nil {
		return err
	}
	meta, err := metadataFrom(storedHeader(r, req))
	if err != nil {
		return err
	}
	opts := MultipartOptions{Meta: meta}
	if opts.ChecksumAlgorithm, opts.ChecksumType, err = checksumSettings(r.Header); err != nil {
		return err
	}
	// On the URL that starts an upload, the size cap of the presign extension bounds the
	// whole object; each part's own URL may cap the part.
	if v, ok := req.auth.Query(extension.MaxBytes); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return apiErr("InvalidArgument", http.StatusBadRequest, "%s must be a positive integer on a multipart upload.", extension.MaxBytes)
		}
		opts.MaxSize = n
	}
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	up, err := mp.CreateMultipartUpload(r.Context(), req.bucket, req.key, opts)
	if err != nil {
		return err
	}
	req.nonce = ""
	if up.ChecksumAlgorithm != "" {
		w.Header().Set("X-Amz-Checksum-Algorithm", up.ChecksumAlgorithm)
		w.Header().Set("X-Amz-Checksum-Type", up.ChecksumType)
	}
	return writeXML(w, struct {
		XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Bucket   string
		Key      string
		UploadID string `xml:"UploadId"`
	}{NS: s3NS, Bucket: req.bucket, Key: req.key, UploadID: up.UploadID})
}

// checksumSettings reads x-amz-checksum-algorithm and x-amz-checksum-type of a new upload.
func checksumSettings(h http.Header) (alg, typ string, err error) {
	alg = strings.ToUpper(h.Get("X-Amz-Checksum-Algorithm"))
	typ = strings.ToUpper(h.Get("X-Amz-Checksum-Type"))
	switch {
	case alg == "" && typ == "":
		return "", "", nil
	case alg == "":
		return "", "", apiErr("InvalidRequest", http.StatusBadRequest, "x-amz-checksum-type needs x-amz-checksum-algorithm.")
	}
	if _, ok := sigv4.NewChecksum(alg); !ok {
		return "", "", apiErr("InvalidRequest", http.StatusBadRequest, "Checksum algorithm %q is not supported.", alg)
	}
	if typ == "" {
		typ = DefaultChecksumType(alg)
	}
	if !ValidChecksumType(alg, typ) {
		return "", "", apiErr("InvalidRequest", http.StatusBadRequest, "The %s checksum type cannot be used with the %s checksum algorithm.", typ, alg)
	}
	return alg, typ, nil
}

// partNumber reads the partNumber query parameter.
func partNumber(req *request) (int, error) {
	n, err := strconv.Atoi(req.query.Get("partNumber"))
	if err != nil || n < 1 || n > MaxParts {
		return 0, errInvalidPartNumber
	}
	return n, nil
}

// partUpload looks up the upload a part request names, before any of its body is read.
func partUpload(r *http.Request, req *request, mp Multiparter) (int, MultipartUpload, error) {
	n, err := partNumber(req)
	if err != nil {
		return 0, MultipartUpload{}, err
	}
	up, err := mp.HeadMultipartUpload(r.Context(), req.bucket, req.key, req.query.Get("uploadId"))
	return n, up, err
}

// partLimit is the largest part this request may carry: the node's PUT limit, the URL's own
// cap, and the cap of the whole upload.
func (s *Server) partLimit(req *request, up MultipartUpload) (int64, error) {
	limit, err := s.uploadLimit(req)
	if err != nil {
		return 0, err
	}
	limit = min(limit, MaxPartSize)
	if up.MaxSize > 0 {
		limit = min(limit, up.MaxSize)
	}
	return limit, nil
}

// uploadPart stores a part through the same body pipeline as PutObject: payload signature,
// Content-MD5, x-amz-checksum-*, X-Presign-Max-Bytes and X-Presign-Once all apply.
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	n, up, err := partUpload(r, req, mp)
	if err != nil {
		return err
	}
	limit, err := s.partLimit(req, up)
	if err != nil {
		return err
	}
	body, err := s.openBody(r, req, limit)
	if err != nil {
		return err
	}
	body = withChecksum(body, r.Header, up.ChecksumAlgorithm)
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	part, err := mp.UploadPart(r.Context(), req.bucket, req.key, up.UploadID, n, body)
	if err != nil {
		return err
	}
	req.nonce = ""
	h := w.Header()
	h.Set("ETag", quoteETag(part.ETag))
	for alg, v := range part.Checksums {
		h.Set(sigv4.ChecksumHeader(alg), v)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// withChecksum makes sure a part of an upload with a checksum algorithm gets a checksum of
// it: one the client sends is verified by the body already; otherwise it is computed here.
func withChecksum(body Body, h http.Header, alg string) Body {
	if alg == "" || h.Get(sigv4.ChecksumHeader(alg)) != "" {
		return body
	}
	if t, _ := sigv4.ChecksumFromHeader(h.Get("X-Amz-Trailer")); t == alg {
		return body
	}
	for _, name := range []string{"X-Amz-Checksum-Algorithm", "X-Amz-Sdk-Checksum-Algorithm"} {
		if strings.EqualFold(h.Get(name), alg) {
			return body // openBody computes it
		}
	}
	sum, _ := sigv4.NewChecksum(alg)
	return &summedBody{Body: body, alg: alg, h: sum}
}

// summedBody adds one checksum to a Body's sums.
type summedBody struct {
	Body
	alg string
	h   hash.Hash
}

func (b *summedBody) Read(p []byte) (int, error) {
	n, err := b.Body.Read(p)
	b.h.Write(p[:n])
	return n, err
}

func (b *summedBody) Sums() Sums {
	sums := b.Body.Sums()
	cs := make(map[string]string, len(sums.Checksums)+1)
	for k, v := range sums.Checksums {
		cs[k] = v
	}
	cs[b.alg] = sigv4.EncodeChecksum(b.h)
	sums.Checksums = cs
	return sums
}

// uploadPartCopy stores a part copied from a stored object, whole or a range of it
// (x-amz-copy-source-range).
func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	ctx := r.Context()
	n, up, err := partUpload(r, req, mp)
	if err != nil {
		return err
	}
	srcBucket, srcKey, err := parseCopySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	limit, err := s.partLimit(req, up)
	if err != nil {
		return err
	}
	if err := s.consumeNonce(ctx, req); err != nil {
		return err
	}
	obj, err := s.cfg.Backend.GetObject(ctx, srcBucket, srcKey)
	if err != nil {
		return err
	}
	defer obj.Close()
	info := obj.Info()
	if err := checkCopyConditions(r.Header, info); err != nil {
		return err
	}
	off, length := int64(0), info.Size
	if v := r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if off, length, err = parseCopyRange(v, info.Size); err != nil {
			return err
		}
	}
	if length > limit {
		return errEntityTooLargeFor(length, limit)
	}
	rc, err := obj.Range(ctx, off, length)
	if err != nil {
		return err
	}
	defer rc.Close()
	var algs []string
	if up.ChecksumAlgorithm != "" {
		algs = []string{up.ChecksumAlgorithm}
	}
	part, err := mp.UploadPart(ctx, req.bucket, req.key, up.UploadID, n, NewBody(rc, BodyOptions{Size: length, Compute: algs}))
	if err != nil {
		return err
	}
	req.nonce = ""
	return writeXML(w, struct {
		XMLName      xml.Name `xml:"CopyPartResult"`
		NS           string   `xml:"xmlns,attr"`
		LastModified string
		ETag         string
		checksumXML
	}{NS: s3NS, LastModified: isoTime(part.LastModified), ETag: quoteETag(part.ETag), checksumXML: newChecksumXML(part.Checksums)})
}

// parseCopyRange reads x-amz-copy-source-range, "bytes=first-last", which must lie inside the
// source object.
func parseCopyRange(v string, size int64) (off, length int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	a, err1 := strconv.ParseInt(first, 10, 64)
	b, err2 := strconv.ParseInt(last, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil || a < 0 || b < a {
		return 0, 0, apiErr("InvalidArgument", http.StatusBadRequest,
			"The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if b >= size {
		return 0, 0, apiErr("InvalidArgument", http.StatusBadRequest, "Range specified is not valid for source object of size: %d", size)
	}
	return a, b - a + 1, nil
}

func errEntityTooLargeFor(size, limit int64) *APIError {
	return &APIError{Code: "EntityTooLarge", Status: http.StatusBadRequest,
		Message: "Your proposed upload exceeds the maximum allowed size",
		Fields:  []sigv4.Field{{Name: "ProposedSize", Value: strconv.FormatInt(size, 10)}, {Name: "MaxSizeAllowed", Value: strconv.FormatInt(limit, 10)}}}
}

func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	if err := s.consumeNonce(r.Context(), req); err != nil {
		return err
	}
	if err := mp.AbortMultipartUpload(r.Context(), req.bucket, req.key, req.query.Get("uploadId")); err != nil {
		return err
	}
	req.nonce = ""
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checksumXML holds the Checksum<ALG> elements S3 puts in part and object descriptions.
type checksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

func newChecksumXML(m map[string]string) checksumXML {
	return checksumXML{
		ChecksumCRC32:     m[sigv4.ChecksumCRC32],
		ChecksumCRC32C:    m[sigv4.ChecksumCRC32C],
		ChecksumCRC64NVME: m[sigv4.ChecksumCRC64NVME],
		ChecksumSHA1:      m[sigv4.ChecksumSHA1],
		ChecksumSHA256:    m[sigv4.ChecksumSHA256],
	}
}

// checksums returns the elements that are set, by algorithm.
func (c checksumXML) checksums() map[string]string {
	var m map[string]string
	for alg, v := range map[string]string{
		sigv4.ChecksumCRC32: c.ChecksumCRC32, sigv4.ChecksumCRC32C: c.ChecksumCRC32C, sigv4.ChecksumCRC64NVME: c.ChecksumCRC64NVME,
		sigv4.ChecksumSHA1: c.ChecksumSHA1, sigv4.ChecksumSHA256: c.ChecksumSHA256,
	} {
		if v = strings.TrimSpace(v); v != "" {
			if m == nil {
				m = make(map[string]string)
			}
			m[alg] = v
		}
	}
	return m
}
