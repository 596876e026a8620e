package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linkd/linkd/client"
)

// entry is an audit log entry as the API shows it.
type entry = client.AuditEntry

// auditFilter is the audit page's filters, from its URL. Days are UTC
// days: since the start of From, until the end of To.
type auditFilter struct {
	Action, Decision, Tenant, Actor, From, To, Before string
	Limit                                             int
}

var auditLimits = []int{100, 1000}

func (f auditFilter) link(set ...string) string {
	v := url.Values{}
	for k, x := range map[string]string{"action": f.Action, "decision": f.Decision, "tenant": f.Tenant, "actor": f.Actor,
		"from": f.From, "to": f.To, "before": f.Before} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if f.Limit != auditLimits[0] {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	for i := 0; i+1 < len(set); i += 2 {
		if set[i+1] == "" {
			v.Del(set[i])
		} else {
			v.Set(set[i], set[i+1])
		}
	}
	if len(v) == 0 {
		return "/console/audit"
	}
	return "/console/audit?" + v.Encode()
}

type auditView struct {
	Filter    auditFilter
	Items     []entry
	Limits    []int
	Decisions []string
	Next      string
	First     string
	CanWhy    bool
}

func (c *Console) auditLog(q *request) error {
	v := q.r.URL.Query()
	f := auditFilter{Action: v.Get("action"), Decision: v.Get("decision"), Tenant: v.Get("tenant"), Actor: v.Get("actor"),
		From: v.Get("from"), To: v.Get("to"), Before: v.Get("before"), Limit: auditLimits[0]}
	if strings.HasPrefix(f.Actor, "lk_") {
		// A key itself, not its id: it goes no further than this.
		return &apiError{Status: http.StatusUnprocessableEntity, Message: "key: that is an API key, a secret; filter by the key's id (key_…), as the Key column shows it. Revoke the key if others may have seen this page's address"}
	}
	if n, err := strconv.Atoi(v.Get("limit")); err == nil && slices.Contains(auditLimits, n) {
		f.Limit = n
	}
	qs := url.Values{"order": {"newest"}, "limit": {strconv.Itoa(f.Limit)}}
	for k, x := range map[string]string{"action": f.Action, "decision": f.Decision, "tenant": f.Tenant, "actor": f.Actor, "before": f.Before} {
		if x != "" {
			qs.Set(k, x)
		}
	}
	for _, d := range []struct {
		name, day string
		add       int
	}{{"since", f.From, 0}, {"until", f.To, 1}} {
		if d.day == "" {
			continue
		}
		t, err := time.Parse(time.DateOnly, d.day)
		if err != nil {
			return &apiError{Status: http.StatusUnprocessableEntity, Message: d.name + ": a day such as 2026-11-01"}
		}
		qs.Set(d.name, t.AddDate(0, 0, d.add).Format(time.RFC3339))
	}
	var p struct {
		Items []entry `json:"items"`
		Next  string  `json:"next"`
	}
	if err := q.call(http.MethodGet, "/v1/audit", qs, nil, &p); err != nil {
		return err
	}
	view := auditView{Filter: f, Items: p.Items, Limits: auditLimits, Decisions: []string{"allow", "deny", "allow_failed"},
		CanWhy: q.can("policy.explain")}
	if p.Next != "" {
		view.Next = f.link("before", p.Next)
	}
	if f.Before != "" {
		view.First = f.link("before", "")
	}
	return c.render(q, http.StatusOK, "audit", "Audit log", view)
}

// explanation is the API's answer to policy explain.
type explanation struct {
	Request  json.RawMessage `json:"request"`
	Decision struct {
		Allow      bool           `json:"allow"`
		Rules      []string       `json:"rules"`
		BundleHash string         `json:"bundle_hash"`
		Catalogue  map[string]any `json:"catalogue"`
	} `json:"decision"`
	Rules []struct {
		ID          string `json:"id"`
		Effect      string `json:"effect"`
		File        string `json:"file"`
		Line        int    `json:"line"`
		Enforcement string `json:"enforcement"`
	} `json:"rules"`
	Under    string `json:"under"`
	Recorded *entry `json:"recorded"`
	Note     string `json:"note"`
}

type whyView struct {
	E       explanation
	Request string // indented
	// Values are the catalogue values the decision used, by name.
	Values []kv
}

// why explains an audit entry: the deciding rules with file and line,
// the bundle, the request decided, as `linkd policy explain --audit`.
func (c *Console) why(q *request) error {
	seq, err := strconv.ParseInt(q.r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return &apiError{Status: http.StatusNotFound, Message: "no such audit entry"}
	}
	var e explanation
	if err := q.call(http.MethodPost, "/v1/policies/explain", nil, map[string]int64{"audit_seq": seq}, &e); err != nil {
		return err
	}
	v := whyView{E: e}
	var buf strings.Builder
	var req any
	if json.Unmarshal(e.Request, &req) == nil {
		b, _ := json.MarshalIndent(req, "", "  ")
		buf.Write(b)
	}
	v.Request = buf.String()
	for k, x := range e.Decision.Catalogue {
		v.Values = append(v.Values, kv{k, strings.Trim(jsonText(x), `"`)})
	}
	sort.Slice(v.Values, func(i, j int) bool { return v.Values[i].K < v.Values[j].K })
	return c.render(q, http.StatusOK, "why", "Why entry "+strconv.FormatInt(seq, 10), v)
}

// bundle is the API's view of the policy bundle.
type bundle struct {
	BundleHash string `json:"bundle_hash"`
	Rules      []struct {
		ID          string `json:"id"`
		Effect      string `json:"effect"`
		File        string `json:"file"`
		Line        int    `json:"line"`
		Enforcement string `json:"enforcement"`
		Text        string `json:"text"`
	} `json:"rules"`
	TestResults []struct {
		Name     string `json:"name"`
		File     string `json:"file"`
		Line     int    `json:"line"`
		Expect   string `json:"expect"`
		Decision string `json:"decision"`
		Pass     bool   `json:"pass"`
		Why      string `json:"why"`
	} `json:"test_results"`
	Catalogue struct {
		Regions  map[string][]string `json:"regions"`
		Purposes map[string]struct {
			Description string            `json:"description"`
			Data        []string          `json:"data"`
			LawfulBasis map[string]string `json:"lawful_basis"`
		} `json:"purposes"`
		Retention map[string]struct {
			Days int    `json:"days"`
			Why  string `json:"why"`
		} `json:"retention"`
		MinAudienceSize int64 `json:"min_audience_size"`
		SignalTypes     map[string]struct {
			Description   string             `json:"description"`
			MaxExpiryDays int                `json:"max_expiry_days"`
			MinConfidence map[string]float64 `json:"min_confidence"`
			OpenPerDay    int64              `json:"open_per_day"`
		} `json:"signal_types"`
		Limits      map[string]any    `json:"limits"`
		Enforcement map[string]string `json:"enforcement"`
	} `json:"catalogue"`
}

type policiesView struct {
	B       bundle
	Passed  int
	Failed  int
	Limits  []kv
	Regions []kv
}

type kv struct{ K, V string }

func (c *Console) policies(q *request) error {
	var b bundle
	if err := q.call(http.MethodGet, "/v1/policies", nil, nil, &b); err != nil {
		return err
	}
	v := policiesView{B: b}
	for _, r := range b.TestResults {
		if r.Pass {
			v.Passed++
		} else {
			v.Failed++
		}
	}
	for k, x := range b.Catalogue.Limits {
		v.Limits = append(v.Limits, kv{k, strings.TrimSpace(strings.Trim(jsonText(x), `"`))})
	}
	for k, x := range b.Catalogue.Regions {
		v.Regions = append(v.Regions, kv{k, strings.Join(x, ", ")})
	}
	sort.Slice(v.Limits, func(i, j int) bool { return v.Limits[i].K < v.Limits[j].K })
	sort.Slice(v.Regions, func(i, j int) bool { return v.Regions[i].K < v.Regions[j].K })
	return c.render(q, http.StatusOK, "policies", "Policies", v)
}

func jsonText(x any) string {
	b, _ := json.Marshal(x)
	return string(b)
}

type verificationView struct {
	Entries int64  `json:"entries"`
	Intact  bool   `json:"intact"`
	Problem string `json:"problem"`
	// Unavailable says why the server cannot verify, if it cannot.
	Unavailable string `json:"-"`
}

// verification walks the audit log's chain (a page of its own: it reads
// the whole log).
func (c *Console) verification(q *request) error {
	var v verificationView
	if err := q.call(http.MethodGet, "/v1/audit/verification", nil, nil, &v); err != nil {
		ae, ok := err.(*apiError)
		if !ok || ae.Status != http.StatusServiceUnavailable {
			return err
		}
		v.Unavailable = ae.text()
	}
	return c.render(q, http.StatusOK, "verification", "Audit chain", v)
}

type archived struct {
	Hash      string    `json:"hash"`
	FirstUsed time.Time `json:"first_used"`
	InForce   bool      `json:"in_force"`
}

type diffView struct {
	Bundles  []archived
	Old, New string
	Changes  []struct {
		Name     string          `json:"name"`
		File     string          `json:"file"`
		Line     int             `json:"line"`
		Request  json.RawMessage `json:"request"`
		Old, New struct {
			Allow bool     `json:"allow"`
			Rules []string `json:"rules"`
		}
	}
	Compared bool
	// Single: only one bundle has run here.
	Single bool
}

// bundles lists the bundles this party has run, and compares two of
// them: the test requests whose decision changes.
func (c *Console) bundles(q *request) error {
	var list struct {
		Items []archived `json:"items"`
	}
	if err := q.call(http.MethodGet, "/v1/policies/bundles", nil, nil, &list); err != nil {
		return err
	}
	v := diffView{Bundles: list.Items, Old: q.r.URL.Query().Get("old"), New: q.r.URL.Query().Get("new"), Single: len(list.Items) < 2}
	if v.Old == "" && len(v.Bundles) > 1 {
		v.Old = v.Bundles[1].Hash
	}
	if v.New == "" && len(v.Bundles) > 0 {
		v.New = v.Bundles[0].Hash
	}
	if q.r.URL.Query().Has("old") {
		var d struct {
			Changes json.RawMessage `json:"changes"`
		}
		if err := q.call(http.MethodGet, "/v1/policies/diff", url.Values{"old": {v.Old}, "new": {v.New}}, nil, &d); err != nil {
			return err
		}
		if err := json.Unmarshal(d.Changes, &v.Changes); err != nil {
			return err
		}
		v.Compared = true
	}
	return c.render(q, http.StatusOK, "bundles", "Policy bundles run here", v)
}
