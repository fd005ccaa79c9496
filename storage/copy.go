package storage

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"time"

	"presign/events"
	"presign/sigv4"
)

// copyObject copies an object within the node (PUT with x-amz-copy-source). The bytes stream
// from the source version to a new object with the same write rules as a PUT; the source stays
// readable throughout, even if it is replaced meanwhile.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, req *request) error {
	ctx := r.Context()
	srcBucket, srcKey, err := parseCopySource(r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return err
	}
	replace := false
	switch d := strings.ToUpper(r.Header.Get("X-Amz-Metadata-Directive")); d {
	case "", "COPY":
	case "REPLACE":
		replace = true
	default:
		return apiErr("InvalidArgument", http.StatusBadRequest, "Unknown metadata directive %q.", d)
	}
	if srcBucket == req.bucket && srcKey == req.key && !replace {
		return errCopyToItself
	}
	opts, err := putOptions(storedHeader(r, req))
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
	if !replace {
		opts.Meta = info.Meta
	}
	var algs []string
	for alg := range info.Checksums {
		algs = append(algs, alg)
	}
	if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
		if _, ok := sigv4.NewChecksum(v); !ok {
			return apiErr("InvalidRequest", http.StatusBadRequest, "Checksum algorithm %q is not supported.", v)
		}
		algs = append(algs, strings.ToUpper(v))
	}
	rc, err := obj.Range(ctx, 0, info.Size)
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := s.cfg.Backend.PutObject(ctx, req.bucket, req.key, NewBody(rc, BodyOptions{Size: info.Size, Compute: algs}), opts)
	if err != nil {
		return s.writeConditionFailure(ctx, req, opts.IfMatch, err)
	}
	req.nonce = ""
	if err := s.emit(ctx, r, req, events.ObjectCreatedCopy, req.key, out); err != nil {
		return err
	}
	return writeXML(w, struct {
		XMLName      xml.Name `xml:"CopyObjectResult"`
		NS           string   `xml:"xmlns,attr"`
		LastModified string
		ETag         string
	}{NS: s3NS, LastModified: isoTime(out.LastModified), ETag: quoteETag(out.ETag)})
}

// parseCopySource reads "[/]bucket/key[?versionId=...]", URL-encoded.
func parseCopySource(v string) (bucket, key string, err error) {
	path, version, _ := strings.Cut(v, "?")
	if version != "" {
		q, err := url.ParseQuery(version)
		if err != nil || len(q) != 1 || !namesVersion(q) || checkVersionID(q) != nil {
			return "", "", errInvalidVersionID
		}
	}
	dec, err := url.PathUnescape(path)
	if err != nil {
		return "", "", errInvalidCopySource
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	if !ok || !validBucketName(bucket) {
		return "", "", errInvalidCopySource
	}
	if err := checkKey(key); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// checkCopyConditions applies the x-amz-copy-source-if-* headers; every failure is a 412.
func checkCopyConditions(h http.Header, info ObjectInfo) error {
	lm := info.LastModified.Truncate(time.Second)
	if v := h.Get("X-Amz-Copy-Source-If-Match"); v != "" && !etagMatches(v, info.ETag) {
		return errPrecondition
	}
	if v := h.Get("X-Amz-Copy-Source-If-None-Match"); v != "" && etagMatches(v, info.ETag) {
		return errPrecondition
	}
	if t, ok := httpTime(h.Get("X-Amz-Copy-Source-If-Unmodified-Since")); ok && lm.After(t) {
		return errPrecondition
	}
	if t, ok := httpTime(h.Get("X-Amz-Copy-Source-If-Modified-Since")); ok && !lm.After(t) {
		return errPrecondition
	}
	return nil
}
