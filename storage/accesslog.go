package storage

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// The access log: one structured line per request, at debug level, or at info with
// Config.AccessLog. It says what was asked (method, bucket, key, the S3 operation), how it was
// authenticated (auth: v4-header, v4-query, v2-header, v2-query, post-v4, post-v2, anonymous)
// and by which access key, and how it ended (status, S3 error code, bytes in and out,
// duration). It never carries a signature, a secret or a query string: the query of a
// presigned URL is its signature.

// Authentication kinds of the access log.
const (
	authV4Header  = "v4-header"
	authV4Query   = "v4-query"
	authV2Header  = "v2-header"
	authV2Query   = "v2-query"
	authPostV4    = "post-v4"
	authPostV2    = "post-v2"
	authAnonymous = "anonymous"
)

// RequestObserver learns how each request ended, as the access log says it: its S3 operation
// and its status. It is how the node's request metrics are counted (cmd/presign counts them in
// Prometheus) without this package depending on a metrics library.
type RequestObserver interface {
	// ObserveRequest is called once per request, after its answer. op is the S3 operation
	// ("GetObject", "PreflightRequest", "PostObject"...; a bounded set, never a bucket or a
	// key), or "" for a request refused before it named one (an invalid bucket name). status
	// is the status answered, or 499 when the client went away before the answer was whole.
	ObserveRequest(op string, status int)
}

// accessLogLevel is the level of the request lines, and whether there are any.
func (s *Server) accessLogLevel(ctx context.Context) (slog.Level, bool) {
	if s.cfg.AccessLog {
		return slog.LevelInfo, true
	}
	return slog.LevelDebug, s.log.Enabled(ctx, slog.LevelDebug)
}

// accessRecorder counts what a handler writes and remembers the status. It passes ReadFrom and
// Unwrap through, so that copies to the connection keep their fast path and
// http.ResponseController still reaches the connection.
type accessRecorder struct {
	http.ResponseWriter
	status int
	out    int64
}

func (a *accessRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessRecorder) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := a.ResponseWriter.Write(b)
	a.out += int64(n)
	return n, err
}

// ReadFrom lets io.Copy hand the copy to the connection (sendfile from an object's file).
func (a *accessRecorder) ReadFrom(r io.Reader) (int64, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	n, err := io.Copy(a.ResponseWriter, r)
	a.out += n
	return n, err
}

func (a *accessRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// countingBody counts the request body bytes a handler read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// finalStatus is the status the request ended with: 200 for a handler that wrote nothing.
func (a *accessRecorder) finalStatus() int {
	if a.status == 0 {
		return http.StatusOK
	}
	return a.status
}

// logAccess writes the request's line.
func (s *Server) logAccess(ctx context.Context, level slog.Level, r *http.Request, req *request, rec *accessRecorder, in *countingBody, start time.Time) {
	status := rec.finalStatus()
	auth := req.authKind
	if auth == "" {
		auth = authAnonymous
	}
	var bytesIn int64
	if in != nil {
		bytesIn = in.n
	}
	s.log.LogAttrs(ctx, level, "request",
		slog.String("request_id", req.id),
		slog.String("method", r.Method),
		slog.String("bucket", req.bucket),
		slog.String("key", req.key),
		slog.String("op", req.op),
		slog.Int("status", status),
		slog.String("code", req.errCode),
		slog.Int64("bytes_in", bytesIn),
		slog.Int64("bytes_out", rec.out),
		slog.Duration("duration", s.now().Sub(start)),
		slog.String("auth", auth),
		slog.String("access_key", req.accessKey),
		slog.String("remote", r.RemoteAddr),
		slog.String("user_agent", r.UserAgent()),
	)
}
