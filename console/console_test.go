package console_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/console"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/linkjob"
	lparty "github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// party is one party's server with its console, on a real database.
type party struct {
	st      *store.Store
	srv     *httptest.Server
	keys    map[access.Role]string
	linked  []string     // accounts with a link
	links   []psi.LinkID // their links, as the other party knows them
	people  []synth.Person
	logs    *syncBuffer // the server's logs
	api     *api.Server
	deriver *pseudonym.Deriver
}

// newPair is the two parties, each with people of its own and shared
// ones, that link through their peer routes.
func newPair(t testing.TB) (social, messenger *party) {
	t.Helper()
	ps := synth.People(21, 60)
	social = newNamedParty(t, "social", ps[:45], false)
	messenger = newNamedParty(t, "messenger", ps[15:], false)
	for _, c := range []struct{ a, b *party }{{social, messenger}, {messenger, social}} {
		// a's party key, which b uses to call a.
		sec, k, err := access.NewKey(string(c.b.api.Party), access.RoleParty, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.a.st.CreateAPIKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		pp := &linkjob.Party{Directory: c.b.st, Links: c.b.st, Staging: c.b.st, Jobs: c.b.st, Key: c.b.deriver.LinkKey(),
			KeyEpoch: c.b.deriver.Epoch, Usage: c.b.st}
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		c.b.api.Linking = &linkjob.Runner{Responder: linkjob.Responder{P: pp}, Peer: peer.NewClient(c.a.srv.URL, sec), Epoch: 1, Ctx: ctx}
	}
	return social, messenger
}

// syncBuffer is a log's buffer, written by the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newParty(t testing.TB) *party { return newPartyOf(t, 20) }

// newPartyOf is the social network, whose directory has n people, the
// first ten linked (with made-up links: the other party is simulated).
func newPartyOf(t testing.TB, n int) *party {
	return newNamedParty(t, "social", synth.People(11, n), true)
}

// newNamedParty is a party whose directory holds people, with made-up
// links for the first ten if fakeLinks.
func newNamedParty(t testing.TB, name string, people []synth.Person, fakeLinks bool) *party {
	t.Helper()
	ctx := context.Background()
	p := &party{st: pgtest.Store(t), keys: map[access.Role]string{}, logs: &syncBuffer{}, people: people}
	for _, r := range access.Roles {
		sec, k, err := access.NewKey("acme", r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := p.st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		p.keys[r] = sec
	}
	ring, err := keys.NewRing(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(ring, 1)
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("account_id,phone,country,ad_opt_out,blocked_businesses,ads_consent\n")
	for i, ps := range p.people {
		fmt.Fprintf(&csv, "acct-%02d,%s,%s,false,,granted\n", i, ps.E164, ps.Country)
	}
	dir := &directory.Importer{Store: p.st, Deriver: d}
	if _, err := dir.Import(ctx, strings.NewReader(csv.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	var ls []store.Link
	for i := range 10 {
		if !fakeLinks {
			break
		}
		var id psi.LinkID
		_, _ = rand.Read(id[:])
		acct := fmt.Sprintf("acct-%02d", i)
		ls = append(ls, store.Link{AccountID: acct, ID: id, Epoch: 1, CreatedAt: time.Now()})
		p.linked, p.links = append(p.linked, acct), append(p.links, id)
	}
	if err := p.st.PutLinks(ctx, ls, 0); err != nil && len(ls) > 0 {
		t.Fatal(err)
	}
	aud := &audience.Service{Store: p.st, Index: d.IndexKey(), Epoch: d.Epoch, Budget: p.st,
		Noise: audience.NewNoiseFrom(mrand.NewChaCha8([32]byte{9}))}
	log := slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := api.New(api.Config{Party: lparty.Party(name), Keys: p.st, Audit: p.st, AuditChain: storetest.Chain(t, 1), OPRF: d.OPRF(), Epoch: d.Epoch,
		Audiences: aud, Signals: p.st, Usage: p.st, Archive: p.st, Log: log,
		VerifyAudit: func(ctx context.Context) (int64, error) { return audit.Verify(ctx, p.st, storetest.ChainKeys(t), nil) }})
	if err := p.st.SaveBundle(ctx, policies.Default().Hash(), policies.Default().Files()); err != nil {
		t.Fatal(err)
	}
	p.api, p.deriver = s, d
	c, err := console.New(console.Config{API: s, Sessions: p.st, Party: name, Log: log, WASM: wasmFS})
	if err != nil {
		t.Fatal(err)
	}
	s.Mount(c)
	p.srv = httptest.NewServer(s.Handler())
	t.Cleanup(p.srv.Close)
	return p
}

// wasmFS holds the upload page's files when a test has built them
// (buildWASM).
var wasmFS fs.FS

// receive delivers flags from the other party, as its relay does: on the
// linked accounts i, with confidences conf.
func (p *party) receive(t testing.TB, typ string, conf float64, idx ...int) []string {
	t.Helper()
	var msgs []signal.Message
	var ids []string
	now := time.Now().UTC().Truncate(time.Second)
	for _, i := range idx {
		id := fmt.Sprintf("sig_%s_%d_%d", typ, i, mrand.IntN(1e9))
		msgs = append(msgs, signal.Message{Kind: signal.KindSignal, ID: id, LinkID: p.links[i], Type: typ, Confidence: conf,
			CreatedAt: now, ExpiresAt: now.Add(7 * 24 * time.Hour)})
		ids = append(ids, id)
	}
	body, _ := json.Marshal(peer.WireSignals(msgs))
	st, b := p.apiCall(t, "POST", "/v1/peer/signals", access.RoleParty, string(body))
	if st != 200 || strings.Count(string(b), "applied") != len(idx) {
		t.Fatalf("delivering flags: %d %s", st, b)
	}
	return ids
}

// apiCall makes an API request with a role's key.
func (p *party) apiCall(t testing.TB, method, path string, role access.Role, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, p.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.keys[role])
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// browser is a cookie-keeping HTTP client that does not follow
// redirects.
type browser struct {
	t   testing.TB
	c   *http.Client
	url string
}

func (p *party) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: p.srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func field(t testing.TB, re *regexp.Regexp, page string) string {
	t.Helper()
	m := re.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no %s in the page:\n%s", re, page)
	}
	return m[1]
}

// signIn signs in with a role's key and returns the page's CSRF token.
func (b *browser) signIn(key, name string) string {
	b.t.Helper()
	_, page := b.get("/console/signin")
	resp, body := b.post("/console/signin", url.Values{"token": {field(b.t, tokenRE, page)}, "key": {key}, "name": {name}, "next": {"/console/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		b.t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	_, home := b.get("/console/")
	return field(b.t, csrfRE, home)
}

func TestSignIn(t *testing.T) {
	p := newParty(t)
	b := p.browser(t)
	for path, to := range map[string]string{"/": "/console/", "/console": "/console/", "/console/": "/console/signin?next=%2Fconsole%2F",
		"/console/inbound?status=open": "/console/signin?next=%2Fconsole%2Finbound%3Fstatus%3Dopen"} {
		if resp, _ := b.get(path); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != to {
			t.Errorf("GET %s: %d to %q, want %q", path, resp.StatusCode, resp.Header.Get("Location"), to)
		}
	}
	for _, c := range []struct {
		key, name, token string
		status           int
		says             string
	}{
		{"lk_nope", "Ada", "", 401, "not valid"},
		{"", "Ada", "", 401, "required"},
		{p.keys[access.RoleTrustSafety], "", "", 422, "name"},
		{p.keys[access.RoleTrustSafety], "Ada", "forged", 403, "out of date"},
		{p.keys[access.RoleParty], "Ada", "", 403, "party key"},
	} {
		_, page := b.get("/console/signin")
		if c.token == "" {
			c.token = field(t, tokenRE, page)
		}
		resp, body := b.post("/console/signin", url.Values{"token": {c.token}, "key": {c.key}, "name": {c.name}})
		if resp.StatusCode != c.status || !strings.Contains(body, c.says) || strings.Contains(resp.Header.Get("Set-Cookie"), "linkd_session=lks") {
			t.Errorf("sign-in as %q with %q: %d, want %d saying %q", c.name, c.key, resp.StatusCode, c.status, c.says)
		}
	}
	_, page := b.get("/console/signin")
	tok := field(t, tokenRE, page)
	// Signed in: the cookie is the session's, kept from scripts and other
	// sites.
	resp, _ := b.post("/console/signin", url.Values{"token": {tok}, "key": {p.keys[access.RoleTrustSafety]}, "name": {"Ada Lovelace"}, "next": {"https://evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/" {
		t.Fatalf("sign-in: %d to %q (an outside next is not followed)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "linkd_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/console/" || !strings.HasPrefix(sess.Value, "lks_") {
		t.Fatalf("session cookie %+v", sess)
	}
	_, home := b.get("/console/")
	if !strings.Contains(home, "Ada Lovelace") || !strings.Contains(home, "Review queue") || strings.Contains(home, "Audit log") {
		t.Fatalf("home of a T&S analyst:\n%s", home)
	}
	// Sign-out ends the session where it is kept: the cookie no longer
	// opens a page.
	resp, _ = b.post("/console/signout", url.Values{"csrf": {field(t, csrfRE, home)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	stale := &browser{t: t, url: p.srv.URL, c: &http.Client{CheckRedirect: b.c.CheckRedirect}}
	req, _ := http.NewRequest("GET", p.srv.URL+"/console/", nil)
	req.AddCookie(sess)
	r2, err := stale.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r2.Header.Get("Location"), "/console/signin") {
		t.Fatalf("the session after sign-out: %d", r2.StatusCode)
	}
}

// TestRolesSeeTheirOwn: each role's menu and pages are those its key may
// use through the API; the others are neither shown nor served.
func TestRolesSeeTheirOwn(t *testing.T) {
	p := newParty(t)
	// The page, and the one role whose key may use it.
	pages := map[string]access.Role{"/console/inbound": access.RoleTrustSafety, "/console/outbound": access.RoleTrustSafety,
		"/console/inbound.csv": access.RoleTrustSafety, "/console/outbound.csv": access.RoleTrustSafety,
		"/console/audit": access.RoleCompliance, "/console/audit/1": access.RoleCompliance, "/console/policies": access.RoleCompliance,
		"/console/audiences": access.RoleAdvertiser, "/console/operations": access.RoleAdmin,
		"/console/audit/verification": access.RoleCompliance, "/console/policies/bundles": access.RoleCompliance}
	// An entry for "why" to explain.
	p.apiCall(t, "GET", "/v1/audit", access.RoleAdvertiser, "")
	for _, role := range []access.Role{access.RoleTrustSafety, access.RoleCompliance, access.RoleAdvertiser, access.RoleAdmin} {
		b := p.browser(t)
		b.signIn(p.keys[role], "someone")
		_, home := b.get("/console/")
		for path, owner := range pages {
			if strings.HasSuffix(path, ".csv") || strings.Count(path, "/") > 2 {
				continue
			}
			if got := strings.Contains(home, `href="`+path+`"`); got != (role == owner) {
				t.Errorf("%s: %s in the menu: %v", role, path, got)
			}
		}
		for path, owner := range pages {
			resp, body := b.get(path)
			if want := role == owner; (resp.StatusCode == 200) != want || (!want && (resp.StatusCode != 403 || !strings.Contains(body, "may not use this page"))) {
				t.Errorf("%s: GET %s: %d", role, path, resp.StatusCode)
			}
		}
	}
}

// TestDecideInTheConsole: a flag from the other party is decided in the
// console, one at a time and in bulk; the API then shows each decision
// with the person's name, and the audit log has the same entries as the
// API calls would make.
func TestDecideInTheConsole(t *testing.T) {
	p := newParty(t)
	ids := p.receive(t, "spam", 0.9, 0, 1, 2)
	b := p.browser(t)
	csrf := b.signIn(p.keys[access.RoleTrustSafety], "Ada Lovelace")
	_, queue := b.get("/console/inbound")
	for _, id := range ids {
		if !strings.Contains(queue, id) {
			t.Fatalf("the queue lacks %s:\n%s", id, queue)
		}
	}
	resp, _ := b.post("/console/signals/"+ids[0]+"/decide", url.Values{"csrf": {csrf}, "decision": {"disable"}, "reason": {"confirmed spam run"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/signals/"+ids[0] {
		t.Fatalf("decide: %d", resp.StatusCode)
	}
	_, page := b.get("/console/signals/" + ids[0])
	if !strings.Contains(page, "Decided: disable.") || !strings.Contains(page, "confirmed spam run") || !strings.Contains(page, "Ada Lovelace") {
		t.Fatalf("the signal's page after deciding:\n%s", page)
	}
	resp, _ = b.post("/console/inbound/decide", url.Values{"csrf": {csrf}, "decision": {"dismiss"}, "reason": {"benign"},
		"id": {ids[1], ids[2], "sig_nope"}, "back": {"/console/inbound?status=open"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/inbound?status=open" {
		t.Fatalf("bulk decide: %d", resp.StatusCode)
	}
	_, queue = b.get("/console/inbound?status=open")
	if !strings.Contains(queue, "Decided 2 of 3: dismiss.") || !strings.Contains(queue, "sig_nope") {
		t.Fatalf("the queue after a bulk decision:\n%s", queue)
	}
	for i, want := range []string{"disable", "dismiss", "dismiss"} {
		st, body := p.apiCall(t, "GET", "/v1/signals/"+ids[i], access.RoleTrustSafety, "")
		var s struct {
			Status   string
			Decision struct{ Decision, Reviewer string }
		}
		if err := json.Unmarshal(body, &s); err != nil || st != 200 || s.Status != want || s.Decision.Reviewer != "Ada Lovelace" {
			t.Fatalf("the API shows %s as %d %s", ids[i], st, body)
		}
	}
	es, err := p.st.AuditEntries(context.Background(), audit.Filter{Action: "signal.decide", Limit: 10})
	if err != nil || len(es) != 5 { // three taken (allow), one of no signal (allow, allow_failed)
		t.Fatalf("audit entries of the decisions: %d, %v", len(es), err)
	}
	var ts access.Key
	keys, _ := p.st.ListAPIKeys(context.Background())
	for _, k := range keys {
		if k.Role == access.RoleTrustSafety {
			ts = k
		}
	}
	for _, e := range es {
		if e.Actor != ts.ID || e.Role != "trust_safety" || e.Resource != "/v1/signals/inbound/:id/decision" {
			t.Fatalf("audit entry %+v", e)
		}
	}
	// CSV: the queue as it is filtered.
	resp, csv := b.get("/console/inbound.csv?status=dismiss")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || strings.Count(csv, "\n") != 3 || !strings.Contains(csv, ids[1]) || strings.Contains(csv, ids[0]) {
		t.Fatalf("CSV export: %d\n%s", resp.StatusCode, csv)
	}
}

// TestForgedForms: a form without the session's token, with another
// session's, or posted from another origin changes nothing.
func TestForgedForms(t *testing.T) {
	p := newParty(t)
	ids := p.receive(t, "spam", 0.9, 0)
	victim, other := p.browser(t), p.browser(t)
	csrf := victim.signIn(p.keys[access.RoleTrustSafety], "Ada")
	otherCSRF := other.signIn(p.keys[access.RoleTrustSafety], "Mallory")
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "decision": {"disable"}, "reason": {"forged"}}
	}
	for name, c := range map[string]struct {
		form   url.Values
		header []string
	}{
		"no token":            {url.Values{"decision": {"disable"}, "reason": {"forged"}}, nil},
		"empty token":         {form(""), nil},
		"another's token":     {form(otherCSRF), nil},
		"a token tampered":    {form(csrf[:len(csrf)-2] + "AA"), nil},
		"from another origin": {form(csrf), []string{"Origin", "https://evil.example"}},
	} {
		resp, body := victim.post("/console/signals/"+ids[0]+"/decide", c.form, c.header...)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "nothing was changed") {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	// Without a session, a form is refused outright.
	anon := p.browser(t)
	if resp, _ := anon.post("/console/signals/"+ids[0]+"/decide", form(csrf)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d", resp.StatusCode)
	}
	st, body := p.apiCall(t, "GET", "/v1/signals/"+ids[0], access.RoleTrustSafety, "")
	if st != 200 || strings.Contains(string(body), `"decision"`) {
		t.Fatalf("a forged form changed the signal: %s", body)
	}
	if es, _ := p.st.AuditEntries(context.Background(), audit.Filter{Action: "signal.decide", Limit: 10}); len(es) != 0 {
		t.Fatalf("forged forms reached the API: %+v", es)
	}
	// The real form, for contrast, is taken.
	if resp, _ := victim.post("/console/signals/"+ids[0]+"/decide", form(csrf)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the victim's own form: %d", resp.StatusCode)
	}
}

// TestRaiseInTheConsole: a flag raised in the console is the API's: it
// says whether it crosses, and why not; bad input changes nothing.
func TestRaiseInTheConsole(t *testing.T) {
	p := newParty(t)
	b := p.browser(t)
	csrf := b.signIn(p.keys[access.RoleTrustSafety], "Ada")
	raise := func(acct, conf, days string) (*http.Response, string) {
		return b.post("/console/outbound", url.Values{"csrf": {csrf}, "account_id": {acct}, "type": {"malicious_link"},
			"confidence": {conf}, "days": {days}, "evidence_ref": {"case-7"}})
	}
	resp, _ := raise("acct-00", "0.9", "30")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/signals/sig_") {
		t.Fatalf("raise: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := b.get(resp.Header.Get("Location"))
	if !strings.Contains(page, "Flag raised: it crosses to the other party.") || !strings.Contains(page, "case-7") {
		t.Fatalf("the flag's page:\n%s", page)
	}
	resp, _ = raise("acct-15", "0.9", "30")
	_, page = b.get(resp.Header.Get("Location"))
	if !strings.Contains(page, "it does not cross to the other party: not_linked_yet.") {
		t.Fatalf("an unlinked account's flag:\n%s", page)
	}
	for _, c := range []struct{ acct, conf, days, says string }{
		{"acct-00", "high", "30", "confidence"}, {"acct-00", "0.9", "0", "expires in"}, {"acct-00", "0.9", "400", "at most"},
		{"nobody", "0.9", "30", ""}, {"acct-00", "1.5", "30", "confidence"},
	} {
		resp, page := raise(c.acct, c.conf, c.days)
		if resp.StatusCode < 400 || !strings.Contains(strings.ToLower(page), c.says) {
			t.Errorf("raise %+v: %d\n%s", c, resp.StatusCode, page)
		}
	}
	st, body := p.apiCall(t, "GET", "/v1/signals", access.RoleTrustSafety, "")
	if st != 200 || strings.Count(string(body), `"id"`) != 2 {
		t.Fatalf("signals after bad input: %d %s", st, body)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/console/inbound?status=open": "/console/inbound?status=open",
		"/console/":                    "/console/",
		"/console/../evil":             "/console/",
		"/console/..//evil.com":        "/console/",
		"//evil.com/console/":          "/console/",
		"https://evil.com/console/":    "/console/",
		"/console/\t/../..//evil.com":  "/console/",
		"/console/\x7f":                "/console/",
		"/console\\evil":               "/console/",
		"/console/a/./b/":              "/console/a/b/",
		"":                             "/console/",
	} {
		if got := console.LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBulkDecisionStopsAtTheLimit: a bulk decision stops at the key's
// rate limit instead of spending the rest of the minute's requests; its
// size and ids are checked before any is taken.
func TestBulkDecisionStopsAtTheLimit(t *testing.T) {
	p := newParty(t)
	ids := p.receive(t, "spam", 0.9, 0, 1, 2, 3, 4, 5, 6, 7)
	b := p.browser(t)
	csrf := b.signIn(p.keys[access.RoleTrustSafety], "Ada")
	for _, bad := range [][]string{make([]string, 101), {"sig_ok", strings.Repeat("x", 65)}, {"../x"}} {
		for i := range bad {
			if bad[i] == "" {
				bad[i] = fmt.Sprintf("sig_%d", i)
			}
		}
		resp, page := b.post("/console/inbound/decide", url.Values{"csrf": {csrf}, "decision": {"dismiss"}, "reason": {"r"}, "id": bad})
		if low := strings.ToLower(page); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(low, "at most 100") && !strings.Contains(low, "a signal id is") {
			t.Fatalf("bulk of %d: %d", len(bad), resp.StatusCode)
		}
	}
	// A fresh minute (a clock of its own) with three requests to it.
	p.api.Now = func() time.Time { return time.Date(2030, 1, 1, 12, 0, 30, 0, time.UTC) }
	p.api.Limits.RequestsPerMinute = 3
	resp, _ := b.post("/console/inbound/decide", url.Values{"csrf": {csrf}, "decision": {"dismiss"}, "reason": {"r"}, "id": ids, "back": {"/console/inbound"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk decision: %d", resp.StatusCode)
	}
	p.api.Limits.RequestsPerMinute = 0
	_, page := b.get("/console/inbound?status=open")
	if !strings.Contains(page, "Decided 3 of 8: dismiss. The other 5 were not decided: The requests limit is reached") {
		t.Fatalf("the notice:\n%s", page)
	}
	es, _ := p.st.AuditEntries(context.Background(), audit.Filter{Action: "signal.decide", Limit: 100})
	if len(es) != 4 { // three taken, one refused by the limit
		t.Fatalf("%d audit entries for the bulk decision", len(es))
	}
}

// TestSecureCookiesBehindAProxy: a console told its cookies are Secure
// (linkd serve's default) marks them so on plain HTTP too, and its
// sign-in page warns when that will stop a browser off this machine.
func TestSecureCookiesBehindAProxy(t *testing.T) {
	p := newParty(t)
	c, err := console.New(console.Config{API: p.api, Sessions: p.st, Party: "social", SecureCookies: true})
	if err != nil {
		t.Fatal(err)
	}
	get := func(host, proto string) (*httptest.ResponseRecorder, string) {
		req := httptest.NewRequest("GET", "/console/signin", nil)
		req.Host = host
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		return rec, rec.Body.String()
	}
	for _, h := range []struct {
		host, proto string
		warn        bool
	}{{"console.example:8080", "", true}, {"console.example", "https", false}, {"127.0.0.1:8080", "", false}, {"localhost:8080", "", false}, {"[::1]:8080", "", false}} {
		rec, page := get(h.host, h.proto)
		if strings.Contains(page, "came over plain HTTP") != h.warn || !strings.Contains(rec.Header().Get("Set-Cookie"), "; Secure") {
			t.Errorf("%s %s: warning %v, cookie %q", h.host, h.proto, !h.warn, rec.Header().Get("Set-Cookie"))
		}
	}
}

// TestConsoleAnswers: an address the console lacks is a page of its own;
// a confidence typed as the table shows it (90, 90%) filters as 0.9; a
// key typed where its id belongs goes no further.
func TestConsoleAnswers(t *testing.T) {
	p := newParty(t)
	p.receive(t, "malicious_link", 0.95, 0)
	p.receive(t, "malicious_link", 0.85, 1)
	b := p.browser(t)
	b.signIn(p.keys[access.RoleTrustSafety], "Ada")
	if resp, page := b.get("/console/flags"); resp.StatusCode != 404 || !strings.Contains(page, "no page at this address") || !strings.Contains(page, `href="/console/"`) {
		t.Fatalf("an unknown page: %d\n%s", resp.StatusCode, page)
	}
	for _, q := range []string{"90", "90%", "0.9"} {
		resp, page := b.get("/console/inbound?min_confidence=" + url.QueryEscape(q))
		if resp.StatusCode != 200 || strings.Count(page, `href="/console/signals/`) != 1 {
			t.Fatalf("min_confidence=%s: %d\n%s", q, resp.StatusCode, page)
		}
	}
	c := p.browser(t)
	c.signIn(p.keys[access.RoleCompliance], "Carla")
	if resp, page := c.get("/console/audit?actor=" + url.QueryEscape(p.keys[access.RoleTrustSafety])); resp.StatusCode != 422 || !strings.Contains(page, "a secret") {
		t.Fatalf("a key as a filter: %d", resp.StatusCode)
	}
}
