package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/policies"
)

type explanation struct {
	Request  policies.Request  `json:"request"`
	Decision policies.Decision `json:"decision"`
	Rules    []struct {
		ID, Effect, File string
		Line             int
	} `json:"rules"`
	Under    string `json:"under"`
	Recorded *struct {
		Seq        int64  `json:"seq"`
		Decision   string `json:"decision"`
		Rule       string `json:"rule"`
		BundleHash string `json:"bundle_hash"`
	} `json:"recorded"`
	Note string `json:"note"`
}

func (f *fixture) explain(t *testing.T, body string) explanation {
	t.Helper()
	st, b := f.do(t, "POST", "/v1/policies/explain", f.keys[access.RoleCompliance], "application/json", body)
	if st != 200 {
		t.Fatalf("explain %s: %d %s", body, st, b)
	}
	var e explanation
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestPolicyBundleRoute(t *testing.T) {
	f := newFixture(t)
	st, b := f.do(t, "GET", "/v1/policies", f.keys[access.RoleCompliance], "", "")
	var v struct {
		Hash  string          `json:"bundle_hash"`
		Rules []policies.Rule `json:"rules"`
		Files []policies.File `json:"files"`
	}
	if err := json.Unmarshal(b, &v); err != nil || st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	def := policies.Default()
	if v.Hash != def.Hash() || len(v.Rules) != len(def.Rules()) || len(v.Files) != len(def.Files()) {
		t.Fatalf("bundle view: hash %s, %d rules, %d files", v.Hash, len(v.Rules), len(v.Files))
	}
	var more struct {
		Rules []struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"rules"`
		Tests       int `json:"tests"`
		TestResults []struct {
			Name string `json:"name"`
			Pass bool   `json:"pass"`
		} `json:"test_results"`
		Catalogue struct {
			MinAudienceSize int64 `json:"min_audience_size"`
		} `json:"catalogue"`
	}
	if err := json.Unmarshal(b, &more); err != nil || more.Catalogue.MinAudienceSize != def.Catalogue.MinAudienceSize ||
		len(more.TestResults) != more.Tests || more.Tests == 0 {
		t.Fatalf("bundle view: %+v, %v", more, err)
	}
	for _, r := range more.Rules {
		if !strings.Contains(r.Text, `@id("`+r.ID+`")`) {
			t.Fatalf("rule %s's text: %q", r.ID, r.Text)
		}
	}
	for _, r := range more.TestResults {
		if !r.Pass {
			t.Fatalf("the default bundle's test %q fails", r.Name)
		}
	}
	st, b = f.do(t, "GET", "/v1/policies", f.keys[access.RoleAdvertiser], "", "")
	wantError(t, st, b, 403, "forbidden", "policy.read")
}

func TestExplainARequest(t *testing.T) {
	f := newFixture(t)
	e := f.explain(t, `{"request": {"role": "advertiser", "tenant": "acme", "action": "audience.extend",
		"resource": {"kind": "audience", "tenant": "acme"}, "purpose": "ads", "region": "DE",
		"direction": "social_to_messenger", "consent": false}}`)
	if e.Decision.Allow || len(e.Rules) != 1 || e.Rules[0].ID != "extend-needs-consent" || e.Rules[0].Effect != "forbid" ||
		e.Rules[0].File != "audiences.cedar" || e.Rules[0].Line == 0 || e.Under != "current" {
		t.Fatalf("explanation: %+v", e)
	}
	if e.Decision.Catalogue["lawful_basis"] != "consent" || e.Decision.Catalogue["region_group"] != "EU" {
		t.Fatalf("catalogue values: %v", e.Decision.Catalogue)
	}
	for _, tc := range []struct {
		body string
		code int
		msg  string
	}{
		{`{}`, 422, "either request or audit_seq"},
		{`{"audit_seq": 1, "request": {"role": "a", "action": "b"}}`, 422, "either request or audit_seq"},
		{`{"request": {"role": "a"}}`, 422, "a role and an action"},
		{`{"request": {"role": "a", "action": "b", "confidence": 2}}`, 422, "confidence"},
		{`{"request": {"role": "a", "action": "b", "colour": "blue"}}`, 422, "colour: not a field of the body"},
		{`{"request": {"role": "advertiser", "action": "audience.craete"}}`, 422, `request.action: unknown action "audience.craete"; did you mean "audience.create"?`},
		{`{"audit_seq": 99}`, 404, "no entry 99"},
	} {
		st, b := f.do(t, "POST", "/v1/policies/explain", f.keys[access.RoleCompliance], "application/json", tc.body)
		code := "invalid_request"
		if tc.code == 404 {
			code = "not_found"
		}
		wantError(t, st, b, tc.code, code, tc.msg)
	}
	st, b := f.do(t, "POST", "/v1/policies/explain", f.keys[access.RoleCompliance], "text/plain", `{}`)
	wantError(t, st, b, 415, "unsupported_media_type", "")
}

// Any audit entry is explained under the bundle it was decided under, even
// after the bundle in force has changed.
func TestExplainAnAuditEntry(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	old := f.bundle.Load()
	if err := f.st.SaveBundle(ctx, old.Hash(), old.Files()); err != nil {
		t.Fatal(err)
	}
	// A denial and an allowed mutation, both audited.
	f.do(t, "POST", "/v1/oprf/evaluate", f.keys[access.RoleTrustSafety], "application/json", `{"blinded":["AA=="]}`)
	es, _ := f.st.AuditEntries(ctx, audit.Filter{Limit: 10})
	if len(es) != 1 {
		t.Fatalf("audit: %+v", es)
	}
	e := f.explain(t, fmt.Sprintf(`{"audit_seq": %d}`, es[0].Seq))
	if e.Recorded == nil || e.Recorded.Decision != "deny" || e.Decision.Allow || !e.Decision.DefaultDeny ||
		e.Under != "recorded" || e.Request.Role != "trust_safety" || e.Request.Action != "oprf.evaluate" {
		t.Fatalf("explanation: %+v", e)
	}

	// A new bundle lets trust and safety use the OPRF; the old entry is
	// still explained as denied, under its own bundle.
	files := old.Files()
	for i := range files {
		if files[i].Name == "roles.cedar" {
			files[i].Content = strings.Replace(files[i].Content, `when { principal.role == "advertiser" };`,
				`when { principal.role == "advertiser" || principal.role == "trust_safety" };`, 1)
		}
	}
	nb, probs := policies.FromFiles(files)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	f.bundle.Store(nb)
	if e := f.explain(t, fmt.Sprintf(`{"audit_seq": %d}`, es[0].Seq)); e.Decision.Allow || e.Under != "recorded" ||
		e.Decision.BundleHash != old.Hash() {
		t.Fatalf("explained under the new bundle: %+v", e)
	}
	// Without the old bundle archived, the answer says so.
	f2 := newFixture(t)
	f2.do(t, "POST", "/v1/oprf/evaluate", f2.keys[access.RoleTrustSafety], "application/json", `{"blinded":["AA=="]}`)
	f2.bundle.Store(nb)
	if e := f2.explain(t, `{"audit_seq": 1}`); !e.Decision.Allow || e.Under != "current" || !strings.Contains(e.Note, "not archived") {
		t.Fatalf("explanation without the archive: %+v", e)
	}
}

// TestBundleHistoryAndDiff: compliance lists the bundles this party has
// run and compares two; the requests whose decision changes are named.
func TestBundleHistoryAndDiff(t *testing.T) {
	f := newFixture(t)
	comp := f.keys[access.RoleCompliance]
	old := policies.Default()
	if err := f.st.SaveBundle(context.Background(), old.Hash(), old.Files()); err != nil {
		t.Fatal(err)
	}
	// A new bundle with a larger minimum audience size, put in force.
	files := old.Files()
	for i := range files {
		if files[i].Name == "catalogue.yaml" {
			files[i].Content = strings.Replace(files[i].Content, "min_audience_size: 100", "min_audience_size: 5000", 1)
		}
	}
	next, probs := policies.FromFiles(files)
	if next == nil || next.Hash() == old.Hash() {
		t.Fatalf("the new bundle: %v", probs)
	}
	if err := f.st.SaveBundle(context.Background(), next.Hash(), next.Files()); err != nil {
		t.Fatal(err)
	}
	f.bundle.Store(next)
	st, b := f.do(t, "GET", "/v1/policies/bundles", comp, "", "")
	var list struct {
		Items []struct {
			Hash    string `json:"hash"`
			InForce bool   `json:"in_force"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &list); err != nil || st != 200 || len(list.Items) != 2 || list.Items[0].Hash != next.Hash() || !list.Items[0].InForce || list.Items[1].InForce {
		t.Fatalf("bundles: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/policies/diff?old="+old.Hash()+"&new="+next.Hash(), comp, "", "")
	var diff struct {
		Changes []struct {
			Name string
			Old  struct{ Allow bool }
			New  struct{ Allow bool }
		}
	}
	if err := json.Unmarshal(b, &diff); err != nil || st != 200 || len(diff.Changes) == 0 {
		t.Fatalf("diff: %d %s", st, b)
	}
	for _, c := range diff.Changes {
		if c.Old.Allow == c.New.Allow && c.Name == "" {
			t.Fatalf("a change that changes nothing: %+v", c)
		}
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/policies/diff?old="+old.Hash()+"&new="+old.Hash(), comp, "", "")
	if st != 200 || !strings.Contains(string(b), `"changes":[]`) {
		t.Fatalf("a bundle against itself: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/policies/diff?old=nope&new="+old.Hash(), comp, "", "")
	wantError(t, st, b, 404, "not_found", "old")
	f.tick()
	st, b = f.do(t, "GET", "/v1/policies/diff?new="+old.Hash(), comp, "", "")
	wantError(t, st, b, 422, "invalid_request", "old")
}
