package storage

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"presign/events"
	"presign/sigv4"
)

// completeRequest is the body of CompleteMultipartUpload.
type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber int
		ETag       string
		checksumXML
	} `xml:"Part"`
}

func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, req *request, mp Multiparter) error {
	ctx := r.Context()
	opts := CompleteOptions{MinPartSize: MinPartSize}
	switch v := strings.TrimSpace(r.Header.Get("If-None-Match")); v {
	case "":
	case "*":
		opts.IfNoneMatch = true
	default:
		return apiErr("NotImplemented", http.StatusNotImplemented, "If-None-Match on a write supports only \"*\".")
	}
	if v := strings.TrimSpace(r.Header.Get("If-Match")); v != "" {
		opts.IfMatch = strings.Trim(v, `"`)
	}
	// Checksum headers of a completion declare the whole object's checksum, not the body's.
	// As on a PUT, a value that is no checksum of its algorithm is refused before anything
	// else.
	trailerAlg, _ := sigv4.ChecksumFromHeader(r.Header.Get("X-Amz-Trailer"))
	for name, vs := range r.Header {
		if alg, ok := sigv4.ChecksumFromHeader(name); ok && alg != trailerAlg {
			v := strings.TrimSpace(vs[0])
			if !validObjectChecksum(alg, v) {
				return errInvalidDigest
			}
			if opts.Checksums == nil {
				opts.Checksums = make(map[string]string, 1)
			}
			opts.Checksums[alg] = v
		}
	}
	doc, err := readPartList(r, req)
	if err != nil {
		return err
	}
	var in completeRequest
	if err := xml.Unmarshal(doc, &in); err != nil {
		return errMalformedXML
	}
	parts := make([]CompletePart, len(in.Parts))
	for i, p := range in.Parts {
		parts[i] = CompletePart{Number: p.PartNumber, ETag: strings.Trim(strings.TrimSpace(p.ETag), `"`), Checksums: p.checksums()}
	}
	if err := CheckPartList(parts); err != nil {
		return err
	}
	if err := s.consumeNonce(ctx, req); err != nil {
		return err
	}
	done, err := mp.CompleteMultipartUpload(ctx, req.bucket, req.key, req.query.Get("uploadId"), parts, opts)
	if err != nil {
		return s.writeConditionFailure(ctx, req, opts.IfMatch, err)
	}
	req.nonce = ""
	info := done.Object
	// A replayed completion records its event again, in case the first one's answer was a
	// failure to record it. While the first entry is in the log, the log refuses a second one
	// of the same sequencer; once it has been delivered, the repeat carries the same event id.
	id := completionEventID(req.bucket, req.key, req.query.Get("uploadId"), info.Sequencer)
	if err := s.emitAs(ctx, r, req, id, events.ObjectCreatedCompleteMultipartUpload, req.key, info); err != nil &&
		!(done.Replayed && errors.Is(err, events.ErrDuplicateSeq)) {
		return err
	}
	out := struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		NS       string   `xml:"xmlns,attr"`
		Location string
		Bucket   string
		Key      string
		ETag     string
		checksumXML
		ChecksumType string `xml:",omitempty"`
	}{
		NS: s3NS, Location: objectLocation(r, req), Bucket: req.bucket, Key: req.key,
		ETag: quoteETag(info.ETag), checksumXML: newChecksumXML(info.Checksums),
	}
	for alg, v := range info.Checksums {
		out.ChecksumType = ChecksumFullObject
		if strings.Contains(v, "-") {
			out.ChecksumType = ChecksumComposite
		}
		w.Header().Set(sigv4.ChecksumHeader(alg), v)
	}
	return writeXML(w, out)
}

// validObjectChecksum reports a whole-object checksum value of algorithm alg: a checksum of
// the right length, with or without the "-N" part count of a composite checksum.
func validObjectChecksum(alg, v string) bool {
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		n, err := strconv.Atoi(v[i+1:])
		if err != nil || n < 1 || n > MaxParts {
			return false
		}
		v = v[:i]
	}
	return validChecksum(alg, v)
}

// readPartList reads the body of a completion, checked against the signature's payload hash
// and Content-MD5, up to maxSmallXML bytes. Unlike readDocument it leaves the
// x-amz-checksum-* headers alone: here they describe the object.
func readPartList(r *http.Request, req *request) ([]byte, error) {
	payload, err := sigv4.NewPayloadReader(req.auth, r)
	if err != nil {
		return nil, err
	}
	if payload.Length > maxSmallXML {
		return nil, errEntityTooLargeFor(payload.Length, maxSmallXML)
	}
	opts := BodyOptions{Size: payload.Length, MaxBytes: maxSmallXML}
	if opts.ContentMD5, err = contentMD5(r.Header); err != nil {
		return nil, err
	}
	return io.ReadAll(NewBody(payload, opts))
}

// objectLocation is the URL of the request's object, as S3 reports it in a completion.
func objectLocation(r *http.Request, req *request) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/" + req.bucket + "/" + req.key}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return u.String()
}
