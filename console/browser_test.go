package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/policies"
)

// The browser tests drive the distribution's Chromium, headless. CI
// installs it (.ci/run); without it they fail under CI=true and are
// skipped elsewhere.

// chromium finds the browser: LINKD_CHROMIUM, else chromium or
// chromium-browser on the PATH.
func chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LINKD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium: install Debian's chromium package (.ci/run does) or set LINKD_CHROMIUM")
	}
	t.Skip("no Chromium on this machine: install Debian's chromium package, or set LINKD_CHROMIUM")
	return ""
}

// newTab opens a tab of its own browser context (no cookies shared) at
// the given width, in a browser shared by the tests of that width, closed
// at the test's end.
func newTab(t testing.TB, width int) context.Context {
	t.Helper()
	root := browserAt(t, width)
	ctx, cancelTab := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab() })
	// The viewport, emulated: a window cannot be narrower than 500
	// pixels in headless Chromium.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}

// browsers are the running browsers, by width, kept for the package's
// tests (TestMain closes them).
var browsers = struct {
	sync.Mutex
	m     map[int]context.Context
	close []func()
}{m: map[int]context.Context{}}

func browserAt(t testing.TB, width int) context.Context {
	t.Helper()
	path := chromium(t)
	browsers.Lock()
	defer browsers.Unlock()
	if ctx, ok := browsers.m[width]; ok {
		return ctx
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(max(width, 500), 900), chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting Chromium: %v", err)
	}
	browsers.m[width] = ctx
	browsers.close = append(browsers.close, func() { cancel(); cancelAlloc() })
	return ctx
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, c := range browsers.close {
		c()
	}
	os.Exit(code)
}

