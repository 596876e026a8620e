// Package console is linkd's web console, served by each party's
// `linkd serve` at /console/: the review queue and the flags raised for
// trust and safety, the audit log and the policies for compliance,
// audiences for advertisers, link runs for operators.
//
// Pages are rendered on the server from embedded html/template files; the
// forms post and redirect (POST, then 303 to a page), so every page works
// without JavaScript and no script library is served or fetched. A small
// script of the console's own shows times in the viewer's time zone.
//
// A person signs in with an API key and their name: the key is checked as
// the API checks it, a session is stored (a hash of its secret, which is
// the cookie: HttpOnly, SameSite=Strict, Secure under TLS, ended after
// access.SessionIdle without a request), and every form carries a token
// derived from the session's secret. What a page shows and does, it asks
// of the API in-process as the signed-in key (api.WithKey): the same
// authorization under the policy bundle, the same limits, the same audit
// entries as the same call with the key. A page or control the key's role
// may not use is not shown (api's Allowed), and not taken if posted.
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/store/storeerr"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// API is the party's API server, which the console calls.
type API interface {
	Handler() http.Handler
	Authenticate(r *http.Request, secret string, h http.Header) (access.Key, error)
	Allowed(ctx context.Context, k access.Key, action, purpose string) bool
}

// Sessions keeps console sessions (package store).
type Sessions interface {
	CreateConsoleSession(ctx context.Context, s access.Session) error
	ConsoleSession(ctx context.Context, h access.Hash, now time.Time) (access.Session, access.Key, error)
	EndConsoleSession(ctx context.Context, h access.Hash) error
}

// Config is what a console is built from.
type Config struct {
	API      API
	Sessions Sessions
	// Party is this party's name, shown on every page.
	Party string
	Log   *slog.Logger
	// Now is the sessions' clock (default time.Now).
	Now func() time.Time
	// WASM holds the upload page's linkd.wasm and wasm_exec.js (default:
	// the embedded static files, when go generate built them).
	WASM fs.FS
	// SecureCookies marks the cookies Secure even on a request that came
	// in plain HTTP (TLS ended at a proxy that does not say so): what a
	// deployment wants; linkd dev, on plain HTTP, does not.
	SecureCookies bool
}

// Console serves the console's pages.
type Console struct {
	Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// Cookie names: the session, the sign-in form's token, a notice for the
// next page.
const (
	sessionCookie = "linkd_session"
	signinCookie  = "linkd_signin"
	noticeCookie  = "linkd_notice"
	cookiePath    = "/console/"
)

// pageTimeout bounds a page's work, its API calls included.
const pageTimeout = 30 * time.Second

// New builds the console.
func New(cfg Config) (*Console, error) {
	c := &Console{Config: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: %s: %w", n, err)
		}
		c.pages[base] = t
	}
	static, _ := fs.Sub(staticFS, "static")
	if c.WASM == nil && hasWASM(static) {
		c.WASM = static
	}
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", cacheFor(http.FileServerFS(static))))
	c.mux.Handle("GET /console/wasm/{file}", &wasmServer{fsys: c.WASM})
	c.mux.HandleFunc("GET /console/signin", c.signinPage)
	c.mux.HandleFunc("POST /console/signin", c.signin)
	for _, p := range pageRoutes {
		c.mux.Handle(p.pattern, c.page(p))
	}
	c.mux.HandleFunc("/console/", c.notFound)
	// The upload page's API calls, through its session.
	for _, p := range []pageRoute{
		{"GET /console/api/v1/oprf/config", []string{"oprf.config"}, c.relayTo(func(*http.Request) string { return "/v1/oprf/config" })},
		{"POST /console/api/v1/oprf/evaluate", []string{"oprf.evaluate"}, c.relayTo(func(*http.Request) string { return "/v1/oprf/evaluate" })},
		{"POST /console/api/v1/audiences/{id}/users", []string{"audience.upload"}, c.relayTo(func(r *http.Request) string {
			return "/v1/audiences/" + url.PathEscape(r.PathValue("id")) + "/users"
		})},
	} {
		c.mux.Handle(p.pattern, c.page(p))
	}
	return c, nil
}

// pageRoute is one page or form target: the actions it needs, all of
// which the key must be allowed (none: any signed-in key).
type pageRoute struct {
	pattern string
	needs   []string
	handle  func(*Console, *request) error
}

