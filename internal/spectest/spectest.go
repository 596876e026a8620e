// Package spectest holds linkd's HTTP answers to its OpenAPI document
// (api/openapi.json) in tests: Check validates one answer through
// kin-openapi's router and response validation, and Transport checks
// every answer a test's HTTP client receives.
package spectest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/linkd/linkd/api"
)

var router = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // any host: the tests' servers
	return legacy.NewRouter(doc)
})

// Check says how the answer (status, header, body) to req differs from
// what the document describes for its operation: a status it does not
// list (nor a default), or a body its schema refuses. A request to a
// route the document does not have is not checked.
func Check(req *http.Request, status int, header http.Header, body []byte) error {
	r, err := router()
	if err != nil {
		return fmt.Errorf("spectest: the OpenAPI document: %w", err)
	}
	route, params, err := r.FindRoute(req)
	if err != nil {
		return nil
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, not as api/openapi.json says: %w\n%.500s", req.Method, route.Path, status, err, body)
	}
	return nil
}

// Transport is an http.RoundTripper that checks every answer it carries
// (Check) and keeps how they differ, for Mismatches.
type Transport struct {
	Next http.RoundTripper
	mu   sync.Mutex
	errs []error
}

// RoundTrip implements http.RoundTripper. An answer's body is read
// whole, then handed on as it was. Only linkd's answers are checked:
// those with its X-Request-Id (a test's own servers, such as a proxy
// that plays an outage, answer without).
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.Next.RoundTrip(req)
	if err != nil || resp.Header.Get("X-Request-Id") == "" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	if err := Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.mu.Lock()
		t.errs = append(t.errs, err)
		t.mu.Unlock()
	}
	return resp, nil
}

// Mismatches are the differences found so far.
func (t *Transport) Mismatches() []error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]error(nil), t.errs...)
}