// shotsDir is where screenshots go: LINKD_CONSOLE_SHOTS, else a folder in
// the system's temporary directory.
func shotsDir(t testing.TB) string {
	dir := os.Getenv("LINKD_CONSOLE_SHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "linkd-console-shots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a screenshot of the whole page as name.png.
func shot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(shotsDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// run runs browser actions, failing the test with what was asked.
func run(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// value runs one browser action that answers a value.
func value[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text is the page's visible text.
func text(t testing.TB, ctx context.Context) string {
	t.Helper()
	return value(t, ctx, "reading the page", chromedp.Text(chromedp.CSS("body")))
}

// signInAs signs in through the form, by keyboard, as a person would.
func (p *party) signInAs(t testing.TB, ctx context.Context, role access.Role, name string) {
	t.Helper()
	run(t, ctx, "signing in as "+string(role),
		chromedp.Navigate(p.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("key"), p.keys[role]),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS("form.who")),
	)
}

func TestBrowserSignInEachRole(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	want := map[access.Role][]string{
		access.RoleTrustSafety: {"Review queue", "Flags raised"},
		access.RoleCompliance:  {"Audit log", "Policies"},
		access.RoleAdvertiser:  {"Audiences"},
		access.RoleAdmin:       {"Operations"},
	}
	all := []string{"Review queue", "Flags raised", "Audit log", "Policies", "Audiences", "Operations"}
	for role, menu := range want {
		t.Run(string(role), func(t *testing.T) {
			ctx := newTab(t, 1280)
			p.signInAs(t, ctx, role, "Pat Doe")
			items := value(t, ctx, "reading the menu", chromedp.Evaluate[[]string](`[...document.querySelectorAll("header nav a")].map(a => a.textContent)`))
			if strings.Join(items, ",") != strings.Join(menu, ",") {
				t.Errorf("menu %v, want %v", items, menu)
			}
			page := text(t, ctx)
			if !strings.Contains(page, "Pat Doe · "+string(role)+" · acme") {
				t.Errorf("the page does not say who is signed in:\n%s", page)
			}
			for _, m := range all {
				if !strings.Contains(strings.Join(menu, ","), m) && strings.Contains(page, m) {
					t.Errorf("%s sees %q", role, m)
				}
			}
			shot(t, ctx, "home-"+string(role))
		})
	}
}

// TestBrowserDecideACrossedFlag: a flag that crossed from the other party
// is decided in the review queue; the API then shows the decision.
func TestBrowserDecideACrossedFlag(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	ids := p.receive(t, "malicious_link", 0.95, 3)
	p.receive(t, "spam", 0.85, 4, 5)
	ctx := newTab(t, 1280)
	p.signInAs(t, ctx, access.RoleTrustSafety, "Ada Lovelace")
	run(t, ctx, "opening the queue filtered by type",
		chromedp.Click(chromedp.CSS(`a[href="/console/inbound"]`)),
		chromedp.WaitVisible(chromedp.CSS("table")),
		chromedp.SetValue(chromedp.CSS(`input[name="type"]`), "malicious_link"),
		chromedp.Submit(chromedp.CSS(`input[name="type"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/signals/`+ids[0]+`"]`)),
	)
	loc := value(t, ctx, "reading the URL", chromedp.Location())
	if !strings.Contains(loc, "type=malicious_link") {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
	if page := text(t, ctx); strings.Contains(page, "spam") && strings.Contains(page, "sig_spam") {
		t.Errorf("the filtered queue shows spam flags:\n%s", page)
	}
	shot(t, ctx, "review-queue")
	run(t, ctx, "deciding",
		chromedp.Click(chromedp.CSS(`a[href="/console/signals/`+ids[0]+`"]`)),
		chromedp.WaitVisible(chromedp.ID("decision")),
		chromedp.SetValue(chromedp.ID("decision"), "disable"),
		chromedp.SendKeys(chromedp.ID("reason"), "phishing kit confirmed"),
		chromedp.Submit(chromedp.ID("reason")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	page := text(t, ctx)
	if !strings.Contains(page, "Decided: disable.") || !strings.Contains(page, "phishing kit confirmed") || !strings.Contains(page, "Ada Lovelace") {
		t.Fatalf("the signal's page after deciding:\n%s", page)
	}
	shot(t, ctx, "signal-decided")
	st, body := p.apiCall(t, "GET", "/v1/signals/"+ids[0], access.RoleTrustSafety, "")
	if st != 200 || !strings.Contains(string(body), `"status":"disable"`) || !strings.Contains(string(body), `"reviewer":"Ada Lovelace"`) {
		t.Fatalf("the API shows %d %s", st, body)
	}
}

// TestBrowserForgedToken: a form whose token was tampered with in the
// page changes nothing.
func TestBrowserForgedToken(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	ids := p.receive(t, "spam", 0.9, 0)
	ctx := newTab(t, 1280)
	p.signInAs(t, ctx, access.RoleTrustSafety, "Ada")
	run(t, ctx, "posting a tampered form",
		chromedp.Navigate(p.srv.URL+"/console/signals/"+ids[0]),
		chromedp.WaitVisible(chromedp.ID("reason")),
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('input[name="csrf"]').forEach(i => i.value = "forged")`),
		chromedp.SendKeys(chromedp.ID("reason"), "forged"),
		chromedp.Submit(chromedp.ID("reason")),
		chromedp.WaitVisible(chromedp.CSS(".error")),
	)
	if page := text(t, ctx); !strings.Contains(page, "nothing was changed") {
		t.Fatalf("the answer to a forged form:\n%s", page)
	}
	shot(t, ctx, "forged-form")
	st, body := p.apiCall(t, "GET", "/v1/signals/"+ids[0], access.RoleTrustSafety, "")
	if st != 200 || !strings.Contains(string(body), `"status":"open"`) || strings.Contains(string(body), `"decision"`) {
		t.Fatalf("a forged form changed the signal: %d %s", st, body)
	}
}

// TestBrowserWhyARefusal: a compliance officer finds a refused request in
// the audit log and opens why: the deciding rule, with file and line.
func TestBrowserWhyARefusal(t *testing.T) {
	t.Parallel()
	p := newParty(t)
	st, body := p.apiCall(t, "POST", "/v1/audiences", access.RoleTrustSafety, `{"name":"x","purpose":"ads"}`)
	if st != 403 {
		t.Fatalf("T&S creating an audience: %d %s", st, body)
	}
	ctx := newTab(t, 1280)
	p.signInAs(t, ctx, access.RoleCompliance, "Carla Compliance")
	run(t, ctx, "filtering the audit log for refusals",
		chromedp.Click(chromedp.CSS(`a[href="/console/audit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`select[name="decision"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name="decision"]`), "deny"),
		chromedp.Submit(chromedp.CSS(`select[name="decision"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.deny`)),
	)
	if page := text(t, ctx); !strings.Contains(page, "audience.create") || strings.Contains(page, "allow\t") {
		t.Fatalf("the refusals:\n%s", page)
	}
	shot(t, ctx, "audit-log")
	run(t, ctx, "asking why", chromedp.Click(chromedp.CSS(`tr.deny a`)), chromedp.WaitVisible(chromedp.CSS("pre")))
	page := text(t, ctx)
	for _, want := range []string{"Decided again: deny", "trust-safety-no-audiences", "roles.cedar line", `"action": "audience.create"`, `"role": "trust_safety"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("why lacks %q:\n%s", want, page)
		}
	}
	shot(t, ctx, "audit-why")
	run(t, ctx, "reading the rule", chromedp.Click(chromedp.CSS(`a[href^="/console/policies#rule-"]`)), chromedp.WaitVisible(chromedp.ID("rule-trust-safety-no-audiences")))
	if page := text(t, ctx); !strings.Contains(page, `@id("trust-safety-no-audiences")`) || !strings.Contains(page, "pass") {
		t.Fatalf("the policies page:\n%s", page)
	}
	shot(t, ctx, "policies")
}

// buildWASM builds the upload page's WebAssembly, as go generate does,
// into a temporary folder the parties made after it serve.
func buildWASM(t testing.TB) {
	t.Helper()
	wasmOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linkd-wasm-")
		if err != nil {
			wasmErr = err
			return
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", filepath.Join(dir, "linkd.wasm"), "./uploader")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			wasmErr = fmt.Errorf("building the uploader: %v\n%s", err, out)
			return
		}
		root, err := exec.Command("go", "env", "GOROOT").Output()
		if err != nil {
			wasmErr = err
			return
		}
		js, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "wasm_exec.js"), js, 0o644)
		}
		wasmErr, wasmFS = err, os.DirFS(dir)
	})
	if wasmErr != nil {
		t.Fatal(wasmErr)
	}
}

var (
	wasmOnce sync.Once
	wasmErr  error
)

// TestBrowserUpload: an advertiser uploads a CSV of numbers in the page,
// hashed and then private; the audience's size shows; the server's logs
// and database hold none of the numbers, nor a hash of one.
func TestBrowserUpload(t *testing.T) {
	t.Parallel()
	buildWASM(t)
	p := newPartyOf(t, 260)
	// 200 of the directory's people, in national format with their
	// country, 40 numbers of no one, and 3 lines that are no number.
	var list strings.Builder
	list.WriteString("phone,country\n")
	var numbers []synth.Person
	for _, ps := range p.people[:200] {
		fmt.Fprintf(&list, "%s,%s\n", ps.National, ps.Country)
		numbers = append(numbers, ps)
	}
	for _, ps := range synth.People(77, 40) {
		fmt.Fprintf(&list, "%s,%s\n", ps.E164, "")
		numbers = append(numbers, ps)
	}
	list.WriteString("not a number,TR\n12,TR\n,DE\n")
	file := filepath.Join(t.TempDir(), "customers.csv")
	if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := newTab(t, 1280)
	p.signInAs(t, ctx, access.RoleAdvertiser, "Avery Advertiser")
	for _, mode := range []string{"hash", "private"} {
		name := "Spring buyers " + mode
		run(t, ctx, "creating an audience",
			chromedp.Navigate(p.srv.URL+"/console/audiences"),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.Submit(chromedp.ID("name")),
			chromedp.WaitVisible(chromedp.CSS(`a.button[href$="/upload"]`)),
		)
		run(t, ctx, "opening the upload page",
			chromedp.Click(chromedp.CSS(`a.button[href$="/upload"]`)),
			chromedp.WaitVisible(chromedp.ID("file")),
		)
		run(t, ctx, "uploading",
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
			chromedp.Click(chromedp.CSS(`input[name="mode"][value="`+mode+`"]`)),
			chromedp.SetValue(chromedp.ID("batch"), "50"),
			chromedp.Click(chromedp.ID("start")),
		)
		waitFor(t, ctx, `!document.getElementById("result").hidden || !document.getElementById("upload-error").hidden`)
		page := text(t, ctx)
		if !strings.Contains(page, "Uploaded") || !strings.Contains(page, "line 242") {
			t.Fatalf("%s upload:\n%s", mode, page)
		}
		for id, want := range map[string]string{"r-lines": "243", "r-received": "240", "r-local": "3"} {
			if got := value(t, ctx, "reading "+id, chromedp.Text(chromedp.ID(id))); got != want {
				t.Errorf("%s upload: %s = %s, want %s", mode, id, got, want)
			}
		}
		shot(t, ctx, "upload-"+mode)
		run(t, ctx, "reading the size", chromedp.Click(chromedp.CSS(`#result a`)), chromedp.WaitVisible(chromedp.CSS("dl.facts")))
		page = text(t, ctx)
		if !strings.Contains(page, "about ") || !strings.Contains(page, " people") {
			t.Fatalf("%s audience page:\n%s", mode, page)
		}
		shot(t, ctx, "audience-"+mode)
	}
	// Nothing at rest or in the logs is a number or a hash of one.
	dump, logs := pgtest.Dump(t, p.st.Pool()), p.logs.String()
	if !strings.Contains(logs, "request") || !strings.Contains(dump, "Spring buyers private") {
		t.Fatalf("the dump or the logs are empty:\n%s", logs)
	}
	for _, ps := range numbers {
		n, err := phone.Normalize(ps.E164, "")
		if err != nil {
			t.Fatal(err)
		}
		forms := []string{n.E164(), n.Digits(), strings.ReplaceAll(ps.National, " ", "")}
		for _, s := range phone.HashSchemas {
			forms = append(forms, n.Hash(s).Encode(s))
		}
		for _, f := range forms {
			if strings.Contains(dump, f) || strings.Contains(logs, f) {
				t.Fatalf("%q (a form of a number of the list) is in the database or the logs", f)
			}
		}
	}
}

// waitFor waits until a JavaScript condition holds.
func waitFor(t testing.TB, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %s", cond, text(t, ctx))
}

// TestBrowserLinkRun: an operator starts a link run between the two
// parties in the console and sees it end with the true intersection; the
// page shows the relay, the bundle in force and the key epochs.
func TestBrowserLinkRun(t *testing.T) {
	t.Parallel()
	social, _ := newPair(t)
	ctx := newTab(t, 1280)
	social.signInAs(t, ctx, access.RoleAdmin, "Olu Operator")
	run(t, ctx, "starting a link run",
		chromedp.Click(chromedp.CSS(`a[href="/console/operations"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/console/operations/link"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/console/operations/link"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	// The page reloads itself while the run is under way.
	waitFor(t, ctx, `document.body.innerText.includes("30 of 45")`)
	page := text(t, ctx)
	for _, want := range []string{"done", "Messages waiting for the other party", "Current epoch", "OPRF public key", "no refusal"} {
		if !strings.Contains(page, want) {
			t.Fatalf("operations page lacks %q:\n%s", want, page)
		}
	}
	shot(t, ctx, "operations")
}

// pageChecks finds, in the page, the controls a keyboard or a screen
// reader could not use: every visible control has a name, and the page
// is no wider than the window (tables scroll in their own box).
const pageChecks = `(() => {
  const bad = [];
  const visible = el => el.offsetParent !== null || el.getClientRects().length > 0;
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")) {
    if (!visible(el)) continue;
    const named = (el.labels && el.labels.length > 0) || el.getAttribute("aria-label") || el.textContent.trim() !== "" && el.tagName !== "INPUT" && el.tagName !== "SELECT";
    if (!named) bad.push("no name: " + el.outerHTML.slice(0, 80));
    if (el.tabIndex < 0) bad.push("not reachable by Tab: " + el.outerHTML.slice(0, 80));
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) bad.push("wider than the window: " + document.documentElement.scrollWidth);
  return bad;
})()`

// tabWalk presses Tab through the page and reports the visible controls
// it never reached.
func tabWalk(t testing.TB, ctx context.Context) []string {
	t.Helper()
	n := value(t, ctx, "numbering the controls", chromedp.Evaluate[int](`(() => {
	  let i = 0;
	  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")) {
	    if (el.offsetParent === null && el.getClientRects().length === 0) continue;
	    // A group of radio buttons is one stop, at its checked button;
	    // the arrow keys move within it.
	    if (el.type === "radio" && !el.checked) continue;
	    el.dataset.walk = String(i++);
	  }
	  document.activeElement && document.activeElement.blur();
	  return i;
	})()`))
	// The page notes each control that takes the focus; a date field
	// takes three stops (day, month, year).
	run(t, ctx, "walking by Tab",
		chromedp.Evaluate[chromedp.Void](`window.walked = []; document.addEventListener("focusin", e => e.target.dataset.walk && walked.push(e.target.dataset.walk))`),
		chromedp.KeyEvent(strings.Repeat(kb.Tab, 3*n+3)))
	seen := map[string]bool{}
	for _, i := range value(t, ctx, "reading the walk", chromedp.Evaluate[[]string](`walked`)) {
		seen[i] = true
	}
	var missed []string
	for i := range n {
		if !seen[strconv.Itoa(i)] {
			missed = append(missed, value(t, ctx, "naming a control", chromedp.Evaluate[string](`document.querySelector('[data-walk="`+strconv.Itoa(i)+`"]').outerHTML.slice(0, 80)`)))
		}
	}
	return missed
}

// TestBrowserEveryPage visits every page of each role at 1280 and 390
// pixels wide: each is reachable by keyboard, labelled and no wider than
// the window; a screenshot of each is saved (make console-shots).
func TestBrowserEveryPage(t *testing.T) {
	t.Parallel()
	social, _ := newPair(t)
	social.linked = nil
	// Flags to review, an audience, an audit entry to explain.
	st, b := social.apiCall(t, "POST", "/v1/audiences", access.RoleAdvertiser, `{"name":"Spring buyers","purpose":"ads"}`)
	var a struct{ ID string }
	if err := json.Unmarshal(b, &a); err != nil || st != 201 {
		t.Fatalf("an audience: %d %s", st, b)
	}
	social.apiCall(t, "POST", "/v1/oprf/evaluate", access.RoleTrustSafety, `{"blinded":[]}`)
	in30 := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	st, b = social.apiCall(t, "POST", "/v1/signals", access.RoleTrustSafety,
		`{"account_id":"acct-00","type":"malicious_link","confidence":0.9,"evidence_ref":"case-1","expires_at":"`+in30+`"}`)
	var flag struct{ ID string }
	if err := json.Unmarshal(b, &flag); err != nil || st != 201 {
		t.Fatalf("a flag: %d %s", st, b)
	}
	type page struct{ name, path string }
	pages := map[access.Role][]page{
		access.RoleTrustSafety: {{"home", "/console/"}, {"review-queue", "/console/inbound"}, {"flags-raised", "/console/outbound"},
			{"signal", "/console/signals/" + flag.ID}},
		access.RoleCompliance: {{"home", "/console/"}, {"audit-log", "/console/audit"}, {"why", "/console/audit/1"},
			{"audit-verification", "/console/audit/verification"}, {"policies", "/console/policies"},
			{"bundles", "/console/policies/bundles?old=" + policies.Default().Hash()}},
		access.RoleAdvertiser: {{"home", "/console/"}, {"audiences", "/console/audiences"}, {"audience", "/console/audiences/" + a.ID},
			{"upload", "/console/audiences/" + a.ID + "/upload"}},
		access.RoleAdmin: {{"home", "/console/"}, {"operations", "/console/operations"}},
	}
	var last context.Context
	for _, width := range []int{1280, 390} {
		anon := newTab(t, width)
		run(t, anon, "opening the sign-in page", chromedp.Navigate(social.srv.URL+"/console/signin"), chromedp.WaitVisible(chromedp.ID("key")))
		checkPage(t, anon, fmt.Sprintf("signin-%d", width), width > 1000)
		for role, paths := range pages {
			ctx := newTab(t, width)
			social.signInAs(t, ctx, role, "Pat Doe")
			for _, pg := range paths {
				run(t, ctx, "opening "+pg.path, chromedp.Navigate(social.srv.URL+pg.path), chromedp.WaitVisible(chromedp.CSS("main h1")))
				// The keyboard's order is the same at either width.
				checkPage(t, ctx, fmt.Sprintf("%s-%s-%d", role, pg.name, width), width > 1000)
				last = ctx
			}
		}
	}
	shot(t, last, "every-page-last")
}

// checkPage runs the page checks, walks it by keyboard if walk, and
// saves its screenshot.
func checkPage(t *testing.T, ctx context.Context, name string, walk bool) {
	t.Helper()
	if h1 := text(t, ctx); strings.Contains(h1, "Forbidden") || strings.Contains(h1, "Internal Server Error") {
		t.Errorf("%s: %s", name, h1)
	}
	if bad := value(t, ctx, "checking the page", chromedp.Evaluate[[]string](pageChecks)); len(bad) > 0 {
		t.Errorf("%s: %s", name, strings.Join(bad, "; "))
	}
	if walk {
		if missed := tabWalk(t, ctx); len(missed) > 0 {
			t.Errorf("%s: Tab never reaches %s", name, strings.Join(missed, "; "))
		}
	}
	// A screenshot of every page for make console-shots; the test's
	// own run keeps the last one only.
	if os.Getenv("LINKD_CONSOLE_SHOTS") != "" {
		shot(t, ctx, name)
	}
}

// TestBrowserUploadResumes: an upload the server stops half-way (the
// tenant's daily entries are spent) says so, keeps its place in the
// browser, and, once it may go on, the same file resumes where it
// stopped: the batches sent are not sent again.
func TestBrowserUploadResumes(t *testing.T) {
	t.Parallel()
	buildWASM(t)
	p := newParty(t)
	p.api.Limits.EntriesPerDay = 120
	var list strings.Builder
	for _, ps := range synth.People(5, 230) {
		fmt.Fprintln(&list, ps.E164)
	}
	file := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(file, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	st, b := p.apiCall(t, "POST", "/v1/audiences", access.RoleAdvertiser, `{"name":"Resumed","purpose":"ads"}`)
	var a struct{ ID string }
	if err := json.Unmarshal(b, &a); err != nil || st != 201 {
		t.Fatalf("an audience: %d %s", st, b)
	}
	ctx := newTab(t, 1280)
	p.signInAs(t, ctx, access.RoleAdvertiser, "Avery")
	upload := func() {
		run(t, ctx, "uploading",
			chromedp.Navigate(p.srv.URL+"/console/audiences/"+a.ID+"/upload"),
			chromedp.WaitVisible(chromedp.ID("file")),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
			chromedp.SetValue(chromedp.ID("batch"), "50"),
			chromedp.Click(chromedp.ID("start")),
		)
		waitFor(t, ctx, `!document.getElementById("result").hidden || !document.getElementById("upload-error").hidden`)
	}
	upload()
	if page := text(t, ctx); !strings.Contains(page, "The upload stopped") || !strings.Contains(page, "limit") {
		t.Fatalf("an upload past the limit:\n%s", page)
	}
	saved := value(t, ctx, "reading the saved state", chromedp.Evaluate[string](`localStorage.getItem("linkd-upload:`+a.ID+`") || ""`))
	var state struct {
		Done     int `json:"batches_done"`
		Received int `json:"num_received"`
	}
	if err := json.Unmarshal([]byte(saved), &state); err != nil || state.Done != 2 || state.Received != 100 || strings.Contains(saved, "+") {
		t.Fatalf("the state kept in the browser: %s", saved)
	}
	shot(t, ctx, "upload-stopped")
	p.api.Limits.EntriesPerDay = 0 // the catalogue's again
	upload()
	page := text(t, ctx)
	if !strings.Contains(page, "resumed where the last attempt stopped") {
		t.Fatalf("the upload again:\n%s", page)
	}
	if got := value(t, ctx, "reading received", chromedp.Text(chromedp.ID("r-received"))); got != "230" {
		t.Fatalf("received %s in all, want 230", got)
	}
	if left := value(t, ctx, "reading the state", chromedp.Evaluate[string](`localStorage.getItem("linkd-upload:`+a.ID+`") || ""`)); left != "" {
		t.Fatalf("state left after the upload: %s", left)
	}
	shot(t, ctx, "upload-resumed")
}

// TestSecureCookieUnderTLS: served over TLS, the session's cookie is
// Secure.
func TestSecureCookieUnderTLS(t *testing.T) {
	p := newParty(t)
	srv := httptest.NewTLSServer(p.srv.Config.Handler)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := srv.Client()
	c.Jar, c.CheckRedirect = jar, func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	b := &browser{t: t, url: srv.URL, c: c}
	_, page := b.get("/console/signin")
	resp, _ := b.post("/console/signin", url.Values{"token": {field(t, tokenRE, page)}, "key": {p.keys[access.RoleCompliance]}, "name": {"Ada"}})
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "linkd_session" {
			sess = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in over TLS: %d, cookie %+v", resp.StatusCode, sess)
	}
}
