package api

// The Graph-style routes: the Marketing API's custom-audience flow under
// /vNN.0/, so that an advertiser's Marketing API SDK works against linkd
// with only its base URL changed.
//
//	POST   /vNN.0/act_{tenant}/customaudiences   create (subtype CUSTOM)
//	GET    /vNN.0/{id}?fields=...                read, size and status
//	DELETE /vNN.0/{id}                           delete
//	POST   /vNN.0/{id}/users                     add a batch
//	DELETE /vNN.0/{id}/users                     remove a batch
//	POST   /vNN.0/{id}/usersreplace              replace, batch by batch
//
// The ad account is the key's tenant: act_ followed by the tenant's name.
// Every answer under /vNN.0/, errors included, has the Graph shape; the
// README's "Marketing API SDKs" lists the fields and the error codes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/policies"
)

// isGraph tells whether a request is on the Graph-style paths: its first
// path segment is a Graph version (v21.0).
func isGraph(c echo.Context) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(c.Request().URL.Path, "/"), "/")
	return graphVersion.MatchString(first)
}

// The customer_file_source values of the Marketing API.
var fileSources = []string{"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}

// graphCreateFields are what a create takes: the Marketing API's fields
// for a customer-list audience, linkd's purpose, and what the SDKs repeat
// (the account's id, the token, the fields to answer).
var graphCreateFields = []string{"name", "subtype", "customer_file_source", "description", "purpose", "id", "access_token", "fields"}

// graphParams reads a Graph request's parameters, from a JSON object or
// form fields, as JSON values: a form field holding JSON is that JSON, any
// other form field a string.
func graphParams(c echo.Context) (map[string]json.RawMessage, error) {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch mt {
	case echo.MIMEApplicationJSON, "":
		var m map[string]json.RawMessage
		if err := decodeJSON(c, &m); err != nil {
			return nil, err
		}
		return m, nil
	case echo.MIMEApplicationForm, echo.MIMEMultipartForm:
		if err := r.ParseMultipartForm(maxBody); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge)
			}
			return nil, malformed("the form cannot be read", nil)
		}
		m := map[string]json.RawMessage{}
		for k, vs := range r.PostForm {
			if strings.ContainsRune(vs[0], 0) || !utf8.ValidString(vs[0]) {
				return nil, badRequest(quoteField(k)+": contains a NUL character or bytes that are not UTF-8", map[string]any{"field": quoteField(k)})
			}
			v := strings.TrimSpace(vs[0])
			if json.Valid([]byte(v)) && strings.HasPrefix(v, `"`) {
				m[k] = json.RawMessage(v)
				continue
			}
			b, _ := json.Marshal(vs[0])
			m[k] = b
		}
		return m, nil
	}
	return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType)
}

// graphString reads the string parameter field of m ("" when absent).
func graphString(m map[string]json.RawMessage, field string) (string, error) {
	raw, ok := m[field]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest(field+": want a string", map[string]any{"field": field})
	}
	if strings.ContainsRune(s, 0) {
		return "", badRequest(field+": contains a NUL character, which no field may", map[string]any{"field": field})
	}
	return s, nil
}

type graphCreate struct {
	createAudienceRequest
	FileSource string
}

// prepareGraphCreate reads a Graph create: a customer-list audience
// (subtype CUSTOM) with its customer_file_source; the purpose, linkd's
// own, is ads unless said.
func (s *Server) prepareGraphCreate(c echo.Context, q *policies.Request) error {
	account := c.Param("id")
	m, err := graphParams(c)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(graphCreateFields, k) {
			return badRequest(fmt.Sprintf("%s: not a parameter of a custom audience here; linkd takes name, subtype (CUSTOM), customer_file_source, description and purpose",
				quoteField(k)), map[string]any{"field": quoteField(k)})
		}
	}
	var req graphCreate
	vals := map[string]*string{"name": &req.Name, "subtype": new(string), "customer_file_source": &req.FileSource,
		"description": &req.Description, "purpose": &req.Purpose, "id": new(string)}
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		if *vals[k], err = graphString(m, k); err != nil {
			return err
		}
	}
	if id := *vals["id"]; id != "" && id != account {
		return badRequest("id: the parameters name another ad account than the path", map[string]any{"field": "id"})
	}
	switch st := *vals["subtype"]; {
	case st == "":
		return badRequest("subtype: required; linkd makes customer-list audiences: CUSTOM", map[string]any{"field": "subtype"})
	case st != "CUSTOM":
		return badRequest(fmt.Sprintf("subtype: linkd makes customer-list audiences only (CUSTOM), not %s", quoteField(st)), map[string]any{"field": "subtype"})
	}
	if !slices.Contains(fileSources, req.FileSource) {
		return badRequest("customer_file_source: required, one of "+strings.Join(fileSources, ", "), map[string]any{"field": "customer_file_source"})
	}
	if req.Purpose == "" {
		req.Purpose = "ads"
	}
	if err := checkCreate(&req.createAudienceRequest); err != nil {
		return err
	}
	q.Purpose = req.Purpose
	c.Set(createKey, req)
	return assignID("aud_")(s, c, q)
}

