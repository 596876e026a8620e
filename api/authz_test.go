package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storetest"
)

// recorder is an Authorizer that remembers what it was asked and answers
// from a fixed rule.
type recorder struct {
	asked []policies.Request
	allow bool
}

func (r *recorder) Authorize(_ context.Context, q policies.Request) (policies.Decision, error) {
	r.asked = append(r.asked, q)
	return policies.Decision{Allow: r.allow, Rules: []string{"test-rule"}, BundleHash: "h123"}, nil
}

// Every keyed route asks the configured Authorizer, with the caller's role
// and tenant, and its answer decides and is audited.
func TestRoutesAskTheAuthorizer(t *testing.T) {
	st := pgtest.Store(t)
	sec, k, _ := access.NewKey("acme", access.RoleCompliance, time.Now())
	_ = st.CreateAPIKey(context.Background(), k)
	rec := &recorder{allow: true}
	srv := httptest.NewServer(api.New(api.Config{Party: "social", Keys: st, Audit: st, AuditChain: storetest.Chain(t, 1), Authorizer: rec}).Handler())
	defer srv.Close()
	get := func() int {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/audit", nil)
		req.Header.Set("Authorization", "Bearer "+sec)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get(); st != 200 {
		t.Fatalf("allowed: %d", st)
	}
	rec.allow = false
	if st := get(); st != 403 {
		t.Fatalf("denied: %d", st)
	}
	if len(rec.asked) != 2 || rec.asked[0].Role != string(access.RoleCompliance) || rec.asked[0].Tenant != "acme" ||
		rec.asked[0].Action != "audit.read" || rec.asked[0].Resource.Kind != "audit" {
		t.Fatalf("asked %+v", rec.asked)
	}
	es, _ := st.AuditEntries(context.Background(), audit.Filter{Limit: 10})
	if len(es) != 1 || es[0].Decision != "deny" || es[0].Rule != "test-rule" || es[0].BundleHash != "h123" ||
		!strings.Contains(es[0].Request, `"action":"audit.read"`) || es[0].Resource != "/v1/audit" {
		t.Fatalf("audit %+v", es)
	}
}

type failing struct{}

func (failing) Authorize(context.Context, policies.Request) (policies.Decision, error) {
	return policies.Decision{}, errors.New("policy store unreachable: dial tcp 10.0.0.7:5432: password=hunter2")
}

// An internal failure is a 500 with the error body and the request id; the
// cause goes to the log, never to the caller.
func TestInternalErrorsStayInternal(t *testing.T) {
	st := pgtest.Store(t)
	sec, k, _ := access.NewKey("acme", access.RoleCompliance, time.Now())
	_ = st.CreateAPIKey(context.Background(), k)
	var logs bytes.Buffer
	srv := httptest.NewServer(api.New(api.Config{Party: "social", Keys: st, Audit: st, AuditChain: storetest.Chain(t, 1), Authorizer: failing{},
		Log: slog.New(slog.NewJSONHandler(&logs, nil))}).Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer "+sec)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || !strings.Contains(string(body), `"code":"internal"`) || strings.Contains(string(body), "hunter2") ||
		strings.Contains(string(body), "10.0.0.7") || id == "" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "policy store unreachable") || !strings.Contains(logs.String(), id) {
		t.Fatalf("the cause is not logged with the request id:\n%s", logs.String())
	}
}

// The other party's key has a request rate of its own.
func TestPartyKeyRate(t *testing.T) {
	f := newFixtureLimits(t, api.Limits{RequestsPerMinute: 1, PeerRequestsPerMinute: 3})
	party := f.keys[access.RoleParty]
	for i := range 3 {
		if st, b := f.do(t, "GET", "/v1/peer/link/jobs/j/batches/1", party, "", ""); st == 429 {
			t.Fatalf("request %d refused under the party rate: %s", i+1, b)
		}
	}
	st, b := f.do(t, "GET", "/v1/peer/link/jobs/j/batches/1", party, "", "")
	wantError(t, st, b, 429, "rate_limited", "requests")
}
