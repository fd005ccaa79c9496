package storage

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"presign/events"
	"presign/extension"
	"presign/internal/clientlimit"
	"presign/sigv4"
)

// POST Object: a browser uploads with an HTML form posted to the bucket. The form is its own
// authentication (a signed policy, checked by sigv4.Verifier.VerifyPost), so these requests
// bypass the header/query signature check of ServeHTTP.
//
// A form's size is capped by its policy's content-length-range, so X-Presign-Max-Bytes has no
// form counterpart. X-Presign-Once does: a form field x-presign-once (covered by the policy,
// like every field, and so signed) makes the form work once until the policy expires.

// S3's limit on the form fields that precede the file, names and values.
const maxPostFields = 20 << 10

// maxPostPreamble bounds the raw bytes before the file: the fields plus their part headers and
// boundaries. Part headers are not fields, but without this bound one part could make the
// multipart reader hold megabytes of header.
const maxPostPreamble = 64 << 10

var (
	errMalformedPOST   = &APIError{"MalformedPOSTRequest", http.StatusBadRequest, "The body of your POST request is not well-formed multipart/form-data.", nil}
	errPostFieldsLarge = &APIError{"MaxPostPreDataLengthExceededError", http.StatusBadRequest, "Your POST request fields preceding the upload file were too large.", nil}
	errPostNoFile      = &APIError{"InvalidArgument", http.StatusBadRequest, "POST requires exactly one file upload per request.",
		[]sigv4.Field{{Name: "ArgumentName", Value: "file"}, {Name: "ArgumentValue", Value: "0"}}}
	errPostNoKey = &APIError{"InvalidArgument", http.StatusBadRequest, "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
		[]sigv4.Field{{Name: "ArgumentName", Value: "key"}, {Name: "ArgumentValue", Value: ""}}}
	errPostNotMultipart = &APIError{"PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold",
		[]sigv4.Field{{Name: "Condition", Value: "Bucket POST must be of the enclosure-type multipart/form-data"}}}
)

// isPostObject reports a form upload: a POST to a bucket that is not DeleteObjects.
func isPostObject(r *http.Request, req *request) bool {
	return r.Method == http.MethodPost && req.bucket != "" && req.key == "" && !has(req.query, "delete")
}

// postObject serves POST Object, answering errors itself.
func (s *Server) postObject(w http.ResponseWriter, r *http.Request, req *request) {
	if err := s.servePost(w, r, req); err != nil {
		s.releaseNonce(r.Context(), req)
		s.writeError(w, r, req, err)
	}
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request, req *request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return errPostNotMultipart
	}
	// The fields are small: they must arrive within SmallBodyTimeout, however steadily they
	// trickle in, as anyone may open a form's connection.
	if req.body != nil {
		req.body.Limit(s.cfg.SmallBodyTimeout)
	}
	pre := &preambleReader{r: r.Body, left: maxPostPreamble}
	form, file, err := readPostFields(multipart.NewReader(pre, params["boundary"]), pre)
	if err != nil {
		return err
	}
	// The file streams from here on; only the fields were bounded.
	pre.left = -1
	if req.body != nil {
		req.body.EndTotal()
	}
	key, ok := form["key"]
	if !ok || key == "" {
		return errPostNoKey
	}
	key = strings.ReplaceAll(key, "${filename}", file.FileName())
	form["key"] = key
	req.key = key
	if err := checkKey(key); err != nil {
		return err
	}
	// The policy is checked against the key as it will be stored, ${filename} replaced.
	policy, err := s.verifyForm(form, req)
	if err != nil {
		return err
	}
	h := make(http.Header, len(form))
	for name, v := range form {
		h.Set(name, v)
	}
	meta, err := metadataFrom(h)
	if err != nil {
		return err
	}
	opts, err := postBodyOptions(h)
	if err != nil {
		return err
	}
	limit, minSize := s.cfg.MaxPutSize, int64(0)
	if lo, hi, ok := policy.ContentLengthRange(); ok {
		limit, minSize = min(limit, hi), lo
	}
	opts.Size, opts.MaxBytes = -1, limit
	if limit == 0 {
		// MaxBytes 0 means no limit; a declared size of 0 refuses any byte instead.
		opts.Size = 0
	}
	if nonce, ok := form[extension.OnceField]; ok {
		if err := s.useNonce(r.Context(), req, nonce, policy.Expiration); err != nil {
			return err
		}
	}
	body := NewBody(&postFile{r: file, min: minSize}, opts)
	info, err := s.cfg.Backend.PutObject(r.Context(), req.bucket, key, body, PutOptions{Meta: meta})
	if err != nil {
		return err
	}
	req.nonce = "" // stored: the form stays used
	req.principal = req.accessKey
	if err := s.emit(r.Context(), r, req, events.ObjectCreatedPost, key, info); err != nil {
		return err
	}
	return s.postAnswer(w, r, req, form, info)
}