// relay says whether the route is an API call of a page's script (under
// /console/api/), answered as the API's JSON, its token in the
// X-Linkd-CSRF header.
func (p pageRoute) relay() bool { return strings.Contains(p.pattern, " /console/api/") }

var pageRoutes = []pageRoute{
	{"GET /console/{$}", nil, (*Console).home},
	{"POST /console/signout", nil, (*Console).signout},
	{"GET /console/inbound", []string{"signal.read"}, (*Console).inbound},
	{"GET /console/inbound.csv", []string{"signal.read"}, (*Console).inboundCSV},
	{"POST /console/inbound/decide", []string{"signal.decide"}, (*Console).decideMany},
	{"GET /console/outbound", []string{"signal.read"}, (*Console).outbound},
	{"GET /console/outbound.csv", []string{"signal.read"}, (*Console).outboundCSV},
	{"POST /console/outbound", []string{"signal.create"}, (*Console).raise},
	{"GET /console/signals/{id}", []string{"signal.read"}, (*Console).signalPage},
	{"POST /console/signals/{id}/decide", []string{"signal.decide"}, (*Console).decideOne},
	{"POST /console/signals/{id}/revoke", []string{"signal.revoke"}, (*Console).revoke},
	{"GET /console/audit", []string{"audit.read"}, (*Console).auditLog},
	{"GET /console/audit/{seq}", []string{"audit.read", "policy.explain"}, (*Console).why},
	{"GET /console/audit/verification", []string{"audit.read"}, (*Console).verification},
	{"GET /console/policies/bundles", []string{"policy.read"}, (*Console).bundles},
	{"GET /console/policies", []string{"policy.read"}, (*Console).policies},
	{"GET /console/audiences", []string{"audience.read"}, (*Console).audiences},
	// Creation is decided with the purpose chosen: by the API.
	{"POST /console/audiences", []string{"audience.read"}, (*Console).createAudience},
	{"GET /console/audiences/{id}", []string{"audience.read"}, (*Console).audience},
	{"POST /console/audiences/{id}/delete", []string{"audience.delete"}, (*Console).deleteAudience},
	// Extension is decided for each group of people: by the API.
	{"POST /console/audiences/{id}/extend", []string{"audience.read"}, (*Console).extendAudience},
	{"GET /console/audiences/{id}/upload", []string{"audience.upload"}, (*Console).uploadPage},
	{"GET /console/operations", []string{"link.read"}, (*Console).operations},
	{"POST /console/operations/link", []string{"link.run"}, (*Console).startLink},
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The console's pages are its own: no framing, no scripts or styles
	// of other origins, no referrer leaving with a URL's filters.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if r.URL.Path == "/console" {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.mux.ServeHTTP(w, r)
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// request is a signed-in person's request.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	secret string
	sess   access.Session
	key    access.Key
	c      *Console
	relay  bool // answered in JSON
}

// can reports whether the key may take action.
func (q *request) can(action string) bool {
	return q.c.API.Allowed(q.r.Context(), q.key, action, "")
}

// canFor reports whether the key may take action for purpose.
func (q *request) canFor(action, purpose string) bool {
	return q.c.API.Allowed(q.r.Context(), q.key, action, purpose)
}

// page signs the request in, checks a form's token and the route's
// actions, and runs the handler.
func (c *Console) page(p pageRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		w.Header().Set("Cache-Control", "no-store")
		q, ok := c.signedIn(w, r, p.relay())
		if !ok {
			return
		}
		q.relay = p.relay()
		if r.Method == http.MethodPost {
			// A form, or a batch of the upload page's (at most the API's
			// body limit).
			r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
			token := r.Header.Get("X-Linkd-CSRF")
			if !p.relay() {
				token = r.PostFormValue("csrf")
			}
			if !sameOrigin(r) || !access.CheckCSRF(q.secret, token) {
				c.fail(q, http.StatusForbidden, "This form is out of date or did not come from this console: nothing was changed. Reload the page and try again.")
				return
			}
		}
		for _, a := range p.needs {
			if !q.can(a) {
				c.fail(q, http.StatusForbidden, "Your key's role ("+string(q.key.Role)+") may not use this page.")
				return
			}
		}
		if err := p.handle(c, q); err != nil {
			c.failErr(q, err)
		}
	})
}

