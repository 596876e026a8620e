package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
)

type graphAudience struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Subtype     string `json:"subtype"`
	FileSource  string `json:"customer_file_source"`
	AccountID   string `json:"account_id"`
	Lower       *int64 `json:"approximate_count_lower_bound"`
	Upper       *int64 `json:"approximate_count_upper_bound"`
	Operation   *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"operation_status"`
	Delivery *struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"delivery_status"`
}

func (f *fixture) graphGet(t *testing.T, id, fields string) graphAudience {
	t.Helper()
	st, b := f.do(t, "GET", "/v24.0/"+id+"?"+url.Values{"fields": {fields}, "access_token": {f.keys[access.RoleAdvertiser]}}.Encode(), "", "", "")
	var a graphAudience
	if err := json.Unmarshal(b, &a); err != nil || st != 200 || a.ID != id {
		t.Fatalf("graph get %s: %d %s", id, st, b)
	}
	return a
}

// TestGraphAudienceFlow: the Marketing API's create, read with fields,
// upload and delete, on the Graph-style paths, with the token in the
// query as the SDKs send it.
func TestGraphAudienceFlow(t *testing.T) {
	f := newFixture(t)
	users := f.people(t, 1, 300)
	adv := f.keys[access.RoleAdvertiser]
	tok := "?access_token=" + url.QueryEscape(adv)

	st, b := f.do(t, "POST", "/v24.0/act_acme/customaudiences"+tok, "", "application/json",
		`{"name":"Spring buyers","subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY","description":"bought in spring","id":"act_acme"}`)
	var created struct{ ID string }
	if err := json.Unmarshal(b, &created); err != nil || st != 200 || !strings.HasPrefix(created.ID, "aud_") {
		t.Fatalf("create: %d %s", st, b)
	}
	id := created.ID
	a := f.graphGet(t, id, "name,description,subtype,customer_file_source,account_id,operation_status,delivery_status,approximate_count_lower_bound")
	if a.Name != "Spring buyers" || a.Description != "bought in spring" || a.Subtype != "CUSTOM" || a.FileSource != "USER_PROVIDED_ONLY" ||
		a.AccountID != "acme" || a.Operation.Code != 410 || a.Delivery.Code != 300 || a.Lower != nil {
		t.Fatalf("empty audience: %+v", a)
	}
	// The same audience on the /v1 routes, with its description.
	if st, b := f.do(t, "GET", "/v1/audiences/"+id, adv, "", ""); st != 200 || !strings.Contains(string(b), `"description":"bought in spring"`) || !strings.Contains(string(b), `"purpose":"ads"`) {
		t.Fatalf("v1 get: %d %s", st, b)
	}
	// Without fields, the id alone.
	if st, b := f.do(t, "GET", "/v24.0/"+id+tok, "", "", ""); st != 200 || string(b) != `{"id":"`+id+`"}`+"\n" {
		t.Fatalf("get without fields: %d %s", st, b)
	}

	f.tick()
	body := `{"id":"` + id + `",` + strings.Replace(uploadJSON(users, `"s1"`, 1, true), `"data":`, `"data_source":{"type":"FILE_IMPORTED","sub_type":"HASHES"},"data":`, 1)[1:]
	if st, b := f.do(t, "POST", "/v24.0/"+id+"/users"+tok, "", "application/json", body); st != 200 || !strings.Contains(string(b), `"num_received":300`) {
		t.Fatalf("upload: %d %s", st, b)
	}
	f.tick()
	a = f.graphGet(t, id, "approximate_count_lower_bound,approximate_count_upper_bound,operation_status,delivery_status")
	if a.Operation.Code != 200 || a.Delivery.Code != 200 || a.Lower == nil || a.Upper == nil || *a.Lower > 300 || *a.Upper < 300 {
		t.Fatalf("ready audience: %+v", a)
	}
	// The read released a size: audited as the /v1 read's is.
	page, err := f.st.AuditEntries(t.Context(), audit.Filter{Action: "audience.size", Newest: true, Limit: 10})
	if err != nil || len(page) == 0 || page[0].Decision != "allow" {
		t.Fatalf("audience.size audit: %+v, %v", page, err)
	}

	st, b = f.do(t, "DELETE", "/v24.0/"+id+tok+"&id="+id, "", "", "")
	if st != 200 || string(b) != `{"success":true}`+"\n" {
		t.Fatalf("delete: %d %s", st, b)
	}
	st, b = f.do(t, "GET", "/v24.0/"+id+tok+"&fields=name", "", "", "")
	e := wantGraphError(t, st, b, 404, 100, "not_found", "no such audience")
	if e.Error.Subcode != 33 || e.Error.Type != "GraphMethodException" {
		t.Fatalf("deleted audience: %s", b)
	}
}

// TestGraphCreateForm: the create as the Marketing API's curl examples
// send it, form fields holding JSON strings.
func TestGraphCreateForm(t *testing.T) {
	f := newFixture(t)
	form := url.Values{"name": {`"Form audience"`}, "subtype": {`"CUSTOM"`}, "customer_file_source": {"PARTNER_PROVIDED_ONLY"},
		"access_token": {f.keys[access.RoleAdvertiser]}}
	st, b := f.do(t, "POST", "/v21.0/act_acme/customaudiences", "", "application/x-www-form-urlencoded", form.Encode())
	var created struct{ ID string }
	if err := json.Unmarshal(b, &created); err != nil || st != 200 {
		t.Fatalf("create: %d %s", st, b)
	}
	if a := f.graphGet(t, created.ID, "name,customer_file_source"); a.Name != "Form audience" || a.FileSource != "PARTNER_PROVIDED_ONLY" {
		t.Fatalf("form audience: %+v", a)
	}
}

