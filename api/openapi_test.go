package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var paramRE = regexp.MustCompile(`\{([a-z_]+)\}`)

// TestOpenAPIMatchesRoutes fails when a route is missing from the served
// OpenAPI document, or the document lists a route the server does not
// have.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	st, b := f.do(t, "GET", "/v1/openapi.json", "", "", "")
	if st != http.StatusOK {
		t.Fatalf("openapi.json: %d", st)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			// OpenAPI's {param} is the router's :param.
			documented = append(documented, strings.ToUpper(method)+" "+paramRE.ReplaceAllString(path, ":$1"))
		}
	}
	served := f.api.Routes()
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("documented:\n%s\n\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
	// And every served route answers something other than 404/405.
	for _, r := range served {
		method, path, _ := strings.Cut(r, " ")
		path = strings.Replace(path, ":version", "v21.0", 1)
		if st, _ := f.do(t, method, path, "", "", ""); st == http.StatusNotFound || st == http.StatusMethodNotAllowed {
			t.Errorf("%s answers %d", r, st)
		}
	}
}

// TestOpenAPIValid: the document passes kin-openapi's validation of the
// OpenAPI 3.0 specification (schemas, references, parameters, examples
// against their schemas), and every operation has a unique operationId.
func TestOpenAPIValid(t *testing.T) {
	f := newFixture(t)
	_, b := f.do(t, "GET", "/v1/openapi.json", "", "", "")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("the document does not load: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch prev, dup := ids[op.OperationID]; {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case dup:
				t.Errorf("%s and %s share the operationId %s", where, prev, op.OperationID)
			}
			ids[op.OperationID] = where
		}
	}
}
