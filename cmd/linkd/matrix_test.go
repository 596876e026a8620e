package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store/storetest"
)

// TestRouteMatrix sends every keyed route a request from every role,
// through the real router on PostgreSQL, and checks the status each must
// get: 200 for the roles allowed, 403 for the others, 401 without a key.
func TestRouteMatrix(t *testing.T) {
	ev, err := oprf.NewServer(bytes.Repeat([]byte{3}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := oprf.NewClient(ev.PublicKey())
	_, blinded, _ := c.Blind([][]byte{[]byte("+905321234567")})
	body, _ := json.Marshal(map[string][]string{"blinded": {base64.StdEncoding.EncodeToString(blinded[0])}})
	// Who may call what, stated here apart from the policy bundle:
	// advertisers evaluate, compliance reads the log and the policies,
	// nobody else does any of these.
	adv, admin, comp, party, ts := access.RoleAdvertiser, access.RoleAdmin, access.RoleCompliance, access.RoleParty, access.RoleTrustSafety
	upload := func(session string) string {
		return `{"payload":{"schema":"PHONE_SHA256","data":["` + strings.Repeat("ab", 32) + `"]},"session":{"session_id":"` + session + `","batch_seq":1}}`
	}
	// ok is what the allowed roles get (default 200); another tenant's
	// audience is not found for them.
	requests := []struct {
		method, path, body string
		allowed            []access.Role
		ok                 int
	}{
		{"GET", "/v1/oprf/config", "", []access.Role{adv, admin}, 0},
		{"POST", "/v1/oprf/evaluate", string(body), []access.Role{adv}, 0},
		{"GET", "/v1/audit", "", []access.Role{comp}, 0},
		{"GET", "/v1/policies", "", []access.Role{comp}, 0},
		{"POST", "/v1/policies/explain", `{"request": {"role": "advertiser", "action": "oprf.config", "resource": {"kind": "service"}}}`, []access.Role{comp}, 0},
		{"POST", "/v1/audiences", `{"name":"m","purpose":"ads"}`, []access.Role{adv}, 201},
		{"GET", "/v1/audiences", "", []access.Role{adv}, 0},
		{"GET", "/v1/audiences/aud_own", "", []access.Role{adv}, 0},
		{"GET", "/v1/audiences/aud_other", "", []access.Role{adv}, 404},
		{"POST", "/v1/audiences/aud_own/users", upload("a"), []access.Role{adv}, 0},
		{"POST", "/v1/audiences/aud_other/users", upload("b"), []access.Role{adv}, 404},
		{"DELETE", "/v1/audiences/aud_own/users", upload("c"), []access.Role{adv}, 0},
		{"DELETE", "/v1/audiences/aud_other/users", upload("d"), []access.Role{adv}, 404},
		{"POST", "/v21.0/aud_own/users", upload("e"), []access.Role{adv}, 0},
		{"POST", "/v21.0/aud_other/users", upload("f"), []access.Role{adv}, 404},
		{"DELETE", "/v21.0/aud_own/users", upload("g"), []access.Role{adv}, 0},
		{"DELETE", "/v21.0/aud_other/users", upload("h"), []access.Role{adv}, 404},
		{"POST", "/v1/audiences/aud_own/usersreplace", upload("i"), []access.Role{adv}, 0},
		{"POST", "/v21.0/aud_other/usersreplace", upload("j"), []access.Role{adv}, 404},
		{"POST", "/v21.0/act_acme/customaudiences", `{"name":"g","subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY"}`, []access.Role{adv}, 0},
		{"POST", "/v21.0/act_globex/customaudiences", `{"name":"g","subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY"}`, []access.Role{adv}, 404},
		{"GET", "/v21.0/aud_own?fields=name", "", []access.Role{adv}, 0},
		{"GET", "/v21.0/aud_other?fields=name", "", []access.Role{adv}, 404},
		{"DELETE", "/v21.0/aud_other", "", []access.Role{adv}, 404},
		{"POST", "/v1/audiences/aud_own/extend", "", []access.Role{adv}, 503}, // no peer here
		{"POST", "/v1/audiences/aud_other/extend", "", []access.Role{adv}, 503},
		{"POST", "/v1/peer/audiences", `{"source_audience":"aud_x","tenant":"acme","name":"n","purpose":"ads","link_ids":[],"session_id":"s","batch_seq":1,"last_batch_flag":true}`, []access.Role{party}, 0},
		{"DELETE", "/v1/audiences/aud_other", "", []access.Role{adv}, 404},
		// Signals: this store has no account to flag.
		{"POST", "/v1/signals", `{"account_id":"nobody","type":"spam","confidence":0.9,"expires_at":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, []access.Role{ts}, 404},
		{"GET", "/v1/signals", "", []access.Role{ts}, 0},
		{"GET", "/v1/signals/inbound", "", []access.Role{ts}, 0},
		{"POST", "/v1/signals/inbound/sig_x/decision", `{"decision":"dismiss","reason":"r"}`, []access.Role{ts}, 404},
		{"POST", "/v1/signals/sig_x/revoke", "", []access.Role{ts}, 404},
		{"POST", "/v1/peer/signals", `{"messages":[{"kind":"signal","id":"sig_x","link_id":"` + strings.Repeat("ab", 16) +
			`","type":"scam","confidence":0.9,"created_at":"2026-01-01T00:00:00Z","expires_at":"2126-01-01T00:00:00Z"}]}`, []access.Role{party}, 0},
		// Linking: this party has no peer (503 for a run); the other
		// party's messages with a party key.
		{"POST", "/v1/link/jobs", `{}`, []access.Role{admin}, 503},
		{"GET", "/v1/link/jobs/nope", "", []access.Role{admin}, 404},
		{"POST", "/v1/peer/link/jobs", `{"job_id":"m1","link_epoch":2,"link_group":"x25519-ell2","set_size":5,"batch_size":100}`, []access.Role{party}, 0},
		{"GET", "/v1/peer/link/jobs/m1/batches/1", "", []access.Role{party}, 0},
		{"POST", "/v1/peer/link/jobs/m1/batches/1/reblind", `{"elements":[]}`, []access.Role{party}, 0},
		{"POST", "/v1/peer/link/jobs/m1/batches/1/values", `{"elements":[]}`, []access.Role{party}, 422},
		{"POST", "/v1/peer/link/jobs/m1/finish", "", []access.Role{party}, 0},
		{"DELETE", "/v1/audiences/aud_own", "", []access.Role{adv}, 204},
	}
	st := pgtest.Store(t)
	keys := map[access.Role]string{}
	for _, r := range access.Roles {
		sec, k, _ := access.NewKey("acme", r, time.Now())
		if err := st.CreateAPIKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		keys[r] = sec
	}
	for _, a := range []audience.Audience{{ID: "aud_own", Tenant: "acme", Name: "o", Purpose: "ads"}, {ID: "aud_other", Tenant: "globex", Name: "x", Purpose: "ads"}} {
		if err := st.CreateAudience(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	ring, _ := keyring.NewRing("social", time.Now())
	d, _ := pseudonym.NewDeriver(ring, 1)
	aud := audienceService(st, d)
	srv := httptest.NewServer(api.New(api.Config{Party: "social", Keys: st, Audit: st, AuditChain: storetest.Chain(t, 1), Usage: st, OPRF: ev, Epoch: 1, Archive: st, AuthFailuresPerMinute: 1 << 30,
		Audiences: aud, Signals: st, Linking: newLinker(context.Background(), st, d, nil, slog.New(slog.DiscardHandler), 0)}).Handler())
	defer srv.Close()
	for _, rq := range requests {
		for _, role := range append([]access.Role{""}, access.Roles...) {
			req, _ := http.NewRequest(rq.method, srv.URL+rq.path, strings.NewReader(rq.body))
			req.Header.Set("Content-Type", "application/json")
			if role != "" {
				req.Header.Set("Authorization", "Bearer "+keys[role])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := http.StatusForbidden
			switch {
			case role == "":
				want = http.StatusUnauthorized
			case slices.Contains(rq.allowed, role):
				want = http.StatusOK
				if rq.ok != 0 {
					want = rq.ok
				}
			}
			if resp.StatusCode != want {
				t.Errorf("%s %s as %q: %d %s, want %d", rq.method, rq.path, role, resp.StatusCode, b, want)
			}
			shape := `"error":{"code":`
			if strings.HasPrefix(rq.path, "/v21.0/") {
				shape = `"error":{"message":` // the Graph shape
			}
			if want >= 400 && !bytes.Contains(b, []byte(shape)) {
				t.Errorf("%s %s as %q: not the error body: %s", rq.method, rq.path, role, b)
			}
		}
	}
}
