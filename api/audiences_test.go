package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/phone"
)

// people imports n synthetic accounts (acct-000...), each consenting to
// ads, and returns their PHONE_SHA256 hashes.
func (f *fixture) people(t *testing.T, seed uint64, n int) []string {
	t.Helper()
	return f.peopleWith(t, seed, n, func(int) string { return "granted" })
}

// peopleWith is people with person i's ads consent consent(i): granted,
// withdrawn or "" (none given).
func (f *fixture) peopleWith(t *testing.T, seed uint64, n int, consent func(i int) string) []string {
	t.Helper()
	ps := synth.People(seed, n)
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,blocked_businesses,ads_consent\n")
	out := make([]string, n)
	for i, p := range ps {
		fmt.Fprintf(&b, "acct-%d-%04d,%s,%s,false,,%s\n", seed, i, p.E164, p.Country, consent(i))
		out[i] = p.Hash(phone.SchemaSHA256)
	}
	if _, err := f.dir.Import(context.Background(), strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) tick() { f.now = f.now.Add(time.Minute) }

type audienceBody struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	Status  string `json:"status"`
	Lower   *int64 `json:"approximate_count_lower_bound"`
	Upper   *int64 `json:"approximate_count_upper_bound"`
}

type uploadAnswer struct {
	AudienceID string `json:"audience_id"`
	SessionID  string `json:"session_id"`
	Received   int    `json:"num_received"`
	Invalid    int    `json:"num_invalid_entries"`
	Samples    []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"invalid_entry_samples"`
	Replayed bool `json:"replayed"`
}

func (f *fixture) create(t *testing.T, name string) string {
	t.Helper()
	st, b := f.do(t, "POST", "/v1/audiences", f.keys[access.RoleAdvertiser], "application/json", `{"name":"`+name+`","purpose":"ads"}`)
	var a audienceBody
	if err := json.Unmarshal(b, &a); err != nil || st != 201 || !strings.HasPrefix(a.ID, "aud_") || a.Name != name || a.Purpose != "ads" {
		t.Fatalf("create: %d %s", st, b)
	}
	return a.ID
}

func uploadJSON(data []string, session string, seq int, last bool) string {
	d, _ := json.Marshal(data)
	return fmt.Sprintf(`{"payload":{"schema":"PHONE_SHA256","data":%s},"session":{"session_id":%s,"batch_seq":%d,"last_batch_flag":%v,"estimated_num_total":%d}}`,
		d, session, seq, last, len(data))
}

func (f *fixture) audience(t *testing.T, id string) audienceBody {
	t.Helper()
	st, b := f.do(t, "GET", "/v1/audiences/"+id, f.keys[access.RoleAdvertiser], "", "")
	var a audienceBody
	if err := json.Unmarshal(b, &a); err != nil || st != 200 {
		t.Fatalf("get: %d %s", st, b)
	}
	return a
}

func TestAudienceLifecycle(t *testing.T) {
	f := newFixture(t)
	users := f.people(t, 1, 300)
	adv := f.keys[access.RoleAdvertiser]
	id := f.create(t, "Spring buyers")

	// 250 users, 40 numbers of nobody, one malformed entry.
	data := append(append(slices.Clone(users[:250]), f.otherHashes(t, 40)...), "oops")
	st, b := f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(data, "12345", 1, false))
	var up uploadAnswer
	if err := json.Unmarshal(b, &up); err != nil || st != 200 || up.AudienceID != id || up.SessionID != "12345" || up.Received != 291 ||
		up.Invalid != 1 || len(up.Samples) != 1 || up.Samples[0].Index != 290 || strings.Contains(string(b), "oops") {
		t.Fatalf("upload: %d %s", st, b)
	}
	// The same batch again: the same answer, nothing applied twice.
	st, b = f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(users[250:], "12345", 1, false))
	if err := json.Unmarshal(b, &up); err != nil || st != 200 || !up.Replayed || up.Received != 291 {
		t.Fatalf("replay: %d %s", st, b)
	}
	if st, m := f.do(t, "GET", "/metrics", f.keys[access.RoleAdmin], "", ""); st != 200 || strings.Contains(string(m), `kind="upload"`) {
		t.Fatalf("the metrics count matches of uploads: %d", st)
	}
	a := f.audience(t, id)
	if a.Status != "ready" || a.Lower == nil || *a.Lower > 250 || *a.Upper < 250 {
		t.Fatalf("size of 250: %+v", a)
	}
	// The size decision is audited with the deciding rule.
	es, _ := f.st.AuditEntries(context.Background(), audit.Filter{Action: "audience.size", Limit: 10})
	if len(es) != 1 || es[0].Decision != "allow" || es[0].Rule != "audience-size-above-minimum" {
		t.Fatalf("size audit: %+v", es)
	}

	// Remove 200 of them through the Graph-style path, as the Node SDK
	// does: DELETE with payload and session as JSON strings in the query.
	f.tick()
	d, _ := json.Marshal(users[:200])
	q := url.Values{"access_token": {adv}, "payload": {`{"schema":["PHONE_SHA256"],"data":` + string(d) + `}`},
		"session": {`{"session_id":777,"batch_seq":1,"last_batch_flag":true}`}}
	st, b = f.do(t, "DELETE", "/v21.0/"+id+"/users?"+q.Encode(), "", "", "")
	if st != 200 || !strings.Contains(string(b), `"num_received":200`) {
		t.Fatalf("graph delete: %d %s", st, b)
	}
	if a := f.audience(t, id); a.Status != "too_small" || a.Lower != nil || a.Upper != nil {
		t.Fatalf("size of 50: %+v", a)
	}
	// The session is complete.
	st, b = f.do(t, "DELETE", "/v21.0/"+id+"/users?"+q.Encode(), "", "", "")
	if st != 200 || !strings.Contains(string(b), `"replayed":true`) {
		t.Fatalf("graph delete replay: %d %s", st, b)
	}
	q.Set("session", `{"session_id":777,"batch_seq":2}`)
	st, b = f.do(t, "DELETE", "/v21.0/"+id+"/users?"+q.Encode(), "", "", "")
	wantGraphError(t, st, b, 409, 100, "session_complete", "new session_id")

	// Graph-style add: JSON body repeating the id, token in the query.
	f.tick()
	body := `{"id":"` + id + `","payload":{"schema":"PHONE_SHA256","data":` + string(d) + `},"session":{"session_id":"s-3","batch_seq":1}}`
	st, b = f.do(t, "POST", "/v19.0/"+id+"/users?access_token="+adv, "", "application/json", body)
	if st != 200 {
		t.Fatalf("graph add: %d %s", st, b)
	}
	// A form, with payload and session as JSON strings.
	form := url.Values{"payload": {`{"schema":"PHONE_SHA256","data":["` + users[299] + `"]}`}, "session": {`{"session_id":"s-4","batch_seq":1}`}}
	st, b = f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/x-www-form-urlencoded", form.Encode())
	if st != 200 || !strings.Contains(string(b), `"num_received":1`) {
		t.Fatalf("form upload: %d %s", st, b)
	}
	// A fresh release (the content changed): 251 with noise of scale 20
	// (epsilon 0.05), its 95% margin of 60, rounded outward.
	if a := f.audience(t, id); a.Status != "ready" || *a.Lower > 251+150 || *a.Upper < 251-150 || *a.Upper-*a.Lower > 200 {
		t.Fatalf("size of 251: %+v", a)
	}

	// The list, and deletion.
	f.tick()
	st, b = f.do(t, "GET", "/v1/audiences", adv, "", "")
	if st != 200 || !strings.Contains(string(b), `"id":"`+id+`"`) {
		t.Fatalf("list: %d %s", st, b)
	}
	if st, b = f.do(t, "DELETE", "/v1/audiences/"+id, adv, "", ""); st != 204 {
		t.Fatalf("delete: %d %s", st, b)
	}
	st, b = f.do(t, "GET", "/v1/audiences/"+id, adv, "", "")
	wantError(t, st, b, 404, "not_found", "no such audience of the tenant: "+id)
	// Creation and deletion are audited with the audience id.
	es, _ = f.st.AuditEntries(context.Background(), audit.Filter{Action: "audience.create", Limit: 10})
	if len(es) != 1 || !strings.Contains(es[0].Request, `"id":"`+id+`"`) || es[0].Rule != "advertiser-own-audiences" {
		t.Fatalf("create audit: %+v", es)
	}
}

func (f *fixture) otherHashes(t *testing.T, n int) []string {
	t.Helper()
	return synth.Hashes(synth.People(4242, n), phone.SchemaSHA256)
}

func TestAudienceRefusals(t *testing.T) {
	f := newFixture(t)
	adv := f.keys[access.RoleAdvertiser]
	st, b := f.do(t, "POST", "/v1/audiences", adv, "application/json", `{"name":"x","purpose":"profiling"}`)
	wantError(t, st, b, 403, "forbidden", "refused by the policy audience-purpose-in-catalogue (audiences.cedar:6): An audience is only for a purpose the catalogue lists")
	if !strings.Contains(string(b), "audience-purpose-in-catalogue") {
		t.Fatalf("the deciding rule is not named: %s", b)
	}
	st, b = f.do(t, "POST", "/v1/audiences", f.keys[access.RoleTrustSafety], "application/json", `{"name":"x","purpose":"ads"}`)
	wantError(t, st, b, 403, "forbidden", "")
	// A body that is not JSON is malformed (400); one that is, but is
	// refused, invalid (422).
	for _, tc := range []struct {
		body, msg string
		status    int
	}{
		{`{"purpose":"ads"}`, "name", 422},
		{`{"name":"x"}`, "purpose", 422},
		{`{"name":"x","purpose":"ads","n":1}`, "n: not a field of the body", 422},
		{`{"name":"x","purpose":"ads"} trailing`, "after its JSON", 400},
		{`{"name":"x",`, "cut short", 400},
	} {
		st, b = f.do(t, "POST", "/v1/audiences", adv, "application/json", tc.body)
		wantError(t, st, b, tc.status, map[int]string{400: "malformed_request", 422: "invalid_request"}[tc.status], tc.msg)
	}
	st, b = f.do(t, "POST", "/v1/audiences", adv, "text/csv", `x`)
	wantError(t, st, b, 415, "unsupported_media_type", "")

	f.tick()
	id := f.create(t, "mine")
	h := f.otherHashes(t, 2)
	for name, tc := range map[string]struct {
		path, ctype, body string
		status            int
		code, msg         string
	}{
		"bad graph version":  {"/vX/" + id + "/users", "application/json", uploadJSON(h, "1", 1, false), 404, "not_found", ""},
		"unknown schema":     {"/v1/audiences/" + id + "/users", "application/json", strings.Replace(uploadJSON(h, "1", 1, false), "PHONE_SHA256", "EMAIL_SHA256", 1), 422, "invalid_request", "payload.schema"},
		"no session":         {"/v1/audiences/" + id + "/users", "application/json", `{"payload":{"schema":"PHONE_SHA256","data":["a"]}}`, 422, "invalid_request", "session: required"},
		"batch_seq 0":        {"/v1/audiences/" + id + "/users", "application/json", uploadJSON(h, "1", 0, false), 422, "invalid_request", "batch_seq"},
		"unknown field":      {"/v1/audiences/" + id + "/users", "application/json", strings.Replace(uploadJSON(h, "1", 1, false), `"data"`, `"colour":1,"data"`, 1), 422, "invalid_request", "payload"},
		"another audience":   {"/v1/audiences/" + id + "/users", "application/json", `{"id":"aud_other",` + uploadJSON(h, "1", 1, false)[1:], 422, "invalid_request", "another audience"},
		"unknown audience":   {"/v1/audiences/aud_nope/users", "application/json", uploadJSON(h, "1", 1, false), 404, "not_found", ""},
		"wrong content type": {"/v1/audiences/" + id + "/users", "text/plain", uploadJSON(h, "1", 1, false), 415, "unsupported_media_type", ""},
		"unknown form field": {"/v1/audiences/" + id + "/users", "application/x-www-form-urlencoded", "payload=x&colour=1", 422, "invalid_request", "colour"},
	} {
		f.tick()
		st, b := f.do(t, "POST", tc.path, adv, tc.ctype, tc.body)
		if st != tc.status || !strings.Contains(string(b), tc.code) || !strings.Contains(string(b), tc.msg) {
			t.Errorf("%s: %d %s", name, st, b)
		}
	}
	big := make([]string, api.MaxBatch+1)
	for i := range big {
		big[i] = h[0]
	}
	st, b = f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(big, "1", 1, false))
	wantError(t, st, b, 422, "invalid_request", "at most 10000")
	// Nothing of the refused batches stuck: a first batch of session 1 is
	// still new.
	st, b = f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(h, "1", 1, false))
	if st != 200 || strings.Contains(string(b), "replayed") {
		t.Fatalf("%d %s", st, b)
	}
}

// Another tenant's audience does not exist for a key: 404, not 403, so
// its existence does not show.
func TestAudienceTenantIsolation(t *testing.T) {
	f := newFixture(t)
	id := f.create(t, "acme's")
	sec, k, _ := access.NewKey("globex", access.RoleAdvertiser, time.Now())
	_ = f.st.CreateAPIKey(context.Background(), k)
	for _, rq := range [][3]string{
		{"GET", "/v1/audiences/" + id, ""},
		{"DELETE", "/v1/audiences/" + id, ""},
		{"POST", "/v1/audiences/" + id + "/users", uploadJSON(f.otherHashes(t, 1), "1", 1, false)},
	} {
		st, b := f.do(t, rq[0], rq[1], sec, "application/json", rq[2])
		wantError(t, st, b, 404, "not_found", "")
	}
	st, b := f.do(t, "GET", "/v1/audiences", sec, "", "")
	if st != 200 || strings.Contains(string(b), id) {
		t.Fatalf("globex's list: %d %s", st, b)
	}
	if a := f.audience(t, id); a.ID != id {
		t.Fatal("acme's audience is gone")
	}
}

// Over the daily budget of uploaded entries: 429 with Retry-After, and the
// batch changes nothing.
func TestUploadBudget(t *testing.T) {
	f := newFixtureLimits(t, api.Limits{RequestsPerMinute: 100, EntriesPerDay: 250})
	users := f.people(t, 2, 300)
	adv := f.keys[access.RoleAdvertiser]
	id := f.create(t, "budget")
	if st, b := f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(users[:200], "1", 1, false)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	resp, b := f.doResp(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(users[200:], "1", 2, false))
	wantError(t, resp.StatusCode, b, 429, "rate_limited", "uploaded_entries")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if st, b := f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(users[200:250], "1", 2, false)); st != 200 ||
		strings.Contains(string(b), "replayed") {
		t.Fatalf("a batch refused by the budget was applied: %d %s", st, b)
	}
}

// usersreplace replaces the whole audience, as the big platforms' replace
// operation does: after the session's last batch only its matches remain.
func TestAudienceReplace(t *testing.T) {
	f := newFixture(t)
	users := f.people(t, 3, 300)
	adv := f.keys[access.RoleAdvertiser]
	id := f.create(t, "replaced")
	if st, b := f.do(t, "POST", "/v1/audiences/"+id+"/users", adv, "application/json", uploadJSON(users[:200], "1", 1, true)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	f.now = f.now.Add(time.Hour)
	if st, b := f.do(t, "POST", "/v1/audiences/"+id+"/usersreplace", adv, "application/json", uploadJSON(users[150:250], "77", 1, false)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	f.now = f.now.Add(time.Minute)
	if st, b := f.do(t, "POST", "/v21.0/"+id+"/usersreplace?access_token="+adv, "", "application/json", uploadJSON(users[250:], "77", 2, true)); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	m, err := f.st.Members(context.Background(), id)
	if err != nil || len(m) != 150 || m[0] != "acct-3-0150" || m[len(m)-1] != "acct-3-0299" {
		t.Fatalf("members after the replacement: %d (%v)", len(m), err)
	}
}
