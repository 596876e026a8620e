package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/linkd/linkd/api"
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

// TestOpenAPIResponsesRequire: every object a response holds says which
// of its fields are always there, so that generated clients need not
// treat each as optional; the spec checks of every test then hold the
// answers to it.
func TestOpenAPIResponsesRequire(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.SchemaRef)
	walk = func(where string, ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && len(s.Required) == 0 {
			t.Errorf("%s: an object of a response with no required field", where)
		}
		for name, p := range s.Properties {
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Items)
		for _, o := range slices.Concat(s.OneOf, s.AnyOf, s.AllOf) {
			walk(where, o)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				if r.Value == nil {
					continue
				}
				for ct, mt := range r.Value.Content {
					walk(fmt.Sprintf("%s %s %s %s", method, path, status, ct), mt.Schema)
				}
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("walked %d schemas: the walk misses the responses", len(seen))
	}
}