// quoteField is a parameter's name or value as an error may show it: as
// it is when it reads as a name, else only its length (it could be data).
func quoteField(s string) string {
	if fieldName.MatchString(s) {
		return s
	}
	return fmt.Sprintf("(a value of %d bytes)", len(s))
}

func (s *Server) createGraphAudience(c echo.Context, cl *caller) error {
	// The ad account is checked once the role is known to be allowed: a
	// role refused hears of the policy, not of the account.
	if account := c.Param("id"); account != "act_"+cl.key.Tenant {
		return newError(http.StatusNotFound, "not_found", fmt.Sprintf("no such ad account for this key: %s (its ad account is act_%s)",
			quoteField(account), cl.key.Tenant), map[string]any{"ad_account": "act_" + cl.key.Tenant})
	}
	req := c.Get(createKey).(graphCreate)
	a, err := s.newAudience(c, cl, req.createAudienceRequest, req.FileSource)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"id": a.ID})
}

// The fields a Graph read can ask for.
var graphFields = []string{"id", "name", "description", "subtype", "customer_file_source", "account_id", "time_created",
	"approximate_count_lower_bound", "approximate_count_upper_bound", "operation_status", "delivery_status", "purpose"}

// graphStatus is the Marketing API's {code, description} of an audience's
// operation_status and delivery_status.
type graphStatus struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// statusCodes maps a size answer's status to the Marketing API's
// operation_status and delivery_status codes: 200 normal, 410 nothing
// uploaded, 0 no status; delivery 200 ready, 300 too small, 400 not
// usable now.
func statusCodes(ans audience.SizeAnswer) (op, delivery graphStatus) {
	switch ans.Status {
	case audience.StatusReady, audience.StatusTooSmall:
		op = graphStatus{200, "Normal: the audience's size is released."}
		if ans.Stale {
			op.Description = "Normal: the size is the last release; the audience changed since, and the next release waits for the privacy budget to renew at " + ans.RenewsAt.Format(time.RFC3339) + "."
		}
		if ans.Status == audience.StatusReady {
			return op, graphStatus{200, "Ready: the audience can be used."}
		}
		return op, graphStatus{300, "Too small: the audience is below the minimum size that may be used or shown."}
	case audience.StatusEmpty:
		return graphStatus{410, "No upload: nothing has been uploaded to this audience."},
			graphStatus{300, "Too small: nothing has been uploaded to this audience."}
	}
	return graphStatus{0, "Status not available: the tenant's privacy budget for size releases is spent until " + ans.RenewsAt.Format(time.RFC3339) + "."},
		graphStatus{400, "Not usable now: the audience has no size release until the privacy budget renews."}
}

