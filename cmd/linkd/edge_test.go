package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// edgeServer is one party on PostgreSQL behind the real router, with a key
// of every role of tenant acme.
type edgeServer struct {
	url  string
	keys map[access.Role]string
}

// pgParty is the social party's store, migrated, of the test's own, and
// a deriver of fresh keys.
func pgParty(t testing.TB) (*store.Store, *pseudonym.Deriver) {
	t.Helper()
	st := pgtest.Store(t)
	ring, err := keyring.NewRing("social", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(ring, 1)
	if err != nil {
		t.Fatal(err)
	}
	return st, d
}

func newEdgeServer(t testing.TB) *edgeServer {
	t.Helper()
	ctx := context.Background()
	st, d := pgParty(t)
	e := &edgeServer{keys: map[access.Role]string{}}
	for _, r := range access.Roles {
		sec, k, err := access.NewKey("acme", r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		e.keys[r] = sec
	}
	h := api.New(api.Config{Party: "social", Keys: st, Audit: st, AuditChain: storetest.Chain(t, 1), Usage: st, OPRF: d.OPRF(), Epoch: 1,
		Audiences: audienceService(st, d), Signals: st, Archive: st, Limits: api.Limits{RequestsPerMinute: 1 << 40}})
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// textCase is a request with one string field or parameter, X, where the
// text under test goes.
type textCase struct {
	role         access.Role
	method, path string
	body, ctype  string
	field        string // what the refusal must name
}

var textCases = []textCase{
	{role: access.RoleAdvertiser, method: "POST", path: "/v1/audiences", body: `{"name":X,"purpose":"ads"}`, field: "name"},
	{role: access.RoleAdvertiser, method: "POST", path: "/v1/audiences", body: `{"name":"n","purpose":X}`, field: "purpose"},
	{role: access.RoleAdvertiser, method: "POST", path: "/v1/audiences", body: `{"name":"n","purpose":"ads","description":X}`, field: "description"},
	{role: access.RoleAdvertiser, method: "GET", path: "/v1/audiences?after=X", field: "after"},
	{role: access.RoleAdvertiser, method: "GET", path: "/v1/audiences/X", field: "id"},
	{role: access.RoleAdvertiser, method: "DELETE", path: "/v1/audiences/X", field: "id"},
	{role: access.RoleAdvertiser, method: "POST", path: "/v1/audiences/aud_1/users", field: "session.session_id",
		body: `{"payload":{"schema":"PHONE_SHA256","data":["00"]},"session":{"session_id":X,"batch_seq":1}}`},
	{role: access.RoleAdvertiser, method: "POST", path: "/v1/audiences/aud_1/users", field: "payload.schema",
		body: `{"payload":{"schema":X,"data":["00"]},"session":{"session_id":"s","batch_seq":1}}`},
	{role: access.RoleAdvertiser, method: "POST", path: "/v21.0/aud_1/users", ctype: "application/x-www-form-urlencoded", field: "session",
		body: `payload={"schema":"PHONE_SHA256","data":["00"]}&session=X`},
	{role: access.RoleAdvertiser, method: "POST", path: "/v21.0/act_acme/customaudiences", field: "name",
		body: `{"name":X,"subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY"}`},
	{role: access.RoleAdvertiser, method: "POST", path: "/v21.0/act_acme/customaudiences", field: "description",
		body: `{"name":"n","subtype":"CUSTOM","customer_file_source":"USER_PROVIDED_ONLY","description":X}`},
	{role: access.RoleAdvertiser, method: "POST", path: "/v21.0/act_acme/customaudiences", ctype: "application/x-www-form-urlencoded", field: "name",
		body: `subtype=CUSTOM&customer_file_source=USER_PROVIDED_ONLY&name=X`},
	{role: access.RoleAdvertiser, method: "GET", path: "/v21.0/aud_1?fields=X", field: "fields"},
	{role: access.RoleAdvertiser, method: "DELETE", path: "/v21.0/X", field: "id"},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals", field: "account_id",
		body: `{"account_id":X,"type":"spam","confidence":0.9,"expires_at":"2030-01-01T00:00:00Z"}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals", field: "evidence_ref",
		body: `{"account_id":"a","type":"spam","confidence":0.9,"expires_at":"2030-01-01T00:00:00Z","evidence_ref":X}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals", field: "note",
		body: `{"account_id":"a","type":"spam","confidence":0.9,"expires_at":"2030-01-01T00:00:00Z","note":X}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals", field: "type",
		body: `{"account_id":"a","type":X,"confidence":0.9,"expires_at":"2030-01-01T00:00:00Z"}`},
	{role: access.RoleTrustSafety, method: "GET", path: "/v1/signals/inbound?status=X", field: "status"},
	{role: access.RoleTrustSafety, method: "GET", path: "/v1/signals/inbound?type=X", field: "type"},
	{role: access.RoleTrustSafety, method: "GET", path: "/v1/signals?after=X", field: "after"},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals/inbound/X/decision", field: "id", body: `{"decision":"dismiss","reason":"r"}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals/inbound/sig_1/decision", field: "reason", body: `{"decision":"dismiss","reason":X}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals/inbound/sig_1/decision", field: "reviewer", body: `{"decision":"dismiss","reason":"r","reviewer":X}`},
	{role: access.RoleTrustSafety, method: "POST", path: "/v1/signals/X/revoke", field: "id"},
	{role: access.RoleCompliance, method: "GET", path: "/v1/audit?actor=X", field: "actor"},
	{role: access.RoleCompliance, method: "GET", path: "/v1/audit?action=X", field: "action"},
	{role: access.RoleCompliance, method: "POST", path: "/v1/policies/explain", field: "tenant",
		body: `{"role":"advertiser","tenant":X,"action":"audience.read","resource":{"kind":"audience"}}`},
	{role: access.RoleAdmin, method: "GET", path: "/v1/link/jobs/X", field: "id"},
}

// do sends c with text in place of X and returns the status and body.
func (e *edgeServer) do(t testing.TB, c textCase, text string) (int, []byte) {
	t.Helper()
	path, body := c.path, c.body
	if i := strings.Index(path, "X"); i >= 0 {
		if strings.Contains(path[:i], "?") {
			path = path[:i] + url.QueryEscape(text) + path[i+1:]
		} else {
			path = path[:i] + url.PathEscape(text) + path[i+1:]
		}
	}
	if c.ctype != "" {
		body = strings.Replace(body, "X", url.QueryEscape(jsonString(text)), 1)
	} else {
		body = strings.Replace(body, "X", jsonString(text), 1)
	}
	st, _, b := send(t, edgeClient, c.method, e.url+path, e.keys[c.role], c.ctype, body)
	return st, b
}

// edgeClient gives up on an answer after 5 seconds: a request that hangs
// is a failure too.
var edgeClient = &http.Client{Timeout: 5 * time.Second}

// jsonString quotes s as a JSON string, keeping bytes that are not UTF-8
// as they are (encoding/json would replace them).
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestTextAtTheEdge: a NUL character or bytes that are not UTF-8, in any
// string field or parameter of the routes, are refused with 422 naming
// the field, before anything reaches the store (which would refuse them
// with a 500).
func TestTextAtTheEdge(t *testing.T) {
	e := newEdgeServer(t)
	for _, c := range textCases {
		for _, text := range []string{"a\x00b", "a\xffb", "\xc3"} {
			st, b := e.do(t, c, text)
			var out struct {
				Error struct {
					Code    any            `json:"code"`
					Message string         `json:"message"`
					Details map[string]any `json:"details"`
					Data    map[string]any `json:"error_data"` // the Graph shape's
				} `json:"error"`
			}
			_ = json.Unmarshal(b, &out)
			code, details := out.Error.Code, out.Error.Details
			if strings.HasPrefix(c.path, "/v21.0/") {
				code, details = out.Error.Data["code"], out.Error.Data
			}
			named := details["field"] == c.field || details["parameter"] == c.field ||
				strings.Contains(out.Error.Message, c.field)
			if st != http.StatusUnprocessableEntity || code != "invalid_request" || !named {
				t.Errorf("%s %s with %q in %s: %d %s, want 422 naming %s", c.method, c.path, text, c.field, st, b, c.field)
			}
		}
	}
}

// FuzzTextAtTheEdge puts any text in each string field and parameter of
// the routes, on PostgreSQL: no answer is an internal error (500).
func FuzzTextAtTheEdge(f *testing.F) {
	for _, s := range []string{"", "a", "a\x00b", "\xff", "\xc3", "é", "\u2028", strings.Repeat("x", 300), "%00", "\\u0000"} {
		f.Add(uint8(0), s)
	}
	e := newEdgeServer(f)
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		c := textCases[int(which)%len(textCases)]
		if st, b := e.do(t, c, text); st == http.StatusInternalServerError {
			t.Fatalf("%s %s with %q: %d %s", c.method, c.path, text, st, b)
		}
	})
}
