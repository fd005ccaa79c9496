package client

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// APIError is a refusal of the control plane: the HTTP status and the stable code and message
// of its {"error", "message"} body (docs/control-plane.md lists the codes).
type APIError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the server's Retry-After, when it sent one (rate limits, throttled logins).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("control plane: HTTP %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// StorageError is a refusal of the object store, from its S3 XML error body: the HTTP status,
// the S3 code (e.g. BadDigest, AccessDenied, NoSuchKey) and message, and the store's request id.
type StorageError struct {
	Op        string // what the client was doing, e.g. "upload part 3"
	Status    int
	Code      string
	Message   string
	RequestID string
}

func (e *StorageError) Error() string {
	s := fmt.Sprintf("object store: %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Policy-refusal codes of the control plane: the request was understood and authenticated,
// and the caller's policy says no.
var refusalCodes = map[string]bool{
	"quota_exceeded": true, "object_too_large": true, "content_type_refused": true,
	"too_many_pending": true, "rate_limited": true, "ttl_too_long": true, "forbidden": true,
}

// IsNotFound reports whether err says the file or upload does not exist (or is another user's).
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// IsUnauthenticated reports whether err says the credentials are missing, wrong, expired or
// revoked, or the account is disabled.
func IsUnauthenticated(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Status == http.StatusUnauthorized || ae.Code == "account_disabled" || ae.Code == "login_throttled"
}

// IsRefused reports whether err is a refusal by the caller's policy: size, type, quota,
// pending uploads, rate, URL lifetime, or an administrators-only operation.
func IsRefused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && refusalCodes[ae.Code]
}

// apiError reads a control-plane error answer. The body is closed by the caller.
func apiError(resp *http.Response) *APIError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header)}
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Error, body.Message
		return e
	}
	e.Message = strings.TrimSpace(string(raw))
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "..."
	}
	return e
}

// storageError reads an S3 error answer. The body is closed by the caller.
func storageError(op string, resp *http.Response) *StorageError {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &StorageError{Op: op, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Amz-Request-Id")}
	var body struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(raw, &body) == nil {
		e.Code, e.Message = body.Code, body.Message
		if body.RequestID != "" {
			e.RequestID = body.RequestID
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// retryAfter reads a Retry-After header in seconds; zero when absent or a date.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}
