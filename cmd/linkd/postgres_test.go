package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	keyring "github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
)

func runCmd(t *testing.T, environ map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(&env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}, args)
	return code, out.String(), errb.String()
}

// schemaEnv returns a migrated schema and the environment that points the
// commands at it.
func schemaEnv(t *testing.T) (*store.Store, map[string]string) {
	t.Helper()
	pool, schema := pgtest.Schema(t)
	return store.New(pool), map[string]string{"DATABASE_URL": pgtest.AppURL(t, schema), "LINKD_PASSPHRASE": "a passphrase for the tests",
		"LINKD_KEYS": filepath.Join(t.TempDir(), "k")}
}

func TestAPIKeysAndAuditPostgres(t *testing.T) {
	s, environ := schemaEnv(t)
	if code, _, errs := runCmd(t, environ, "migrate"); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCmd(t, environ, "apikey", "create", "--tenant", "acme", "--role", "advertiser")
	if code != 0 || errs != "" {
		t.Fatalf("create: %d %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	secret := lines[len(lines)-1]
	if !strings.HasPrefix(secret, "lk_") || len(secret) < 40 {
		t.Fatalf("last line %q is not a key", secret)
	}
	k, err := s.APIKeyByHash(context.Background(), access.HashKey(secret))
	if err != nil || k.Tenant != "acme" || k.Role != access.RoleAdvertiser {
		t.Fatalf("stored key = %+v, %v", k, err)
	}
	code, out, _ = runCmd(t, environ, "apikey", "list")
	if code != 0 || !strings.Contains(out, k.ID) || strings.Contains(out, secret) || !strings.Contains(out, "active") {
		t.Fatalf("list: %q", out)
	}
	if code, _, _ := runCmd(t, environ, "apikey", "revoke", k.ID); code != 0 {
		t.Fatal("revoke failed")
	}
	if code, _, errs := runCmd(t, environ, "apikey", "revoke", "key_nope"); code != 1 || !strings.Contains(errs, "no key with id") {
		t.Fatalf("revoke unknown: %d %q", code, errs)
	}
	k, _ = s.APIKeyByHash(context.Background(), access.HashKey(secret))
	if k.RevokedAt.IsZero() {
		t.Fatal("the key was not revoked")
	}

}

// TestAuditCommandsPostgres: the audit log of a schema set up as the
// README says (migrated by the serving role, then handed to an owner of
// its own by linkd migrate --audit-owner as the administrator), checked
// and anchored with the key file: verify holds, a checkpoint is written
// to the log and a file, and a log whose last entries were deleted by
// someone who controls the database (but not the key file) fails verify
// against that checkpoint, and is not signed again.
func TestAuditCommandsPostgres(t *testing.T) {
	ctx := context.Background()
	s, environ := schemaEnv(t)
	for _, args := range [][]string{{"migrate"}, {"keys", "init", "--party", "social"}} {
		if code, _, errs := runCmd(t, environ, args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	var schema string
	if err := s.Pool().QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(pgtest.URL(t))
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	code, out, errs := runCmd(t, map[string]string{"DATABASE_URL": u.String()}, "migrate", "--audit-owner", pgtest.AuditRole, "--app-role", pgtest.AppRole)
	if code != 0 || !strings.Contains(out, "audit_log belongs to "+pgtest.AuditRole) {
		t.Fatalf("migrate --audit-owner: %d %s%s", code, out, errs)
	}
	if _, err := s.Pool().Exec(ctx, `DELETE FROM audit_log`); err == nil {
		t.Fatal("the serving role may delete from the audit log")
	}
	ring, err := keyring.ReadFile(environ["LINKD_KEYS"], keyring.Unlock{Passphrase: []byte(environ["LINKD_PASSPHRASE"])})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := auditChain(ring)
	if err != nil {
		t.Fatal(err)
	}
	appendN := func(n int) {
		for i := range n {
			if _, err := s.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "cli", Resource: fmt.Sprint(i), Decision: "allow"}, chain); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendN(3)
	if code, out, _ := runCmd(t, environ, "audit", "verify"); code != 0 || !strings.Contains(out, "3 entries, chain intact") {
		t.Fatalf("verify: %d %q", code, out)
	}
	file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	if code, out, errs := runCmd(t, environ, "audit", "checkpoint", "--checkpoints", file); code != 0 || !strings.Contains(out, "checkpoint of entry 4") {
		t.Fatalf("checkpoint: %d %s%s", code, out, errs)
	}
	appendN(2)
	if code, out, errs := runCmd(t, environ, "audit", "verify", "--checkpoints", file); code != 0 || !strings.Contains(out, "6 entries, chain intact, and it holds every checkpoint in the file (1), the newest of entry 4") {
		t.Fatalf("verify with the checkpoint: %d %s%s", code, out, errs)
	}
	// Without the key file, verify cannot vouch for anything.
	noKeys := maps.Clone(environ)
	noKeys["LINKD_KEYS"] = ""
	if code, _, errs := runCmd(t, noKeys, "audit", "verify"); code != 1 || !strings.Contains(errs, "--keys") {
		t.Fatalf("verify without the key file: %d %s", code, errs)
	}
	if _, err := pgtest.Admin(t, schema).Exec(ctx, `SET session_replication_role = replica; DELETE FROM audit_log WHERE seq >= 3`); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCmd(t, environ, "audit", "verify"); code != 0 || !strings.Contains(out, "2 entries, chain intact (no checkpoint given") {
		t.Fatalf("verify without the checkpoint, after the deletion: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, environ, "audit", "verify", "--checkpoints", file); code != 1 || !strings.Contains(errs, "chain broken at entry 3: missing") {
		t.Fatalf("verify with the checkpoint, after the deletion: %d %q", code, errs)
	}
	// Nor is the shortened log signed: a checkpoint now is refused.
	if code, _, errs := runCmd(t, environ, "audit", "checkpoint", "--checkpoints", file); code != 1 || !strings.Contains(errs, "no longer holds the newest checkpoint") {
		t.Fatalf("checkpoint after the deletion: %d %q", code, errs)
	}
}

// TestMigrateAndImportPostgres runs linkd migrate and linkd directory
// import against PostgreSQL, twice, and checks what is stored.
func TestMigrateAndImportPostgres(t *testing.T) {
	s, environ := schemaEnv(t)
	dir := t.TempDir()

	code, out, errs := runCmd(t, environ, "migrate")
	if code != 0 || !strings.Contains(out, "applied migration 0001") {
		t.Fatalf("migrate: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCmd(t, environ, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, environ, "keys", "init", "--party", "messenger"); code != 0 {
		t.Fatalf("keys init: %s", errs)
	}
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out\n")
	for i, p := range synth.People(3, 1000) {
		fmt.Fprintf(&b, "m%04d,%s,%s,false\n", i, p.National, p.Country)
	}
	file := filepath.Join(dir, "dir.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		code, out, errs := runCmd(t, environ, "directory", "import", "--party", "messenger", "--batch", "300", file)
		if code != 0 || !strings.Contains(out, "imported 1000 of 1000 rows (0 invalid)") {
			t.Fatalf("import: %d %q %q", code, out, errs)
		}
	}
	n, err := s.CountAccounts(context.Background())
	if err != nil || n != 1000 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
}

// syncBuffer is a bytes.Buffer safe for a server's concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// running is a long-running command started by startCmd.
type running struct {
	out, logs syncBuffer
	cancel    context.CancelFunc
	done      chan int
	stopped   bool
}

// startCmd runs a long-running command (serve, dev) in the background; stop
// ends it as SIGINT would.
func startCmd(environ map[string]string, args ...string) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan int, 1)}
	go func() {
		r.done <- run(&env{stdin: strings.NewReader(""), stdout: &r.out, stderr: &r.logs, ctx: ctx,
			getenv: func(k string) string { return environ[k] }}, args)
	}()
	return r
}

// stop ends the command and fails the test unless it exits 0 within 10 s;
// stopping it again does nothing.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	r.cancel()
	select {
	case code := <-r.done:
		if code != 0 {
			t.Fatalf("exited %d\n%s", code, r.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServePostgres starts linkd serve on PostgreSQL with --migrate, calls
// it with a key made by linkd apikey create, and stops it.
func TestServePostgres(t *testing.T) {
	_, environ := schemaEnv(t)
	if code, _, errs := runCmd(t, environ, "keys", "init", "--party", "social"); code != 0 {
		t.Fatal(errs)
	}
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	debug := maps.Clone(environ)
	debug["LINKD_LOG_LEVEL"] = "debug"
	srv := startCmd(debug, "serve", "--party", "social", "--addr", addr, "--metrics-addr", metricsAddr, "--migrate")
	defer srv.cancel()
	base := "http://" + addr
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = http.Get(base + "/readyz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v\n%s", resp, err, srv.logs.String())
	}
	resp.Body.Close()
	code, out, _ := runCmd(t, environ, "apikey", "create", "--tenant", "acme", "--role", "advertiser")
	if code != 0 {
		t.Fatal("apikey create failed")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	req, _ := http.NewRequest("GET", base+"/v1/oprf/config?access_token="+key, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("config: %v %v", resp, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"suite":"ristretto255-SHA512"`) {
		t.Fatalf("config body %s", b)
	}

	// The janitor has swept once at start; the bundle in force is named.
	// (The sweep runs beside the server: wait for it.)
	// The metrics address serves them without a key; the API's does not.
	if resp, err = http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics on the API's address without a key: %v %v", resp, err)
	}
	resp.Body.Close()
	for range 100 {
		resp, err = http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "linkd_retention_purged_total{") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range []string{`linkd_retention_purged_total{kind="links"} 0`, `linkd_policy_bundle_info{hash="` + policies.Default().Hash() + `"} 1`,
		`linkd_policy_reload_failing 0`} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	// The advertiser is denied the audit log; compliance asks why, in one
	// command, from the audit entry.
	req, _ = http.NewRequest("GET", base+"/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("advertiser reading the audit log: %v %v", resp, err)
	}
	resp.Body.Close()
	code, out, _ = runCmd(t, environ, "apikey", "create", "--tenant", "acme", "--role", "compliance")
	if code != 0 {
		t.Fatal("apikey create failed")
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	comp := lines[len(lines)-1]
	code, out, errs := runCmd(t, environ, "policy", "explain", "--server", base, "--key", comp, "--audit", "1")
	if code != 0 || !strings.Contains(out, "audit entry 1: deny by ") || !strings.Contains(out, "decided again under the recorded bundle") ||
		!strings.Contains(out, "request: role advertiser, tenant \"acme\", action audit.read") ||
		!strings.Contains(out, "because: no rule permits this request (default deny)") {
		t.Fatalf("explain --audit 1: exit %d\n%s%s", code, out, errs)
	}
	if code, _, errs = runCmd(t, environ, "policy", "explain", "--server", base, "--key", key, "--audit", "1"); code != 1 ||
		!strings.Contains(errs, "403 forbidden") {
		t.Fatalf("explain with an advertiser key: exit %d %s", code, errs)
	}
	if code, _, errs = runCmd(t, environ, "policy", "explain", "--server", base, "--key", comp, "--audit", "99"); code != 1 ||
		!strings.Contains(errs, "no entry 99") {
		t.Fatalf("explain of a missing entry: exit %d %s", code, errs)
	}
	// A proposed bundle that lets advertisers read the audit log: the
	// test requests do not show it, the audit log's recorded refusal does.
	oldDir, newDir := t.TempDir(), t.TempDir()
	for _, d := range []string{oldDir, newDir} {
		if err := os.CopyFS(d, policies.DefaultFS()); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(newDir, "proposed.cedar"), []byte(`@id("advertiser-audit")
permit (principal, action == Action::"audit.read", resource) when { principal.role == "advertiser" };
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, environ, "policy", "diff", "--server", base, "--key", comp, oldDir, newDir)
	if code != 1 || !regexp.MustCompile(`(?m)^audit:[0-9]+: audit.read at `).MatchString(out) || !strings.Contains(out, "new: allow (advertiser-audit)") ||
		!regexp.MustCompile(`(?m)^[1-9][0-9]* requests of the audit log replayed \(the last 30 days\)$`).MatchString(out) {
		t.Fatalf("policy diff --server: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs = runCmd(t, environ, "policy", "diff", "--server", base, "--key", comp, oldDir, oldDir); code != 0 ||
		!strings.Contains(out, "0 requests change decision") {
		t.Fatalf("policy diff of one bundle with itself: exit %d\n%s%s", code, out, errs)
	}
	srv.stop(t)
	l := srv.logs.String()
	if !strings.Contains(l, `"msg":"request"`) || !strings.Contains(l, `"route":"/v1/oprf/config"`) {
		t.Fatalf("no request log:\n%s", l)
	}
	// At LINKD_LOG_LEVEL=debug, the probes are logged too.
	if !strings.Contains(l, `"level":"DEBUG"`) || !strings.Contains(l, `"route":"/readyz"`) {
		t.Fatalf("no debug log of the probes at LINKD_LOG_LEVEL=debug:\n%.3000s", l)
	}
	if code, _, errs := runCmd(t, environ, "serve", "--party", "social", "--log-level", "loud"); code != 2 || !strings.Contains(errs, "log-level") {
		t.Fatalf("serve --log-level loud: exit %d %s", code, errs)
	}
	if strings.Contains(l, key) || strings.Contains(l, key[3:20]) {
		t.Fatal("the API key reached the log")
	}
}

// TestNoNumberAtRestAfterUploads runs a party on PostgreSQL, imports its
// directory, uploads customer lists in every mode and schema through the
// CLI, and then searches a dump of every table, the server's logs and the
// commands' output for every number of the directory and the lists in
// every form: none may be there.
func TestNoNumberAtRestAfterUploads(t *testing.T) {
	s, environ := schemaEnv(t)
	dir := t.TempDir()
	var said strings.Builder // everything the commands printed
	runOK := func(args ...string) string {
		t.Helper()
		code, out, errs := runCmd(t, environ, args...)
		said.WriteString(out + errs)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
		return out
	}
	runOK("migrate")
	runOK("keys", "init", "--party", "social")
	users, strangers := synth.People(41, 500), synth.People(42, 100)
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,ads_consent\n")
	for i, p := range users {
		fmt.Fprintf(&b, "s%04d,%s,%s,%v,granted\n", i, p.National, p.Country, i%5 == 0)
	}
	file := filepath.Join(dir, "dir.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runOK("directory", "import", "--party", "social", file)
	addr := freeAddr(t)
	srv := startCmd(environ, "serve", "--party", "social", "--addr", addr, "--metrics-addr", "off")
	defer srv.cancel()
	base := "http://" + addr
	for range 100 {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := runOK("apikey", "create", "--tenant", "acme", "--role", "advertiser")
	key := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])

	var list strings.Builder
	list.WriteString("phone,country\n")
	for _, p := range append(users[:400], strangers...) {
		fmt.Fprintf(&list, "%s,%s\n", p.National, p.Country)
	}
	listFile := filepath.Join(dir, "customers.csv")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, up := range [][]string{{"--mode", "hash", "--schema", "PHONE_SHA256"}, {"--mode", "hash", "--schema", "PHONE_E164_SHA256"},
		{"--mode", "hash", "--schema", "PHONE_E164_SHA256_B64"}, {"--mode", "private"}} {
		req, _ := http.NewRequest("POST", base+"/v1/audiences", strings.NewReader(`{"name":"n","purpose":"ads"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create: %v %v", resp, err)
		}
		var a struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		out := runOK(append(append([]string{"audience", "upload", "--server", base, "--key", key, "--audience", a.ID}, up...), listFile)...)
		if !strings.Contains(out, "500 received, 0 invalid at the server") {
			t.Fatalf("%v: %s", up, out)
		}
		// 400 users, of whom every fifth opted out: 320 members.
		if m, err := s.Members(context.Background(), a.ID); err != nil || len(m) != 320 {
			t.Fatalf("%v: %d members, %v", up, len(m), err)
		}
	}
	srv.stop(t)
	d := pgtest.Dump(t, s.Pool())
	if !strings.Contains(d, "-- audience_members: 1280 rows") || !strings.Contains(d, "-- audit_log: ") {
		t.Fatalf("the dump does not hold the audiences:\n%.2000s", d)
	}
	all := d + srv.logs.String() + srv.out.String() + said.String()
	hits := 0
	for _, p := range append(users, strangers...) {
		for _, f := range p.Forms() {
			if strings.Contains(all, f) {
				hits++
			}
		}
	}
	if hits != 0 {
		t.Fatalf("%d forms of input numbers found at rest or in the logs", hits)
	}
}

// TestLinkTwoServesPostgres starts two parties as two linkd serve, each on
// its own PostgreSQL schema with its own directory, each with the party
// key the other issued, and links them with linkd link run.
func TestLinkTwoServesPostgres(t *testing.T) {
	people := synth.People(77, 1600) // social [0, 1000), messenger [600, 1600): 400 common
	ps, admin := servedParties(t, people[:1000], people[600:], 4)
	_, out, _ := runCmd(t, ps[0].environ, "apikey", "create", "--tenant", "tns", "--role", "trust_safety")
	flagKey := lastLine(out)
	_, out, _ = runCmd(t, ps[1].environ, "apikey", "create", "--tenant", "tns", "--role", "trust_safety")
	reviewKey := lastLine(out)
	type flagged struct {
		ID      string `json:"id"`
		Crosses bool   `json:"crosses"`
		Reason  string `json:"reason"`
	}
	raise := func(acct string) flagged {
		t.Helper()
		body := `{"account_id":"` + acct + `","type":"scam","confidence":0.95,"evidence_ref":"case-9","expires_at":"` +
			time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}`
		req, _ := http.NewRequest("POST", "http://"+ps[0].addr+"/v1/signals", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+flagKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var f flagged
		if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 201 {
			t.Fatalf("flag %s: %d %v", acct, resp.StatusCode, err)
		}
		return f
	}
	ctx := context.Background()
	arrives := func(id, acct string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			sg, err := ps[1].st.Signal(ctx, id)
			if err == nil {
				if sg.AccountID != acct || sg.Type != "scam" || sg.Status != "open" {
					t.Fatalf("received %+v", sg)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the flag %s did not reach the messenger: %v", id, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A flag raised before the link waits for it.
	early := raise("s0800")
	if early.Crosses || early.Reason != "not_linked_yet" {
		t.Fatalf("a flag before the link: %+v", early)
	}
	code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+ps[0].addr, "--key", admin)
	if code != 0 || !strings.Contains(out, "matched 400 of 1000") {
		t.Fatalf("link run: exit %d\n%s%s", code, out, errs)
	}
	// Once the run links its account, it crosses by itself.
	arrives(early.ID, "m0200")
	// Both parties hold 400 links, the same ids.
	for _, p := range ps {
		if n, err := p.st.CountLinks(ctx); err != nil || n != 400 {
			t.Fatalf("%s: %d links, %v", p.name, n, err)
		}
	}
	for k := range 400 {
		ls, err := ps[0].st.LinkOf(ctx, fmt.Sprintf("s%04d", 600+k))
		if err != nil {
			t.Fatal(err)
		}
		lm, err := ps[1].st.LinkOf(ctx, fmt.Sprintf("m%04d", k))
		if err != nil || lm.ID != ls.ID {
			t.Fatalf("person %d: the parties' link ids differ", k)
		}
	}
	// A flag raised at the social network reaches the messenger's review
	// queue through the relay serve runs on River, on the linked account.
	f := raise("s0700")
	if !f.Crosses || f.Reason != "" {
		t.Fatalf("flag: %+v", f)
	}
	arrives(f.ID, "m0100")
	req, _ := http.NewRequest("GET", "http://"+ps[1].addr+"/v1/signals/inbound?status=open", nil)
	req.Header.Set("Authorization", "Bearer "+reviewKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"id":"`+f.ID+`"`) || !strings.Contains(string(b), `"account_id":"m0100"`) {
		t.Fatalf("the messenger's queue: %s", b)
	}
	// The messenger's decision comes back to the social network's flag
	// as its outcome: the decision and its time, never who or why.
	req, _ = http.NewRequest("POST", "http://"+ps[1].addr+"/v1/signals/inbound/"+f.ID+"/decision",
		strings.NewReader(`{"decision":"disable","reason":"confirmed by case 12","reviewer":"ana"}`))
	req.Header.Set("Authorization", "Bearer "+reviewKey)
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("decide: %v %v", resp, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ = http.NewRequest("GET", "http://"+ps[0].addr+"/v1/signals/"+f.ID, nil)
		req.Header.Set("Authorization", "Bearer "+flagKey)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"peer_outcome":{"outcome":"disable"`) {
			if strings.Contains(string(b), "ana") || strings.Contains(string(b), "case 12") {
				t.Fatalf("the outcome carried the reviewer or the reason: %s", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no outcome at the social network: %d %s", resp.StatusCode, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Compliance sets how the flags fared beside the catalogue: two scam
	// flags crossed, one upheld.
	_, out, _ = runCmd(t, ps[0].environ, "apikey", "create", "--tenant", "tns", "--role", "compliance")
	code, out, errs = runCmd(t, nil, "policy", "report", "--server", "http://"+ps[0].addr, "--key", lastLine(out))
	if code != 0 || !strings.Contains(out, "| scam | social_to_messenger | raised | 2 | 1 | 0 | 0 | 0 | 0 | 0 | 1.00 |") {
		t.Fatalf("policy report: exit %d\n%s%s", code, out, errs)
	}
}
