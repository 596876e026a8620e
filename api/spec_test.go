package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// specRouter finds a request's operation in api/openapi.json, loaded
// once.
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host: the test servers'
	return legacy.NewRouter(doc)
})

// checkSpec fails the test unless the answer to req is one the document
// describes: a status it lists for the operation (or its default), and a
// body valid against that response's schema.
func checkSpec(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	router, err := specRouter()
	if err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return // a route the document leaves out fails TestOpenAPIMatchesRoutes
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s answered %d, not as api/openapi.json says: %v\n%.500s", req.Method, route.Path, resp.StatusCode, err, body)
	}
}
