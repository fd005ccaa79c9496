package control_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"presign/control"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// spec loads and validates the OpenAPI document once.
func spec(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(control.OpenAPI())
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = legacy.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return specRouter
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	spec(t)
}

// checkAgainstSpec validates a request and its answer against the OpenAPI document: the route
// must be documented, an accepted request must be one it allows, and the status, content type
// and JSON body of the answer must match what it says.
func checkAgainstSpec(t testing.TB, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := spec(t).FindRoute(r)
	if err != nil {
		t.Errorf("%s %s is not in openapi.json: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if resp.StatusCode < 300 {
		// A request the service accepted must be one the document allows.
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s was accepted but openapi.json does not allow it: %v", req.Method, req.URL.Path, err)
		}
		in.Request.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s answered %d, not as openapi.json says: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, respBody)
	}
}
