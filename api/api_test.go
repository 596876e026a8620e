package api_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
	"github.com/linkd/linkd/subject"
)

type fixture struct {
	dir     *directory.Importer
	api     *api.Server
	srv     *httptest.Server
	st      *store.Store
	ev      *oprf.Server
	keys    map[access.Role]string
	ready   error
	revoked string
	now     time.Time
	bundle  atomic.Pointer[policies.Bundle]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureLimits(t, api.Limits{RequestsPerMinute: 20, OPRFPerDay: 5})
}

func newFixtureLimits(t *testing.T, limits api.Limits) *fixture {
	t.Helper()
	f := &fixture{st: pgtest.Store(t), keys: map[access.Role]string{}, now: time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC)}
	f.bundle.Store(policies.Default())
	var err error
	f.ev, err = oprf.NewServer(bytes.Repeat([]byte{7}, 32), []byte("test"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range access.Roles {
		sec, k, err := access.NewKey("acme", r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.CreateAPIKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		f.keys[r] = sec
	}
	sec, k, _ := access.NewKey("acme", access.RoleAdvertiser, time.Now())
	_ = f.st.CreateAPIKey(context.Background(), k)
	_ = f.st.RevokeAPIKey(context.Background(), k.ID, time.Now())
	f.revoked = sec
	ring, err := keys.NewRing("social", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(ring, 1)
	if err != nil {
		t.Fatal(err)
	}
	f.dir = &directory.Importer{Store: f.st, Deriver: d, Now: func() time.Time { return f.now }}
	aud := &audience.Service{Store: f.st, Index: d.IndexKey(), Epoch: d.Epoch, Budget: f.st,
		Noise: audience.NewNoiseFrom(rand.NewChaCha8([32]byte{9}))}
	s := api.New(api.Config{Party: "social", Keys: f.st, Audit: f.st, AuditChain: storetest.Chain(t, 1), OPRF: f.ev, Epoch: 1, Audiences: aud, Signals: f.st,
		Ready: func(context.Context) error { return f.ready },
		Usage: f.st, Limits: limits,
		Now:      func() time.Time { return f.now },
		Policies: f.bundle.Load, Archive: f.st})
	f.api = s
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

type errBody struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func (f *fixture) do(t *testing.T, method, path, key, ctype string, body string) (int, []byte) {
	t.Helper()
	resp, b := f.doResp(t, method, path, key, ctype, body)
	return resp.StatusCode, b
}

// doResp sends one request and returns the response (body read and
// closed) with its body.
func (f *fixture) doResp(t *testing.T, method, path, key, ctype string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	checkSpec(t, req, resp, b)
	return resp, b
}

func wantError(t *testing.T, status int, b []byte, wantStatus int, code, msg string) {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(b, &e); err != nil || status != wantStatus || e.Error.Code != code || !strings.Contains(e.Error.Message, msg) {
		t.Fatalf("got %d %s, want %d %s %q", status, b, wantStatus, code, msg)
	}
}

func TestOperationalRoutes(t *testing.T) {
	f := newFixture(t)
	if st, b := f.do(t, "GET", "/healthz", "", "", ""); st != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Fatalf("healthz %d %s", st, b)
	}
	if st, _ := f.do(t, "GET", "/readyz", "", "", ""); st != 200 {
		t.Fatalf("readyz %d", st)
	}
	f.ready = errors.New("database down")
	st, b := f.do(t, "GET", "/readyz", "", "", "")
	wantError(t, st, b, 503, "not_ready", "not ready")
	if strings.Contains(string(b), "database down") {
		t.Fatal("readyz leaks its cause")
	}
	// The metrics are an operator's: no key, or another role's, is refused.
	st, b = f.do(t, "GET", "/metrics", "", "", "")
	wantError(t, st, b, 401, "unauthorized", "API key")
	st, b = f.do(t, "GET", "/metrics", f.keys[access.RoleAdvertiser], "", "")
	wantError(t, st, b, 403, "forbidden", "")
	st, b = f.do(t, "GET", "/metrics", f.keys[access.RoleAdmin], "", "")
	if st != 200 || !strings.Contains(string(b), `linkd_http_requests_total{method="GET",route="/readyz",status="503"} 1`) {
		t.Fatalf("metrics %d %s", st, b)
	}
	// The metrics address's handler needs no key.
	rec := httptest.NewRecorder()
	f.api.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `route="/readyz",status="503"`) {
		t.Fatalf("metrics handler %d", rec.Code)
	}
	st, b = f.do(t, "GET", "/v1/nope", "", "", "")
	wantError(t, st, b, 404, "not_found", "no such route")
	st, b = f.do(t, "POST", "/healthz", "", "", "")
	wantError(t, st, b, 405, "method_not_allowed", "method")
	// A path of linkd's own under a method only a Graph-style route takes.
	st, b = f.do(t, "DELETE", "/v1/audiences", "", "", "")
	wantError(t, st, b, 405, "method_not_allowed", "method")
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	st, b := f.do(t, "GET", "/v1/oprf/config", "", "", "")
	wantError(t, st, b, 401, "unauthorized", "API key")
	st, b = f.do(t, "GET", "/v1/oprf/config", "lk_nope", "", "")
	wantError(t, st, b, 401, "unauthorized", "not valid")
	st, b = f.do(t, "GET", "/v1/oprf/config", f.revoked, "", "")
	wantError(t, st, b, 401, "unauthorized", "not valid")
	// Graph-style clients send the key as access_token.
	if st, _ := f.do(t, "GET", "/v1/oprf/config?access_token="+f.keys[access.RoleAdvertiser], "", "", ""); st != 200 {
		t.Fatalf("access_token query: %d", st)
	}
	// A role that may not: 403, and the denial is audited.
	st, b = f.do(t, "POST", "/v1/oprf/evaluate", f.keys[access.RoleCompliance], "application/json", `{"blinded":[]}`)
	wantError(t, st, b, 403, "forbidden", "refused by the policy compliance-read-only (roles.cedar:")
	// No rule permits it: the answer names the roles that may.
	f.tick()
	st, b = f.do(t, "POST", "/v1/oprf/evaluate", f.keys[access.RoleTrustSafety], "application/json", `{"blinded":[]}`)
	wantError(t, st, b, 403, "forbidden", "no policy lets the trust_safety role oprf.evaluate (default-deny); the roles that may: advertiser")
	f.tick()
	es, _ := f.st.AuditEntries(context.Background(), audit.Filter{Decision: "deny", Limit: 10})
	if len(es) != 2 || es[0].Action != "oprf.evaluate" || es[0].Role != "compliance" || es[0].RequestID == "" ||
		es[0].Rule != "compliance-read-only" || es[0].BundleHash != policies.Default().Hash() || es[1].Rule != "default-deny" {
		t.Fatalf("audit = %+v", es)
	}
}

func TestOPRFEvaluateRoundTrip(t *testing.T) {
	f := newFixture(t)
	key := f.keys[access.RoleAdvertiser]
	st, b := f.do(t, "GET", "/v1/oprf/config", key, "", "")
	var cfgMap map[string]any
	_ = json.Unmarshal(b, &cfgMap)
	if st != 200 || cfgMap["suite"] != oprf.Suite || cfgMap["mode"] != "voprf" || cfgMap["key_epoch"] != float64(1) {
		t.Fatalf("config %d %s", st, b)
	}
	pk, _ := base64.StdEncoding.DecodeString(cfgMap["public_key"].(string))
	c, err := oprf.NewClient(pk)
	if err != nil {
		t.Fatal(err)
	}
	inputs := [][]byte{[]byte("+905321234567"), []byte("+448444124653"), []byte("+12025550143")}
	bl, blinded, err := c.Blind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	st, b = f.do(t, "POST", "/v1/oprf/evaluate", key, "application/json", evaluateBody(blinded))
	if st != 200 {
		t.Fatalf("evaluate %d %s", st, b)
	}
	var resp struct {
		Evaluated []string `json:"evaluated"`
		Proof     string   `json:"proof"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	ev := make([][]byte, len(resp.Evaluated))
	for i, e := range resp.Evaluated {
		ev[i], _ = base64.StdEncoding.DecodeString(e)
	}
	proof, _ := base64.StdEncoding.DecodeString(resp.Proof)
	out, err := c.Finalize(bl, ev, proof)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want, _ := f.ev.FullEvaluate(in)
		if !bytes.Equal(out[i], want) {
			t.Fatalf("output %d differs from the party's own evaluation", i)
		}
	}
	es, _ := f.st.AuditEntries(context.Background(), audit.Filter{Action: "oprf.evaluate", Limit: 10})
	if len(es) != 1 || es[0].Decision != "allow" || es[0].Rule != "advertiser-oprf" {
		t.Fatalf("audit = %+v", es)
	}
}

func TestOPRFEvaluateRefuses(t *testing.T) {
	f := newFixture(t)
	key := f.keys[access.RoleAdvertiser]
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0}, 31))
	ident := base64.StdEncoding.EncodeToString(make([]byte, 32))
	many := `{"blinded":[` + strings.TrimSuffix(strings.Repeat(`"AA==",`, api.MaxBatch+1), ",") + `]}`
	for _, tc := range []struct {
		ctype, body string
		status      int
		code, msg   string
	}{
		{"application/json", `{"blinded":[]}`, 422, "invalid_request", "at least one"},
		{"application/json", `{"blinded":["!!"]}`, 422, "invalid_request", "blinded[0]: not standard base64"},
		{"application/json", `{"blinded":["` + good + `"]}`, 422, "invalid_request", "blinded[0]: want 32 bytes, got 31"},
		{"application/json", `{"blinded":["` + ident + `"]}`, 422, "invalid_request", "blinded[0]: the identity element"},
		{"application/json", `{"blinded":"x"}`, 422, "invalid_request", "blinded: want a JSON []string"},
		{"application/json", `{"blinded":[], "x":1}`, 422, "invalid_request", "x: not a field of the body"},
		{"application/json", `{"blinded":[], "905321234567":1}`, 422, "invalid_request", "the body has a field it does not take"},
		{"application/json", `{"blinded":[`, 400, "malformed_request", "cut short"},
		{"application/json", `{"blinded":]`, 400, "malformed_request", "not valid JSON (at byte 12)"},
		{"application/json", ``, 400, "malformed_request", "empty"},
		{"text/plain", `{"blinded":[]}`, 415, "unsupported_media_type", "JSON"},
		{"application/json", many, 422, "invalid_request", "at most 10000"},
		{"application/json", `{"blinded":["` + strings.Repeat("A", 5<<20) + `"]}`, 413, "too_large", "too large"},
	} {
		st, b := f.do(t, "POST", "/v1/oprf/evaluate", key, tc.ctype, tc.body)
		wantError(t, st, b, tc.status, tc.code, tc.msg)
	}
}

func TestAuditLogRoute(t *testing.T) {
	f := newFixture(t)
	adv, comp := f.keys[access.RoleAdvertiser], f.keys[access.RoleCompliance]
	// Three denials of the advertiser make three entries.
	for range 3 {
		f.do(t, "GET", "/v1/audit", adv, "", "")
	}
	st, b := f.do(t, "GET", "/v1/audit?limit=2", comp, "", "")
	var page struct {
		Items []struct {
			Seq      int64  `json:"seq"`
			Action   string `json:"action"`
			Decision string `json:"decision"`
			Role     string `json:"role"`
			Hash     string `json:"hash"`
		} `json:"items"`
		Next string `json:"next"`
	}
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Items) != 2 || page.Next != "2" {
		t.Fatalf("page 1: %d %s", st, b)
	}
	if it := page.Items[0]; it.Action != "audit.read" || it.Decision != "deny" || it.Role != "advertiser" || len(it.Hash) != 64 {
		t.Fatalf("item %+v", it)
	}
	st, b = f.do(t, "GET", "/v1/audit?limit=2&after="+page.Next, comp, "", "")
	page.Items, page.Next = nil, ""
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Items) != 1 || page.Items[0].Seq != 3 || page.Next != "" {
		t.Fatalf("page 2: %d %s", st, b)
	}
	st, b = f.do(t, "GET", "/v1/audit?decision=allow", comp, "", "")
	if st != 200 || !strings.Contains(string(b), `"items":[]`) {
		t.Fatalf("filtered: %d %s", st, b)
	}
	// Newest first, paging back with before.
	st, b = f.do(t, "GET", "/v1/audit?order=newest&limit=2", comp, "", "")
	page.Items, page.Next = nil, ""
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Items) != 2 || page.Items[0].Seq != 3 || page.Next != "2" {
		t.Fatalf("newest: %d %s", st, b)
	}
	st, b = f.do(t, "GET", "/v1/audit?order=newest&limit=2&before=2", comp, "", "")
	page.Items, page.Next = nil, ""
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Items) != 1 || page.Items[0].Seq != 1 {
		t.Fatalf("newest, page 2: %d %s", st, b)
	}
	for q, n := range map[string]int{"since=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339): 3, "until=" + time.Now().Add(-time.Hour).UTC().Format(time.RFC3339): 0} {
		st, b = f.do(t, "GET", "/v1/audit?"+q, comp, "", "")
		if st != 200 || strings.Count(string(b), `"seq"`) != n {
			t.Fatalf("?%s: %d %s", q, st, b)
		}
	}
	for _, q := range []string{"order=sideways", "before=-1", "since=today", "until=2026-01-01"} {
		st, b = f.do(t, "GET", "/v1/audit?"+q, comp, "", "")
		name, _, _ := strings.Cut(q, "=")
		wantError(t, st, b, 422, "invalid_request", name)
	}
	st, b = f.do(t, "GET", "/v1/audit?limit=5000", comp, "", "")
	wantError(t, st, b, 422, "invalid_request", "limit")
	st, b = f.do(t, "GET", "/v1/audit?after=x", comp, "", "")
	wantError(t, st, b, 422, "invalid_request", "after")
	// The chain verified under the party's keys holds; under others it
	// breaks, and the answer says where.
	keys := storetest.ChainKeys(t)
	f.api.VerifyAudit = func(ctx context.Context) (int64, error) { return audit.Verify(ctx, f.st, keys, nil) }
	st, b = f.do(t, "GET", "/v1/audit/verification", comp, "", "")
	if st != 200 || string(b) != `{"entries":3,"intact":true}`+"\n" {
		t.Fatalf("verification: %d %s", st, b)
	}
	keys = func(epoch uint32) (*audit.Chain, error) { return storetest.Chain(t, epoch+2), nil }
	st, b = f.do(t, "GET", "/v1/audit/verification", comp, "", "")
	if st != 200 || !strings.Contains(string(b), `"intact":false,"problem":"audit: chain broken at entry 1`) {
		t.Fatalf("verification under other keys: %d %s", st, b)
	}
	// Reading the log is not itself a mutation: compliance's reads add
	// nothing.
	if n, _ := audit.Verify(context.Background(), f.st, storetest.ChainKeys(t), nil); n != 3 {
		t.Fatalf("%d entries after compliance read", n)
	}
}

func blindedBody(t *testing.T, f *fixture, n int) string {
	t.Helper()
	c, _ := oprf.NewClient(f.ev.PublicKey())
	in := make([][]byte, n)
	for i := range in {
		in[i] = []byte(fmt.Sprintf("+9053212345%02d", i))
	}
	_, blinded, err := c.Blind(in)
	if err != nil {
		t.Fatal(err)
	}
	return evaluateBody(blinded)
}

// evaluateBody is the JSON of POST /v1/oprf/evaluate for blinded elements.
func evaluateBody(blinded [][]byte) string {
	req := map[string][]string{"blinded": nil}
	for _, x := range blinded {
		req["blinded"] = append(req["blinded"], base64.StdEncoding.EncodeToString(x))
	}
	b, _ := json.Marshal(req)
	return string(b)
}

func TestLimits(t *testing.T) {
	f := newFixture(t)
	adv := f.keys[access.RoleAdvertiser]
	// The tenant's daily OPRF budget is 5 elements: 3, then 2, then none.
	for i, tc := range []struct{ n, status int }{{3, 200}, {3, 429}, {2, 200}, {1, 429}} {
		resp, b := f.doResp(t, "POST", "/v1/oprf/evaluate", adv, "application/json", blindedBody(t, f, tc.n))
		if resp.StatusCode != tc.status {
			t.Fatalf("batch %d: %d %s", i, resp.StatusCode, b)
		}
		if tc.status == 429 {
			wantError(t, resp.StatusCode, b, 429, "rate_limited", "oprf_evaluations")
			// 11:59:30 left in the day, rounded up.
			if ra := resp.Header.Get("Retry-After"); ra != "43171" {
				t.Fatalf("Retry-After = %q", ra)
			}
			if strings.Contains(string(b), `"evaluated"`) {
				t.Fatal("an over-budget answer carries the evaluation")
			}
		}
	}
	// A refused batch costs no budget: the next day, 5 fit after a bad one.
	f.now = f.now.Add(24 * time.Hour)
	resp, _ := f.doResp(t, "POST", "/v1/oprf/evaluate", adv, "application/json", `{"blinded":["AA=="]}`)
	if resp.StatusCode != 422 {
		t.Fatalf("bad batch: %d", resp.StatusCode)
	}
	if resp, b := f.doResp(t, "POST", "/v1/oprf/evaluate", adv, "application/json", blindedBody(t, f, 5)); resp.StatusCode != 200 {
		t.Fatalf("full budget after a refused batch: %d %s", resp.StatusCode, b)
	}
	// 20 requests a minute per key; the 21st is refused until the minute
	// ends, and the refusal is audited.
	// Every answer counted says where the key stands, as the IETF's
	// RateLimit fields do.
	key := f.keys[access.RoleAdmin]
	for i := range 20 {
		resp, _ := f.doResp(t, "GET", "/v1/oprf/config", key, "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if p, rl := resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"); p != `"requests";q=20;w=60` || rl != fmt.Sprintf(`"requests";r=%d;t=31`, 19-i) {
			t.Fatalf("request %d: RateLimit-Policy %q, RateLimit %q", i, p, rl)
		}
	}
	resp, b := f.doResp(t, "GET", "/v1/oprf/config", key, "", "")
	wantError(t, resp.StatusCode, b, 429, "rate_limited", "requests")
	if resp.Header.Get("Retry-After") != "31" || resp.Header.Get("RateLimit") != `"requests";r=0;t=31` {
		t.Fatalf("Retry-After = %q, RateLimit = %q", resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit"))
	}
	es, _ := f.st.AuditEntries(context.Background(), audit.Filter{Decision: "deny", Limit: 100})
	if len(es) == 0 || es[len(es)-1].Rule != "rate_limit" {
		t.Fatalf("the refusal is not audited: %+v", es)
	}
	f.now = f.now.Add(time.Minute)
	if st, _ := f.do(t, "GET", "/v1/oprf/config", key, "", ""); st != 200 {
		t.Fatalf("next minute: %d", st)
	}
	_, m := f.do(t, "GET", "/metrics", f.keys[access.RoleAdmin], "", "")
	for _, want := range []string{`linkd_usage_total{counter="oprf_evaluations"} 10`, `linkd_limit_refusals_total{counter="oprf_evaluations"} 2`,
		`linkd_limit_refusals_total{counter="requests"} 1`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Failed authentications are throttled per client address: past 20 in a
// minute, the address is refused (429, Retry-After) before any key is
// looked up, and the refusals are counted.
func TestFailedAuthenticationsThrottled(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		st, b := f.do(t, "GET", "/v1/audiences", "key_not_a_key_"+fmt.Sprint(i), "", "")
		wantError(t, st, b, 401, "unauthorized", "not valid")
	}
	resp, b := f.doResp(t, "GET", "/v1/audiences", f.keys[access.RoleAdvertiser], "", "")
	wantError(t, resp.StatusCode, b, 429, "rate_limited", "failed authentications")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Routes without a key are not throttled.
	if st, _ := f.do(t, "GET", "/healthz", "", "", ""); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	_, m := f.do(t, "GET", "/metrics", "", "", "")
	if !strings.Contains(string(m), "rate_limited") {
		t.Fatalf("metrics refused: %s", m)
	}
	rec := httptest.NewRecorder()
	f.api.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `linkd_limit_refusals_total{counter="authentication"} 2`) {
		t.Fatalf("the refusals are not counted:\n%s", rec.Body.String())
	}
}

// Concurrent bad keys from one address cannot all pass the throttle
// before any of them fails: no more than the limit and the allowance of
// authentications under way are looked up.
func TestFailedAuthenticationsThrottledConcurrently(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var unauthorized, limited atomic.Int64
	for i := range 200 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", f.srv.URL+"/v1/audiences", nil)
			req.Header.Set("Authorization", "Bearer key_bogus_"+fmt.Sprint(i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			switch resp.StatusCode {
			case 401:
				unauthorized.Add(1)
			case 429:
				limited.Add(1)
			}
		})
	}
	wg.Wait()
	if u := unauthorized.Load(); u < 20 || u > 20+32 || u+limited.Load() != 200 {
		t.Fatalf("%d answered 401 and %d 429; want 20 to 52 looked up, the rest refused", u, limited.Load())
	}
}

// A mutating request whose audit entry cannot be written is not carried
// out: 503, and nothing changed. Reads go on.
func TestAuditFailsClosed(t *testing.T) {
	f := newFixture(t)
	f.api.AuditChain = nil // the store refuses every entry
	adv := f.keys[access.RoleAdvertiser]
	resp, b := f.doResp(t, "POST", "/v1/audiences", adv, "application/json", `{"name":"n","purpose":"ads"}`)
	wantError(t, resp.StatusCode, b, 503, "unavailable", "")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if as, _ := f.st.ListAudiences(context.Background(), "acme", "", 10); len(as) != 0 {
		t.Fatalf("an audience was created without its audit entry: %+v", as)
	}
	if st, b := f.do(t, "GET", "/v1/audiences", adv, "", ""); st != 200 {
		t.Fatalf("a read: %d %s", st, b)
	}
}

// IPv6 clients count by their /64.
func TestClientAddrIPv6Prefix(t *testing.T) {
	for in, want := range map[string]string{
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:2:ff::1]:80":    "2001:db8:1:2::/64",
		"192.0.2.7:5000":             "192.0.2.7",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = in
		if got := api.ClientAddr(r); got != want {
			t.Errorf("ClientAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestStatus: operators read the party's public state; the parts the
// server is given come from Status; other roles are refused.
func TestStatus(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	f.api.Status = func(context.Context) (api.Status, error) {
		return api.Status{KeyEpochs: []api.KeyEpoch{{Epoch: 1, CreatedAt: at}}, Relay: api.RelayBacklog{Pending: 3, Retried: 1, MaxAttempts: 4},
			PolicyReloadFailure: &api.ReloadFailure{At: at, Problems: "roles.cedar:3:1: syntax error"}}, nil
	}
	st, b := f.do(t, "GET", "/v1/status", f.keys[access.RoleAdmin], "", "")
	var s struct {
		Party         string `json:"party"`
		KeyEpoch      uint32 `json:"key_epoch"`
		OPRFPublicKey string `json:"oprf_public_key"`
		PolicyBundle  string `json:"policy_bundle"`
		Relay         struct{ Pending, Retried int64 }
		Failure       *struct{ Problems string } `json:"policy_reload_failure"`
		KeyEpochs     []struct{ Epoch uint32 }   `json:"key_epochs"`
	}
	if err := json.Unmarshal(b, &s); err != nil || st != 200 || s.Party != "social" || s.KeyEpoch != 1 || s.PolicyBundle != policies.Default().Hash() ||
		s.OPRFPublicKey != base64.StdEncoding.EncodeToString(f.ev.PublicKey()) || s.Relay.Pending != 3 || s.Relay.Retried != 1 ||
		s.Failure == nil || s.Failure.Problems == "" || len(s.KeyEpochs) != 1 {
		t.Fatalf("status: %d %s", st, b)
	}
	for _, r := range []access.Role{access.RoleAdvertiser, access.RoleTrustSafety, access.RoleCompliance} {
		f.tick()
		st, b = f.do(t, "GET", "/v1/status", f.keys[r], "", "")
		wantError(t, st, b, 403, "forbidden", "")
	}
	// Without a peer there are no link runs to list.
	st, b = f.do(t, "GET", "/v1/link/jobs", f.keys[access.RoleAdmin], "", "")
	wantError(t, st, b, 503, "not_configured", "")
}

// TestSubjectHeld: the account system asks what is held about the person
// behind an account: linked (never to which account), consent and
// opt-out, audiences by tenant and purpose, open signals; the request is
// audited; no other role may ask.
func TestSubjectHeld(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Subjects = f.st
	f.people(t, 7, 3)
	var lid psi.LinkID
	_, _ = crand.Read(lid[:])
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-7-0000", ID: lid, Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAudience(ctx, audience.Audience{ID: "aud_1", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.ApplyBatch(ctx, audience.Batch{AudienceID: "aud_1", SessionID: "s", Seq: 1, Add: []string{"acct-7-0000", "acct-7-0001"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateSignal(ctx, signal.Signal{ID: "sig_1", Direction: signal.Outbound, AccountID: "acct-7-0000", Type: "spam", Confidence: 0.9,
		Status: "open", CreatedAt: f.now, ExpiresAt: time.Now().Add(time.Hour)}, false); err != nil {
		t.Fatal(err)
	}
	sr := f.keys[access.RoleSubjectRequests]
	st, b := f.do(t, "GET", "/v1/subjects/acct-7-0000", sr, "", "")
	var h struct {
		Linked    bool `json:"linked"`
		Audiences []struct {
			Tenant, Purpose string
			Audiences       int
		} `json:"audiences"`
		Signals []struct{ Direction, Type string } `json:"open_signals"`
	}
	if err := json.Unmarshal(b, &h); err != nil || st != 200 || !h.Linked || len(h.Audiences) != 1 || h.Audiences[0].Tenant != "acme" ||
		h.Audiences[0].Purpose != "ads" || h.Audiences[0].Audiences != 1 || len(h.Signals) != 1 || h.Signals[0].Type != "spam" {
		t.Fatalf("held: %d %s", st, b)
	}
	if strings.Contains(string(b), hex.EncodeToString(lid[:])) || strings.Contains(string(b), base64.StdEncoding.EncodeToString(lid[:])) {
		t.Fatalf("the answer shows the link id: %s", b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/subjects/acct-7-0002", sr, "", "")
	if st != 200 || !strings.Contains(string(b), `"linked":false`) || !strings.Contains(string(b), `"audiences":[]`) {
		t.Fatalf("an unlinked account: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/subjects/nobody", sr, "", "")
	wantError(t, st, b, 404, "not_found", "no such account: nobody")
	for _, r := range []access.Role{access.RoleAdvertiser, access.RoleTrustSafety, access.RoleCompliance, access.RoleParty} {
		f.tick()
		st, b = f.do(t, "GET", "/v1/subjects/acct-7-0000", f.keys[r], "", "")
		wantError(t, st, b, 403, "forbidden", "")
	}
	es, err := f.st.AuditEntries(ctx, audit.Filter{Action: "subject.read", Decision: "allow", Limit: 10})
	if err != nil || len(es) != 3 || es[0].Role != "subject_requests" || !strings.Contains(es[0].Request, `"id":"sr_`) {
		t.Fatalf("audit entries of the requests: %+v, %v", es, err)
	}

	// An objection to ads: out of the tenant's ads audience at once, with
	// a receipt, which the next read shows.
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0000/objection", sr, "application/json", `{"purpose":"ads"}`)
	type receipt struct {
		ID        string     `json:"id"`
		AccountID string     `json:"account_id"`
		Kind      string     `json:"kind"`
		Peer      string     `json:"peer"`
		Removed   *int64     `json:"removed_from_audiences"`
		Ack       *time.Time `json:"peer_acknowledged_at"`
	}
	var rc receipt
	if err := json.Unmarshal(b, &rc); err != nil || st != 201 || !strings.HasPrefix(rc.ID, "sr_") || rc.Kind != "objection" || rc.Removed == nil ||
		*rc.Removed != 1 || rc.Ack != nil || rc.Peer != "pending" || rc.AccountID != "acct-7-0000" {
		t.Fatalf("objection: %d %s", st, b)
	}
	if m, _ := f.st.Members(ctx, "aud_1"); len(m) != 1 || m[0] != "acct-7-0001" {
		t.Fatalf("members after the objection: %v", m)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/subjects/acct-7-0000", sr, "", "")
	if st != 200 || !strings.Contains(string(b), `"ad_opt_out":true`) || !strings.Contains(string(b), `"id":"`+rc.ID+`"`) || !strings.Contains(string(b), `"audiences":[]`) {
		t.Fatalf("held after the objection: %d %s", st, b)
	}
	// The ledger: the import's grant, then the objection's withdrawal,
	// which is the consent now.
	type consentEntry struct{ Purpose, State, Source, RequestID string }
	var hc struct {
		Consents []consentEntry `json:"consents"`
		History  []struct {
			Purpose, State, Source string
			RequestID              string `json:"request_id"`
		} `json:"consent_history"`
	}
	if err := json.Unmarshal(b, &hc); err != nil || len(hc.Consents) != 1 || hc.Consents[0].State != "withdrawn" || hc.Consents[0].Source != "objection" ||
		len(hc.History) != 2 || hc.History[0].RequestID != rc.ID || hc.History[1].State != "granted" || hc.History[1].Source != "directory" {
		t.Fatalf("consents after the objection: %s", b)
	}
	for _, c := range []struct {
		path, body string
		status     int
	}{{"/v1/subjects/acct-7-0001/objection", `{"purpose":"astrology"}`, 422}, {"/v1/subjects/nobody/objection", `{"purpose":"ads"}`, 404},
		{"/v1/subjects/acct-7-0001/objection", `{}`, 422}} {
		f.tick()
		st, b = f.do(t, "POST", c.path, sr, "application/json", c.body)
		if st != c.status {
			t.Fatalf("%s %s: %d %s", c.path, c.body, st, b)
		}
	}
	if m, _ := f.st.Members(ctx, "aud_1"); len(m) != 1 {
		t.Fatalf("a refused objection changed the audience: %v", m)
	}
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0001/objection", f.keys[access.RoleAdvertiser], "application/json", `{"purpose":"ads"}`)
	wantError(t, st, b, 403, "forbidden", "")
	// A role no rule permits is refused, and audited, before its body is
	// read.
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0001/objection", f.keys[access.RoleAdvertiser], "application/json", `{"purpose":`)
	wantError(t, st, b, 403, "forbidden", "no policy lets the advertiser role subject.object")

	// The other party's requests: an objection to a purpose this party's
	// catalogue does not know is refused alone; one whose id is this
	// party's own receipt's too; the rest applies.
	var lid1 psi.LinkID
	_, _ = crand.Read(lid1[:])
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-7-0002", ID: lid1, Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	relay, _ := json.Marshal(peer.WireSubjects([]subject.Message{
		{ID: "sr_p1", Kind: subject.KindObjection, Purpose: "astrology", LinkID: lid1, At: f.now},
		{ID: rc.ID, Kind: subject.KindErasure, LinkID: lid1, At: f.now},
		{ID: "sr_p2", Kind: subject.KindObjection, Purpose: "safety", LinkID: lid1, At: f.now}}))
	f.tick()
	st, b = f.do(t, "POST", "/v1/peer/subjects", f.keys[access.RoleParty], "application/json", string(relay))
	var pr struct {
		Acks []struct{ Outcome string } `json:"acknowledgements"`
	}
	if err := json.Unmarshal(b, &pr); err != nil || st != 200 || len(pr.Acks) != 3 || pr.Acks[0].Outcome != "refused" ||
		pr.Acks[1].Outcome != "refused" || pr.Acks[2].Outcome != "applied" {
		t.Fatalf("the other party's requests: %d %s", st, b)
	}
	if _, err := f.st.LinkOf(ctx, "acct-7-0002"); err != nil {
		t.Fatalf("a refused erasure dropped the link: %v", err)
	}

	// An erasure: the account, its link, memberships and signals go at
	// once; the receipt names no account, and its id reads it back.
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0001/erasure", f.keys[access.RoleTrustSafety], "", "")
	wantError(t, st, b, 403, "forbidden", "")
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0001/erasure", sr, "", "")
	var er receipt
	if err := json.Unmarshal(b, &er); err != nil || st != 201 || er.Kind != "erasure" || er.AccountID != "" || er.Peer != "not_linked" ||
		er.Removed == nil || *er.Removed != 1 || strings.Contains(string(b), "acct-7-0001") {
		t.Fatalf("erasure: %d %s", st, b)
	}
	if m, _ := f.st.Members(ctx, "aud_1"); len(m) != 0 {
		t.Fatalf("members after the erasure: %v", m)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/subjects/acct-7-0001", sr, "", "")
	wantError(t, st, b, 404, "not_found", "")
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0001/erasure", sr, "", "")
	wantError(t, st, b, 404, "not_found", "no such account: acct-7-0001")
	f.tick()
	st, b = f.do(t, "GET", "/v1/subject-requests/"+er.ID, sr, "", "")
	if st != 200 || !strings.Contains(string(b), `"kind":"erasure"`) || strings.Contains(string(b), "account_id") {
		t.Fatalf("the erasure's receipt: %d %s", st, b)
	}
	// The linked account's erasure waits in the subject outbox for the
	// other party, with its link; its objection's receipt loses its id.
	f.tick()
	st, b = f.do(t, "POST", "/v1/subjects/acct-7-0000/erasure", sr, "", "")
	if err := json.Unmarshal(b, &er); err != nil || st != 201 || er.Peer != "pending" {
		t.Fatalf("erasure of a linked account: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/subject-requests/"+rc.ID, sr, "", "")
	if st != 200 || strings.Contains(string(b), "acct-7-0000") || !strings.Contains(string(b), `"peer":"pending"`) {
		t.Fatalf("the objection's receipt after the erasure: %d %s", st, b)
	}
	if p, err := f.st.PendingSubjects(ctx, 10); err != nil || len(p) != 2 || p[0].ID != rc.ID || p[1].ID != er.ID || p[1].LinkID != lid {
		t.Fatalf("the subject outbox: %+v, %v", p, err)
	}
	all, err := f.st.AuditEntries(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		if strings.Contains(e.Request, "acct-7-0000") || strings.Contains(e.Request, "acct-7-0001") {
			t.Fatalf("an audit entry names an account a person asked about: %+v", e)
		}
	}
}

// TestProbesLogAtDebug: probes and scrapes that succeed are not logged at
// info (they come every few seconds); other requests are, and a failing
// probe is too. The metrics include the process's own.
func TestProbesLogAtDebug(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	st := pgtest.Store(t)
	ready := error(nil)
	s := api.New(api.Config{Party: "social", Keys: st, Log: slog.New(slog.NewJSONHandler(w, nil)),
		Ready: func(context.Context) error { return ready }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	get("/readyz")
	get("/healthz")
	get("/v1/audit")
	ready = errors.New("down")
	get("/readyz")
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if strings.Count(out, `"msg":"request"`) != 2 || !strings.Contains(out, `"route":"/v1/audit","status":401`) || !strings.Contains(out, `"route":"/readyz","status":503`) {
		t.Fatalf("logs:\n%s", out)
	}
	rec := httptest.NewRecorder()
	s.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, m := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(rec.Body.String(), m) {
			t.Errorf("the metrics lack %s", m)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// graphErrBody is the Graph shape of an error, as Marketing API SDKs read it.
type graphErrBody struct {
	Error struct {
		Message   string         `json:"message"`
		Type      string         `json:"type"`
		Code      int            `json:"code"`
		Subcode   int            `json:"error_subcode"`
		Transient bool           `json:"is_transient"`
		Data      map[string]any `json:"error_data"`
		TraceID   string         `json:"fbtrace_id"`
	} `json:"error"`
}

// wantGraphError checks a Graph-shaped error: the status, the numeric
// code, linkd's own code in error_data and a part of the message.
func wantGraphError(t *testing.T, status int, b []byte, wantStatus, graphCode int, code, msg string) graphErrBody {
	t.Helper()
	var e graphErrBody
	if err := json.Unmarshal(b, &e); err != nil || status != wantStatus || e.Error.Code != graphCode || e.Error.Data["code"] != code ||
		!strings.Contains(e.Error.Message, msg) || e.Error.TraceID == "" || e.Error.Type == "" {
		t.Fatalf("got %d %s, want %d Graph code %d (%s) %q", status, b, wantStatus, graphCode, code, msg)
	}
	return e
}