// readPostFields reads the form up to the file part: lower-case field names and their values,
// at most maxPostFields bytes of them.
func readPostFields(mr *multipart.Reader, pre *preambleReader) (map[string]string, *multipart.Part, error) {
	form := make(map[string]string)
	used := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil, errPostNoFile
		}
		if err != nil {
			return nil, nil, postReadError(err, pre)
		}
		name := strings.ToLower(part.FormName())
		if name == "" {
			return nil, nil, errMalformedPOST
		}
		if name == "file" {
			if pre.exceeded {
				return nil, nil, errPostFieldsLarge
			}
			return form, part, nil
		}
		used += len(name)
		if used > maxPostFields {
			return nil, nil, errPostFieldsLarge
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(maxPostFields-used+1)))
		if err != nil {
			return nil, nil, postReadError(err, pre)
		}
		if used += len(v); used > maxPostFields {
			return nil, nil, errPostFieldsLarge
		}
		if _, dup := form[name]; dup {
			return nil, nil, apiErr("InvalidArgument", http.StatusBadRequest, "The form field %q appears more than once.", name)
		}
		form[name] = string(v)
	}
}

// postReadError classifies a failure to read the form.
func postReadError(err error, pre *preambleReader) error {
	var api *APIError
	switch {
	case pre != nil && pre.exceeded:
		return errPostFieldsLarge
	case errors.As(err, &api):
		return err
	case errors.Is(err, clientlimit.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: %w", errRequestTimeout, err)
	case errors.Is(err, clientlimit.ErrAborted):
		return fmt.Errorf("%w: %w", errClientClosed, err)
	}
	return fmt.Errorf("%w: %w", errMalformedPOST, err)
}

// postBodyOptions reads the digests a form declares: Content-MD5, x-amz-checksum-<alg> values
// to verify, and x-amz-checksum-algorithm to compute and store.
func postBodyOptions(h http.Header) (BodyOptions, error) {
	var opts BodyOptions
	var err error
	if opts.ContentMD5, err = contentMD5(h); err != nil {
		return opts, err
	}
	for name, vs := range h {
		alg, ok := sigv4.ChecksumFromHeader(name)
		if !ok {
			continue
		}
		if !validChecksum(alg, vs[0]) {
			return opts, errChecksumNotAChecksum(alg)
		}
		if opts.Expect == nil {
			opts.Expect = make(map[string]string, 1)
		}
		opts.Expect[alg] = vs[0]
	}
	if v := h.Get("X-Amz-Checksum-Algorithm"); v != "" {
		alg := strings.ToUpper(v)
		if _, ok := sigv4.NewChecksum(alg); !ok {
			return opts, apiErr("InvalidRequest", http.StatusBadRequest, "Checksum algorithm %q is not supported.", v)
		}
		opts.Compute = append(opts.Compute, alg)
	}
	return opts, nil
}

// postAnswer sends the success answer the form asked for: a 303 to success_action_redirect
// with bucket, key and etag added to its query, or success_action_status 200, 201 (with a
// PostResponse document) or 204, the default.
func (s *Server) postAnswer(w http.ResponseWriter, r *http.Request, req *request, form map[string]string, info ObjectInfo) error {
	etag := quoteETag(info.ETag)
	h := w.Header()
	h.Set("ETag", etag)
	for alg, v := range info.Checksums {
		h.Set(sigv4.ChecksumHeader(alg), v)
	}
	if target := form["success_action_redirect"]; target != "" {
		// As on S3, a redirect that is not an absolute http(s) URL is ignored.
		if u, err := url.Parse(target); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			q := u.Query()
			q.Set("bucket", req.bucket)
			q.Set("key", req.key)
			q.Set("etag", etag)
			u.RawQuery = q.Encode()
			h.Set("Location", u.String())
			w.WriteHeader(http.StatusSeeOther)
			return nil
		}
	}
	location := s.objectURL(r, req)
	h.Set("Location", location)
	switch form["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		doc, err := xml.Marshal(struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string
			Bucket   string
			Key      string
			ETag     string
		}{Location: location, Bucket: req.bucket, Key: req.key, ETag: etag})
		if err != nil {
			return fmt.Errorf("encode PostResponse: %w", err)
		}
		h.Set("Content-Type", "application/xml")
		h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(doc)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(append([]byte(xml.Header), doc...))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// objectURL is the address of the request's object, in the addressing style it came with.
func (s *Server) objectURL(r *http.Request, req *request) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: "/" + req.bucket + "/" + req.key}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if _, virtual := s.virtualHostBucket(r.Host); virtual {
		u.Path = "/" + req.key
	}
	return u.String()
}

// preambleReader counts the bytes read before the file part. While left is not negative it
// refuses to read past it, and records that it did.
type preambleReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (p *preambleReader) Read(b []byte) (int, error) {
	if p.left < 0 {
		return p.r.Read(b)
	}
	if p.left == 0 {
		p.exceeded = true
		return 0, errPostFieldsLarge
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= int64(n)
	return n, err
}

// postFile is the file part of a form on its way to the backend: it refuses to end below the
// policy's minimum size, and gives read failures their S3 form.
type postFile struct {
	r   io.Reader
	min int64
	n   int64
}

func (f *postFile) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	f.n += int64(n)
	switch {
	case err == io.EOF && f.n < f.min:
		return n, &APIError{Code: sigv4.KindEntityTooSmall.Code(), Status: sigv4.KindEntityTooSmall.Status(),
			Message: "Your proposed upload is smaller than the minimum allowed size",
			Fields: []sigv4.Field{{Name: "ProposedSize", Value: strconv.FormatInt(f.n, 10)},
				{Name: "MinSizeAllowed", Value: strconv.FormatInt(f.min, 10)}}}
	case err != nil && err != io.EOF:
		return n, postReadError(err, nil)
	}
	return n, err
}