// signedIn finds the request's session; without one it sends the person
// to sign in (a page) or refuses (a form).
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request, relay bool) (*request, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err == nil {
		s, k, err := c.Sessions.ConsoleSession(r.Context(), access.HashKey(ck.Value), c.Now())
		if err == nil {
			return &request{w: w, r: r, secret: ck.Value, sess: s, key: k, c: c}, true
		}
		if !errors.Is(err, storeerr.ErrNotFound) {
			c.Log.Error("console session", "error", err)
			http.Error(w, "The console could not reach its database; try again shortly.", http.StatusServiceUnavailable)
			return nil, false
		}
	}
	if r.Method != http.MethodGet || relay {
		msg := "You are not signed in (or your session ended): nothing was changed. Sign in at /console/signin."
		if relay {
			writeJSONError(w, http.StatusUnauthorized, "unauthorized", msg)
		} else {
			http.Error(w, msg, http.StatusUnauthorized)
		}
		return nil, false
	}
	next := r.URL.RequestURI()
	http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
	return nil, false
}

// sameOrigin refuses a form posted from another origin when the browser
// says where it came from.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// localPath keeps a redirect target on the console: a path and query of
// its own, no control character, nothing a browser could read as
// another host.
func localPath(p string) string {
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.ContainsAny(p, "\\") ||
		strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "/console/"
	}
	clean := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && clean != "/" {
		clean += "/"
	}
	if !strings.HasPrefix(clean, "/console/") || strings.HasPrefix(clean, "//") {
		return "/console/"
	}
	u.Path = clean
	return u.String()
}

// secure says whether the console's cookies are Secure: always when the
// console is configured so (linkd serve, unless told it is plain HTTP),
// and whenever the request came over TLS, here or at a proxy in front.
// A client can only make them stricter this way.
func (c *Console) secure(r *http.Request) bool {
	return c.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, and Secure
// (see secure).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: c.secure(r)})
}

// maxNotice bounds a notice, in bytes, so that its cookie stays well
// under a browser's limit.
const maxNotice = 1500

// notice leaves a message for the next page the person sees.
func (q *request) notice(msg string) {
	if len(msg) > maxNotice {
		msg = msg[:maxNotice] + "…"
	}
	q.c.setCookie(q.w, q.r, noticeCookie, url.QueryEscape(msg), 60)
}

// redirect ends a form with a notice and the page to show next.
func (q *request) redirect(to, msg string) error {
	if msg != "" {
		q.notice(msg)
	}
	http.Redirect(q.w, q.r, localPath(to), http.StatusSeeOther)
	return nil
}

// nav is an entry of the menu, shown when the key may use it.
type nav struct {
	Path, Label, Action string
}

var menu = []nav{
	{"/console/inbound", "Review queue", "signal.decide"},
	{"/console/outbound", "Flags raised", "signal.create"},
	{"/console/audit", "Audit log", "audit.read"},
	{"/console/policies", "Policies", "policy.read"},
	{"/console/audiences", "Audiences", "audience.read"},
	{"/console/operations", "Operations", "link.read"},
}

// view is what every page's template gets.
type view struct {
	Title   string
	Party   string
	Name    string
	Role    string
	Tenant  string
	CSRF    string
	Menu    []nav
	Current string
	Notice  string
	Error   string
	Data    any
}

