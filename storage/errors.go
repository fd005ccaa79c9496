package storage

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"presign/internal/clientlimit"
	"presign/sigv2"
	"presign/sigv4"
)

// APIError is an S3 error answer: code, HTTP status, message, and the extra elements S3 adds
// to some errors. Handlers return it (or a sentinel the table below maps) and writeError
// renders it.
type APIError struct {
	Code    string
	Status  int
	Message string
	Fields  []sigv4.Field
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiErr builds an APIError with a formatted message.
func apiErr(code string, status int, format string, args ...any) *APIError {
	return &APIError{Code: code, Status: status, Message: fmt.Sprintf(format, args...)}
}

// Errors of the S3 API that handlers return directly.
var (
	errInvalidBucketName  = &APIError{"InvalidBucketName", http.StatusBadRequest, "The specified bucket is not valid.", nil}
	errKeyTooLong         = &APIError{"KeyTooLongError", http.StatusBadRequest, "Your key is too long.", nil}
	errInvalidKey         = &APIError{"InvalidArgument", http.StatusBadRequest, "Object keys must be non-empty valid UTF-8 without NUL characters.", nil}
	errMethodNotAllowed   = &APIError{"MethodNotAllowed", http.StatusMethodNotAllowed, "The specified method is not allowed against this resource.", nil}
	errNotImplemented     = &APIError{"NotImplemented", http.StatusNotImplemented, "A header or query you provided implies functionality that is not implemented.", nil}
	errMalformedXML       = &APIError{"MalformedXML", http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema.", nil}
	errInvalidDigest      = &APIError{"InvalidDigest", http.StatusBadRequest, "The Content-MD5 or checksum value that you specified is not valid.", nil}
	errMetadataTooLarge   = &APIError{"MetadataTooLarge", http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size.", nil}
	errInvalidRange       = &APIError{"InvalidRange", http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable", nil}
	errPrecondition       = &APIError{"PreconditionFailed", http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold", nil}
	errNotModified        = &APIError{"NotModified", http.StatusNotModified, "Not Modified", nil}
	errInvalidCopySource  = &APIError{"InvalidArgument", http.StatusBadRequest, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey.", nil}
	errCopyToItself       = &APIError{"InvalidRequest", http.StatusBadRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata.", nil}
	errUsedOnce           = &APIError{"AccessDenied", http.StatusForbidden, "This URL was made for one use, and it has been used.", nil}
	errTooManyDeleteKeys  = &APIError{"MalformedXML", http.StatusBadRequest, "A delete request can name at most 1000 objects.", nil}
	errMissingContentHash = &APIError{"InvalidRequest", http.StatusBadRequest, "Missing required header for this request: Content-MD5 or x-amz-checksum-*", nil}
)

// errorTable maps the sentinels of this package to S3 errors. It is the one place where the
// storage node's failures get their wire form; anything it does not know is a 500.
var errorTable = []struct {
	err error
	api *APIError
}{
	{ErrNoSuchBucket, &APIError{"NoSuchBucket", http.StatusNotFound, "The specified bucket does not exist", nil}},
	{ErrBucketExists, &APIError{"BucketAlreadyOwnedByYou", http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it.", nil}},
	{ErrBucketNotEmpty, &APIError{"BucketNotEmpty", http.StatusConflict, "The bucket you tried to delete is not empty", nil}},
	{ErrNoSuchKey, &APIError{"NoSuchKey", http.StatusNotFound, "The specified key does not exist.", nil}},
	{ErrPreconditionFailed, errPrecondition},
	{ErrStorageFull, &APIError{"InsufficientStorage", http.StatusInsufficientStorage, "The storage node has no space left for this object; nothing was stored.", nil}},
	{ErrIncompleteBody, &APIError{"IncompleteBody", http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header.", nil}},
	{ErrEntityTooLarge, &APIError{"EntityTooLarge", http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed size", nil}},
	{ErrNoSuchCORSConfiguration, &APIError{"NoSuchCORSConfiguration", http.StatusNotFound, "The CORS configuration does not exist", nil}},
	{ErrNoSuchBucketPolicy, &APIError{"NoSuchBucketPolicy", http.StatusNotFound, "The bucket policy does not exist", nil}},
	{ErrNoSuchUpload, &APIError{"NoSuchUpload", http.StatusNotFound, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", nil}},
	{ErrInvalidPart, &APIError{"InvalidPart", http.StatusBadRequest, "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", nil}},
	{ErrInvalidPartOrder, &APIError{"InvalidPartOrder", http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number.", nil}},
	{ErrNoSuchPart, &APIError{"InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable.", nil}},
	{ErrPartsUnknown, &APIError{"NotImplemented", http.StatusNotImplemented, "This storage backend cannot read one part of this object; use a Range.", nil}},
	{ErrUnavailable, &APIError{"ServiceUnavailable", http.StatusServiceUnavailable, "A service this node depends on is unavailable. Please try again.", nil}},
	{ErrPartTooSmall, &APIError{"EntityTooSmall", http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size.", nil}},
	{clientlimit.ErrTimeout, errRequestTimeout},
	{clientlimit.ErrAborted, errClientClosed},
	{context.Canceled, errClientClosed},
}

// statusClientClosed is what the access log says of a request whose client went away before
// its answer: nginx's 499, never sent, as nobody is there to read it.
const statusClientClosed = 499

var (
	errRequestTimeout = &APIError{"RequestTimeout", http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.", nil}
	errClientClosed   = &APIError{"ClientClosedRequest", statusClientClosed, "The client closed the connection before the request ended.", nil}
)

// toAPIError turns any error into its S3 form; ok is false for errors that are the server's
// fault (500), which the caller logs.
func toAPIError(err error) (e *APIError, ok bool) {
	var api *APIError
	if errors.As(err, &api) {
		return api, true
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &APIError{Code: se.Code(), Status: se.Status(), Message: se.S3Message(), Fields: se.Fields()}, true
	}
	var v2 *sigv2.Error
	if errors.As(err, &v2) {
		return &APIError{Code: v2.Code(), Status: v2.Status(), Message: v2.S3Message(), Fields: v2.Fields()}, true
	}
	var de *DigestError
	if errors.As(err, &de) {
		msg := "The Content-MD5 you specified did not match what we received."
		if de.Algorithm != "MD5" {
			msg = "The " + de.Algorithm + " you specified did not match the calculated checksum."
		}
		return &APIError{Code: "BadDigest", Status: http.StatusBadRequest, Message: msg,
			Fields: []sigv4.Field{{Name: "ExpectedDigest", Value: de.Expected}, {Name: "CalculatedDigest", Value: de.Computed}}}, true
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.api, true
		}
	}
	return &APIError{Code: "InternalError", Status: http.StatusInternalServerError, Message: "We encountered an internal error. Please try again."}, false
}

// errorBody is the S3 XML error document.
type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string
	Message    string
	BucketName string `xml:",omitempty"`
	Key        string `xml:",omitempty"`
	Resource   string
	RequestID  string `xml:"RequestId"`
	HostID     string `xml:"HostId"`
	Extra      []extraField
}

type extraField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// writeError answers a request with the S3 form of err. Server-side failures are logged once
// with the request id; the client sees only a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, req *request, err error) {
	e, ok := toAPIError(err)
	req.errCode = e.Code
	switch {
	case !ok:
		s.log.ErrorContext(r.Context(), "request failed", "request_id", req.id, "method", r.Method, "path", r.URL.Path, "err", err)
	case e == errClientClosed:
		// The client's doing, and anyone's to do: worth no more than a debug line.
		s.log.DebugContext(r.Context(), "client went away", "request_id", req.id, "method", r.Method, "path", r.URL.Path, "err", err)
		if rec, ok := w.(*accessRecorder); ok {
			rec.status = statusClientClosed
		}
		return
	case e == errRequestTimeout:
		s.log.DebugContext(r.Context(), "client too slow", "request_id", req.id, "method", r.Method, "path", r.URL.Path, "err", err)
	case errors.Is(err, ErrUnavailable):
		// Not the client's fault, and what the operator must see: which service failed.
		s.log.WarnContext(r.Context(), "request refused, a service is unavailable", "request_id", req.id, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	if e.Status == http.StatusNotModified || r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	body := errorBody{Code: e.Code, Message: e.Message, BucketName: req.bucket, Key: req.key, Resource: r.URL.Path, RequestID: req.id, HostID: s.hostID}
	for _, f := range e.Fields {
		body.Extra = append(body.Extra, extraField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	h.Set("Content-Type", "application/xml")
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Last-Modified")
	w.WriteHeader(e.Status)
	w.Write([]byte(xml.Header))
	xml.NewEncoder(w).Encode(body)
}
