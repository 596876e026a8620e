package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store/storetest"
)

// BenchmarkPages is each console page's server time, the API calls it
// makes in-process included, with 10,000 flags in the review queue and
// 1,200 audit entries, the audit page showing 1,000 of them.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	p := newParty(b)
	// No request limit: the benchmark makes many times the minute's.
	p.api.Limits.RequestsPerMinute = 1 << 40
	now := time.Now().UTC().Truncate(time.Second)
	var flagID string
	for batch := range 20 {
		msgs := make([]signal.Message, 500)
		for i := range msgs {
			n := batch*500 + i
			msgs[i] = signal.Message{Kind: signal.KindSignal, ID: fmt.Sprintf("sig_bench_%05d", n), LinkID: p.links[n%len(p.links)],
				Type: "malicious_link", Confidence: 0.5 + float64(n%50)/100, CreatedAt: now.Add(-time.Duration(n) * time.Minute), ExpiresAt: now.Add(30 * 24 * time.Hour)}
		}
		if _, err := p.st.Receive(ctx, msgs); err != nil {
			b.Fatal(err)
		}
		flagID = msgs[0].ID
	}
	chain := storetest.Chain(b, 1)
	for i := range 1200 {
		d := "allow"
		if i%7 == 0 {
			d = "deny"
		}
		if _, err := p.st.AppendAudit(ctx, audit.Entry{Time: now, Actor: "key_bench", Tenant: "acme", Role: "trust_safety", Action: "signal.decide",
			Resource: "/v1/signals/inbound/:id/decision", Decision: d, Rule: "trust-safety-signals", BundleHash: "h", RequestID: "r",
			Request: `{"role":"trust_safety","tenant":"acme","action":"signal.decide","resource":{"kind":"signal"}}`}, chain); err != nil {
			b.Fatal(err)
		}
	}
	cookies := map[access.Role]string{}
	for _, r := range []access.Role{access.RoleTrustSafety, access.RoleCompliance, access.RoleAdvertiser, access.RoleAdmin} {
		br := p.browser(b)
		br.signIn(p.keys[r], "bench")
		u, _ := http.NewRequest("GET", p.srv.URL+"/console/", nil)
		for _, ck := range br.c.Jar.Cookies(u.URL) {
			if ck.Name == "linkd_session" {
				cookies[r] = ck.Value
			}
		}
	}
	h := p.srv.Config.Handler
	for _, c := range []struct {
		name string
		role access.Role
		path string
	}{
		{"ReviewQueue", access.RoleTrustSafety, "/console/inbound"},
		{"ReviewQueue1000", access.RoleTrustSafety, "/console/inbound?limit=1000"},
		{"ReviewQueueFiltered", access.RoleTrustSafety, "/console/inbound?type=malicious_link&min_confidence=0.9&age=1d"},
		{"ReviewQueueLastPage", access.RoleTrustSafety, "/console/inbound?after=sig_bench_09950"},
		{"Signal", access.RoleTrustSafety, "/console/signals/" + flagID},
		{"FlagsRaised", access.RoleTrustSafety, "/console/outbound"},
		{"Audit1000", access.RoleCompliance, "/console/audit?limit=1000"},
		{"AuditDenied", access.RoleCompliance, "/console/audit?decision=deny&limit=1000"},
		{"Why", access.RoleCompliance, "/console/audit/600"},
		{"Policies", access.RoleCompliance, "/console/policies"},
		{"Audiences", access.RoleAdvertiser, "/console/audiences"},
		{"Operations", access.RoleAdmin, "/console/operations"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", c.path, nil)
				req.AddCookie(&http.Cookie{Name: "linkd_session", Value: cookies[c.role]})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<main") {
					b.Fatalf("%s: %d\n%s", c.path, rec.Code, rec.Body.String())
				}
			}
		})
	}
}