// render writes a page.
func (c *Console) render(q *request, status int, page, title string, data any) error {
	t, ok := c.pages[page]
	if !ok {
		return fmt.Errorf("console: no page %q", page)
	}
	v := view{Title: title, Party: c.Party, Data: data}
	if q.sess.KeyID != "" {
		v.Name, v.Role, v.Tenant, v.CSRF = q.sess.Name, string(q.key.Role), q.key.Tenant, access.CSRFToken(q.secret)
		for _, m := range menu {
			if q.can(m.Action) {
				v.Menu = append(v.Menu, m)
			}
		}
		v.Current = q.r.URL.Path
	}
	if ck, err := q.r.Cookie(noticeCookie); err == nil {
		v.Notice, _ = url.QueryUnescape(ck.Value)
		c.setCookie(q.w, q.r, noticeCookie, "", -1)
	}
	if e, ok := data.(failure); ok {
		v.Error = e.Message
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		return fmt.Errorf("console: rendering %s: %w", page, err)
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.WriteHeader(status)
	_, err := q.w.Write(buf.Bytes())
	return err
}

// failure is a page that says what went wrong.
type failure struct {
	Status  int
	Message string
	Back    string
}

func (c *Console) fail(q *request, status int, msg string) {
	if q.relay {
		writeJSONError(q.w, status, "console", msg)
		return
	}
	back := q.r.Referer()
	if u, err := url.Parse(back); err != nil || u.Host != q.r.Host {
		back = "/console/"
	} else {
		back = localPath(u.RequestURI())
	}
	if err := c.render(q, status, "error", http.StatusText(status), failure{Status: status, Message: msg, Back: back}); err != nil {
		c.Log.Error("console: rendering an error page", "error", err)
	}
}

// failErr answers an error of a page: the API's refusals as they were
// given, anything else as an internal error, logged.
func (c *Console) failErr(q *request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		c.fail(q, ae.Status, ae.text())
		return
	}
	c.Log.Error("console page failed", "path", q.r.URL.Path, "error", err)
	c.fail(q, http.StatusInternalServerError, "Something went wrong on the server; the cause is in its log.")
}

// apiError is the API's answer to a request it refused.
type apiError struct {
	Status  int
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("console: the API answered %d %s: %s", e.Status, e.Code, e.Message)
}

// text is the refusal for a person: the message, and the field or
// parameter it is about.
func (e *apiError) text() string {
	msg := e.Message
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return msg + "."
}

// recorder keeps an in-process answer of the API.
type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// writeJSONError answers a script's call in the API's error shape.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// forward makes an API request in-process as the signed-in key, with
// body (JSON) if not nil, and returns the answer as it is.
func (q *request) forward(method, target string, body []byte) *recorder {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	rec := &recorder{h: http.Header{}}
	req, err := http.NewRequestWithContext(api.WithKey(q.r.Context(), q.key), method, target, rd)
	if err != nil {
		rec.code = http.StatusBadRequest
		rec.body.WriteString(`{"error":{"code":"bad_request","message":"the request could not be made"}}`)
		return rec
	}
	req.RemoteAddr = q.r.RemoteAddr
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	q.c.API.Handler().ServeHTTP(rec, req)
	return rec
}

// call makes an API request in-process as the signed-in key and decodes
// its answer into out (unless nil); a refusal is an *apiError.
func (q *request) call(method, path string, query url.Values, body, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	u := path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	rec := q.forward(method, u, raw)
	if rec.code >= 400 {
		var e struct {
			Error *apiError `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Error == nil {
			return fmt.Errorf("console: %s %s: status %d", method, path, rec.code)
		}
		e.Error.Status = rec.code
		return e.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("console: %s %s: %w", method, path, err)
	}
	return nil
}

// notFound answers an address the console does not have, as a page.
func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, r: r, c: c}
	if err := c.render(q, http.StatusNotFound, "error", "Not found", failure{Status: http.StatusNotFound,
		Message: "The console has no page at this address.", Back: "/console/"}); err != nil {
		c.Log.Error("console: rendering not found", "error", err)
	}
}

// home is the first page after sign-in: what the key may do here.
func (c *Console) home(q *request) error {
	return c.render(q, http.StatusOK, "home", "Home", nil)
}

// equal compares two tokens in constant time.
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// trimPrefix drops a package's prefix from an error's text.
func trimPrefix(s string) string {
	if _, rest, ok := strings.Cut(s, ": "); ok {
		return rest
	}
	return s
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"pct":   func(f float64) string { return strconv.FormatFloat(f*100, 'f', -1, 64) + "%" },
	"deref": func(b *bool) bool { return b != nil && *b },
	"count": func(n *int64) string {
		if n == nil {
			return "—"
		}
		s := strconv.FormatInt(*n, 10)
		for i := len(s) - 3; i > 0; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	},
	"duration": func(from, to time.Time) string { return to.Sub(from).Round(time.Second).String() },
	"since":    func(t time.Time) string { return time.Since(t).Round(time.Second).String() },
	"seconds": func(s float64) string {
		return (time.Duration(s * float64(time.Second))).Round(100 * time.Millisecond).String()
	},
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"statuses": func(inbound bool) []string {
		if inbound {
			return []string{"open", "quarantined", "disable", "dismiss", "escalate", "false_positive", "revoked"}
		}
		return []string{"open", "revoked"}
	},
}