func (s *Server) getGraphAudience(c echo.Context, cl *caller) error {
	fields := []string{"id"}
	if f := c.QueryParam("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	sized := false
	for i, f := range fields {
		f = strings.TrimSpace(f)
		fields[i] = f
		if !slices.Contains(graphFields, f) {
			return badRequest(fmt.Sprintf("fields: no field %s on a custom audience; the fields are %s", quoteField(f), strings.Join(graphFields, ", ")),
				map[string]any{"field": "fields"})
		}
		sized = sized || strings.HasPrefix(f, "approximate_") || strings.HasSuffix(f, "_status")
	}
	a, err := s.Audiences.Audience(c.Request().Context(), cl.key.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	var ans audience.SizeAnswer
	if sized {
		if ans, err = s.audienceSize(c, cl, a); err != nil {
			return err
		}
	}
	out := map[string]any{}
	for _, f := range fields {
		switch f {
		case "name":
			out[f] = a.Name
		case "description":
			out[f] = a.Description
		case "subtype":
			out[f] = "CUSTOM"
		case "customer_file_source":
			if a.FileSource != "" {
				out[f] = a.FileSource
			}
		case "account_id":
			out[f] = a.Tenant
		case "time_created":
			out[f] = a.CreatedAt.Unix()
		case "purpose":
			out[f] = a.Purpose
		case "approximate_count_lower_bound":
			if ans.Status == audience.StatusReady {
				out[f] = ans.Lower
			}
		case "approximate_count_upper_bound":
			if ans.Status == audience.StatusReady {
				out[f] = ans.Upper
			}
		case "operation_status":
			out[f], _ = statusCodes(ans)
		case "delivery_status":
			_, out[f] = statusCodes(ans)
		}
	}
	out["id"] = a.ID // Graph answers always name the node
	return c.JSON(http.StatusOK, out)
}

func (s *Server) deleteGraphAudience(c echo.Context, cl *caller) error {
	if id := c.QueryParam("id"); id != "" && id != c.Param("id") {
		return badRequest("id: the parameters name another audience than the path", map[string]any{"field": "id"})
	}
	if err := s.Audiences.DeleteAudience(c.Request().Context(), cl.key.Tenant, c.Param("id")); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"success": true})
}

// graphError is an error in the Graph shape, which the Marketing API
// SDKs parse: a numeric code (and subcode), a type, and fbtrace_id, here
// the request id. linkd's own code and details are kept in error_data.
type graphError struct {
	Message     string         `json:"message"`
	Type        string         `json:"type"`
	Code        int            `json:"code"`
	Subcode     int            `json:"error_subcode,omitempty"`
	IsTransient bool           `json:"is_transient"`
	Data        map[string]any `json:"error_data"`
	TraceID     string         `json:"fbtrace_id"`
}

// Graph error codes, as the Marketing API uses them.
const (
	graphUnknown       = 1     // an unknown error
	graphUnavailable   = 2     // the service is down for a while
	graphInvalidParam  = 100   // invalid parameter
	graphBadToken      = 190   // invalid access token
	graphPermission    = 200   // permissions error
	graphUnknownPath   = 2500  // unknown path components
	graphAudienceLimit = 80003 // custom audience rate limit
	graphNoSuchObject  = 33    // subcode of 100: no such object, or not the caller's
)

// toGraph maps an answer's error to the Graph shape.
func toGraph(ae *Error, c echo.Context) graphError {
	g := graphError{Message: ae.Message, Type: "OAuthException", TraceID: requestID(c), Data: map[string]any{"code": ae.Code}}
	for k, v := range ae.Details {
		g.Data[k] = v
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		g.Code = graphBadToken
	case http.StatusForbidden:
		g.Code = graphPermission
	case http.StatusNotFound:
		if c.Path() == "" || ae.Code != "not_found" || strings.HasSuffix(ae.Message, "no such route") {
			g.Code = graphUnknownPath
			g.Message = "no such route: " + strconv.Quote(c.Request().Method+" "+graphPathShape(c))
		} else {
			g.Code, g.Subcode, g.Type = graphInvalidParam, graphNoSuchObject, "GraphMethodException"
		}
	case http.StatusMethodNotAllowed:
		g.Code, g.Type = graphInvalidParam, "GraphMethodException"
	case http.StatusTooManyRequests:
		g.Code, g.IsTransient = graphAudienceLimit, true
	case http.StatusServiceUnavailable:
		g.Code, g.IsTransient = graphUnavailable, true
	default:
		if ae.Status >= 500 {
			g.Code, g.IsTransient = graphUnknown, true
		} else {
			g.Code = graphInvalidParam
		}
	}
	return g
}

// graphPathShape is the request's path with its ids left out: a path can
// name anything, and an answer repeats only its shape.
func graphPathShape(c echo.Context) string {
	parts := strings.Split(strings.TrimPrefix(c.Request().URL.Path, "/"), "/")
	for i, p := range parts {
		if i > 0 && !fieldName.MatchString(p) {
			parts[i] = "{id}"
		}
		if i == 1 {
			parts[i] = "{id}"
		}
	}
	return "/" + strings.Join(parts, "/")
}