// TestGraphErrors: every refusal on the Graph paths is in the Graph shape
// with the Marketing API's numeric codes, names what is wrong, and
// creates nothing.
func TestGraphErrors(t *testing.T) {
	f := newFixture(t)
	adv := f.keys[access.RoleAdvertiser]
	tok := "?access_token=" + url.QueryEscape(adv)
	id := f.create(t, "Existing")
	h := f.otherHashes(t, 3)
	create := func(fields string) string {
		return `{"name":"n","subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY"` + fields + `}`
	}
	for name, tc := range map[string]struct {
		method, path, ctype, body string
		status, graph             int
		code, msg                 string
	}{
		"another ad account":    {"POST", "/v24.0/act_globex/customaudiences" + tok, "application/json", create(""), 404, 100, "not_found", "its ad account is act_acme"},
		"no subtype":            {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", `{"name":"n","customer_file_source":"USER_PROVIDED_ONLY"}`, 422, 100, "invalid_request", "subtype: required"},
		"lookalike":             {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", strings.Replace(create(""), "CUSTOM", "LOOKALIKE", 1), 422, 100, "invalid_request", "not LOOKALIKE"},
		"no file source":        {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", `{"name":"n","subtype":"CUSTOM"}`, 422, 100, "invalid_request", "customer_file_source: required"},
		"unknown parameter":     {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", create(`,"retention_days":30`), 422, 100, "invalid_request", "retention_days: not a parameter"},
		"id not the path's":     {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", create(`,"id":"act_other"`), 422, 100, "invalid_request", "another ad account"},
		"not JSON":              {"POST", "/v24.0/act_acme/customaudiences" + tok, "application/json", `{"name":`, 400, 100, "malformed_request", "cut short"},
		"unknown read field":    {"GET", "/v24.0/" + id + tok + "&fields=name,colour", "", "", 422, 100, "invalid_request", "no field colour"},
		"no key":                {"GET", "/v24.0/" + id + "?fields=name", "", "", 401, 190, "unauthorized", "API key"},
		"bad key":               {"GET", "/v24.0/" + id + "?access_token=nope", "", "", 401, 190, "unauthorized", "not valid"},
		"unknown route":         {"GET", "/v24.0/" + id + "/adsets" + tok, "", "", 404, 2500, "not_found", "no such route"},
		"app_ids":               {"POST", "/v24.0/" + id + "/users" + tok, "application/json", strings.Replace(uploadJSON(h, "1", 1, false), `"data":`, `"app_ids":[1234],"data":`, 1), 422, 100, "invalid_request", "payload.app_ids: linkd matches phone numbers"},
		"page_ids":              {"POST", "/v24.0/" + id + "/users" + tok, "application/json", strings.Replace(uploadJSON(h, "1", 1, false), `"data":`, `"page_ids":[1],"data":`, 1), 422, 100, "invalid_request", "payload.page_ids"},
		"unknown payload field": {"POST", "/v24.0/" + id + "/users" + tok, "application/json", strings.Replace(uploadJSON(h, "1", 1, false), `"data":`, `"colour":1,"data":`, 1), 422, 100, "invalid_request", "payload.colour: not a field"},
		"bad data_source":       {"POST", "/v24.0/" + id + "/users" + tok, "application/json", strings.Replace(uploadJSON(h, "1", 1, false), `"data":`, `"data_source":"file","data":`, 1), 422, 100, "invalid_request", "payload.data_source"},
	} {
		f.tick()
		st, b := f.do(t, tc.method, tc.path, "", tc.ctype, tc.body)
		t.Run(name, func(t *testing.T) { wantGraphError(t, st, b, tc.status, tc.graph, tc.code, tc.msg) })
	}
	// A role the policies refuse: code 200, naming the deciding rule.
	st, b := f.do(t, "POST", "/v24.0/act_acme/customaudiences?access_token="+url.QueryEscape(f.keys[access.RoleTrustSafety]), "", "application/json", create(""))
	if e := wantGraphError(t, st, b, 403, 200, "forbidden", "refused by the policy"); e.Error.Data["rule"] == nil {
		t.Fatalf("refusal without its rule: %s", b)
	}
	// Nothing was created but the one audience.
	if st, b := f.do(t, "GET", "/v1/audiences", adv, "", ""); st != 200 || strings.Count(string(b), `"id"`) != 1 {
		t.Fatalf("audiences after refusals: %s", b)
	}
	// What could be a number or a hash is never repeated in an answer.
	hash := strings.Repeat("a6", 32)
	for _, path := range []string{"/v24.0/" + id + tok + "&fields=" + hash, "/v24.0/" + hash + tok, "/v24.0/+15551234567" + tok, "/v24.0/" + id + "/" + hash + tok} {
		st, b := f.do(t, "GET", path, "", "", "")
		if st < 400 || strings.Contains(string(b), hash) || strings.Contains(string(b), "15551234567") {
			t.Errorf("GET %s: %d %s", path, st, b)
		}
	}
	// A first segment that is no Graph version is no route, before any key.
	st, b = f.do(t, "GET", "/v1/"+id, "", "", "")
	wantError(t, st, b, 404, "not_found", "no such route")
}
