package s3backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"presign/storage"
)

// markUnavailable is the outermost step of every call to the service: when the call failed
// because the service could not be reached or could not serve (after the SDK's retries), its
// error also wraps storage.ErrUnavailable, which the node answers with 503. Doing it here, once,
// covers every call the backend makes, whatever its caller adds to the error.
func markUnavailable(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("presignMarkUnavailable",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil && ctx.Err() == nil && unavailable(err) {
				err = fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
			}
			return out, md, err
		}), middleware.Before)
}

// unavailable reports an error meaning that the service is down, unreachable, stalled or
// overloaded, as opposed to an answer about the request.
func unavailable(err error) bool {
	var send *smithyhttp.RequestSendError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.As(err, &send), errors.As(err, &ne):
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	switch httpStatus(err) {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return apiCode(err) == "SlowDown"
}
