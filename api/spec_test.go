package api_test

import (
	"net/http"
	"testing"

	"github.com/linkd/linkd/internal/spectest"
)

// checkSpec fails the test unless the answer to req is one the document
// describes.
func checkSpec(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if err := spectest.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Error(err)
	}
}
