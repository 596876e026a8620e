// Package api is linkd's HTTP interface: one route table (the other
// party's routes are package peer's, served here), request types apart
// from domain types, one error handler, an API key on every route but the
// operational ones, and an audit entry for every mutation and denial.
//
// The package does not know the database: it is given interfaces, and
// cmd/linkd wires the stores behind them.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store/storeerr"
	"github.com/linkd/linkd/subject"
)

// openAPI is the OpenAPI 3 document of every route; a test holds it to
// the route table.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI is the OpenAPI document of every route, as GET
// /v1/openapi.json serves it.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// Limits.
const (
	maxBody  = 4 << 20 // bytes of a request body
	MaxBatch = 10000   // entries in one batch
)

// Evaluator is the party's OPRF key of the current epoch.
type Evaluator interface {
	PublicKey() []byte
	Evaluate(blinded [][]byte) (evaluated [][]byte, proof []byte, err error)
}

// Keys finds API keys by their hash.
type Keys interface {
	APIKeyByHash(ctx context.Context, h access.Hash) (access.Key, error)
}

// Config is what a server is built from.
type Config struct {
	Party party.Party
	Keys  Keys
	Audit audit.Store
	// AuditChain keys the audit entries the server appends (required
	// with Audit).
	AuditChain *audit.Chain
	OPRF       Evaluator
	// Epoch is the key epoch of OPRF.
	Epoch uint32
	// Ready reports whether the server can take requests (database
	// reachable, keys and policies loaded).
	Ready func(ctx context.Context) error
	Log   *slog.Logger
	// Registry receives the server's metrics (default: a new one).
	Registry *prometheus.Registry
	// Policies returns the policy bundle in force (default: the built-in
	// bundle). It may return a new bundle after a reload.
	Policies func() *policies.Bundle
	// Archive keeps every bundle decisions were taken under, so that an
	// audit entry is explained under its own rules; nil explains under the
	// bundle in force only.
	Archive policies.Archive
	// Authorizer decides every request (default: Policies).
	Authorizer Authorizer
	// Audiences builds advertisers' audiences.
	Audiences Audiences
	// Signals keeps abuse signals; nil answers 503 on the signal routes.
	Signals Signals
	// Subjects answers data-subject requests; nil answers 503.
	Subjects subject.Store
	// AudiencePeer is the other party for audience extension; nil answers
	// 503 on extend.
	AudiencePeer AudiencePeer
	// Linking links this party's directory with the other party's; nil
	// answers 503 on the link routes.
	Linking Linker
	// Usage keeps rate limit and budget counters; nil disables limits.
	Usage  access.Usage
	Limits Limits
	// Now is the clock of limit windows (default time.Now).
	Now func() time.Time
	// AuthFailuresPerMinute is how many failed authentications one client
	// address may make a minute before it is refused without a lookup
	// (default 20).
	AuthFailuresPerMinute int
	// VerifyAudit walks the audit log's chain under the party's keys (and
	// its checkpoints) and returns how many entries hold, with an
	// *audit.BrokenError where it breaks; nil answers 503.
	VerifyAudit func(ctx context.Context) (int64, error)
	// Status reports, for operators, what the server alone does not know:
	// key epochs, the relay's backlog, the last policy reload's failure.
	// Nil answers those parts empty.
	Status func(ctx context.Context) (Status, error)
	// RequestTimeout bounds a request's work, database calls included
	// (default 30s; routes that wait or link longer have their own): past
	// it the answer is 503 with Retry-After.
	RequestTimeout time.Duration
}

// Longer deadlines: a link job read waits up to maxWait; the other party's
// link messages and extensions carry whole batches and a run's end.
const (
	defaultRequestTimeout = 30 * time.Second
	waitRouteTimeout      = maxWait + 15*time.Second
	peerRouteTimeout      = 30 * time.Minute
)

// timeout is the deadline of a route's requests.
func (s *Server) timeout(r route) time.Duration {
	switch {
	case r.method == http.MethodGet && r.path == "/v1/link/jobs/:id":
		return max(waitRouteTimeout, s.RequestTimeout)
	case strings.HasPrefix(r.path, "/v1/peer/") || strings.HasSuffix(r.path, "/extend"):
		return max(peerRouteTimeout, s.RequestTimeout)
	}
	return s.RequestTimeout
}

// Limits are per key and per tenant. Zero fields take the catalogue's
// values in force (catalogue.yaml, limits).
type Limits struct {
	// RequestsPerMinute per API key.
	RequestsPerMinute int64
	// PeerRequestsPerMinute per party key: the other party's link runs.
	PeerRequestsPerMinute int64
	// OPRFPerDay is the elements a tenant may have evaluated a day.
	OPRFPerDay int64
	// EntriesPerDay is the entries a tenant may upload a day.
	EntriesPerDay int64
	// AudiencesPerDay is the audiences a tenant may create a day.
	AudiencesPerDay int64
	// PeerReblindsPerDay is the elements a party key may have re-blinded
	// a day.
	PeerReblindsPerDay int64
	// PeerLinkJobsPerDay is the new link jobs a party key may open a day.
	PeerLinkJobsPerDay int64
}

// limits are the limits in force: the configured ones, else the
// catalogue's (which a reload may change).
func (s *Server) limits() Limits {
	l, c := s.Limits, s.Policies().Catalogue.Limits
	for _, f := range []struct {
		v   *int64
		def int64
	}{{&l.RequestsPerMinute, c.RequestsPerMinute}, {&l.PeerRequestsPerMinute, c.PeerRequestsPerMinute}, {&l.OPRFPerDay, c.OPRFEvaluationsPerDay},
		{&l.EntriesPerDay, c.UploadedEntriesPerDay}, {&l.AudiencesPerDay, c.AudiencesCreatedPerDay}, {&l.PeerReblindsPerDay, c.PeerReblindsPerDay},
		{&l.PeerLinkJobsPerDay, c.PeerLinkJobsPerDay}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return l
}

// Server is the HTTP API of one party.
type Server struct {
	Config
	e       *echo.Echo
	log     *slog.Logger
	reqs    *prometheus.CounterVec
	latency *prometheus.HistogramVec
	batch   prometheus.Histogram
	usage   *prometheus.CounterVec
	refused *prometheus.CounterVec
	matches *prometheus.CounterVec
	relayed *prometheus.CounterVec

	metricsHandler http.Handler
	authFails      authThrottle
	auditFailures  prometheus.Counter
	extending      sync.WaitGroup
}

type route struct {
	method, path string
	// action is what authorization is asked for; "" for the operational
	// routes that need no key.
	action  string
	mutates bool
	handle  func(*Server, echo.Context, *caller) error
	// prepare, if set, completes the authorization request from the
	// request (a purpose from the body, say) before it is decided; what
	// it decodes it keeps in the echo context for handle.
	prepare func(*Server, echo.Context, *policies.Request) error
}

// routes is the one route table.
var routes = []route{
	{http.MethodGet, "/healthz", "", false, (*Server).healthz, nil},
	{http.MethodGet, "/readyz", "", false, (*Server).readyz, nil},
	// The metrics, to an operator's key here; without a key only on the
	// metrics address (MetricsHandler), which should not be public.
	{http.MethodGet, "/metrics", "metrics.read", false, (*Server).metrics, nil},
	{http.MethodGet, "/v1/oprf/config", "oprf.config", false, (*Server).oprfConfig, nil},
	{http.MethodPost, "/v1/oprf/evaluate", "oprf.evaluate", true, (*Server).oprfEvaluate, nil},
	{http.MethodGet, "/v1/audit", "audit.read", false, (*Server).auditLog, nil},
	{http.MethodGet, "/v1/audit/verification", "audit.read", false, (*Server).auditVerification, nil},
	{http.MethodGet, "/v1/policies", "policy.read", false, (*Server).policyBundle, nil},
	{http.MethodGet, "/v1/policies/bundles", "policy.read", false, (*Server).policyBundles, nil},
	{http.MethodGet, "/v1/policies/diff", "policy.read", false, (*Server).policyDiff, nil},
	{http.MethodPost, "/v1/policies/explain", "policy.explain", false, (*Server).policyExplain, nil},
	{http.MethodPost, "/v1/audiences", "audience.create", true, (*Server).createAudience, (*Server).prepareCreate},
	{http.MethodGet, "/v1/audiences", "audience.read", false, (*Server).listAudiences, nil},
	{http.MethodGet, "/v1/audiences/:id", "audience.read", false, (*Server).getAudience, nil},
	{http.MethodDelete, "/v1/audiences/:id", "audience.delete", true, (*Server).deleteAudience, nil},
	{http.MethodPost, "/v1/audiences/:id/users", "audience.upload", true, (*Server).addUsers, nil},
	{http.MethodDelete, "/v1/audiences/:id/users", "audience.upload", true, (*Server).removeUsers, nil},
	{http.MethodPost, "/v1/audiences/:id/usersreplace", "audience.upload", true, (*Server).replaceUsers, nil},
	// Extension: the gate is access to the audience (its owner) or the
	// party key; every group of people is then its own flow decision.
	{http.MethodPost, "/v1/audiences/:id/extend", "audience.read", true, (*Server).extendAudience, nil},
	{http.MethodPost, "/v1/signals", "signal.create", true, (*Server).flag, assignID("sig_")},
	{http.MethodGet, "/v1/signals", "signal.read", false, listSignals(signal.Outbound), nil},
	{http.MethodGet, "/v1/signals/inbound", "signal.read", false, listSignals(signal.Inbound), nil},
	{http.MethodGet, "/v1/signals/report", "signal.report", false, (*Server).signalReport, nil},
	{http.MethodGet, "/v1/signals/:id", "signal.read", false, (*Server).getSignal, nil},
	{http.MethodPost, "/v1/signals/inbound/:id/decision", "signal.decide", true, (*Server).decide, nil},
	{http.MethodPost, "/v1/signals/:id/revoke", "signal.revoke", true, (*Server).revoke, nil},
	// A data-subject request reads, but is audited as a change is: who
	// asked about whom.
	{http.MethodGet, "/v1/subjects/:id", "subject.read", true, (*Server).subjectHeld, nil},
	{http.MethodPost, "/v1/subjects/:id/objection", "subject.object", true, (*Server).object, (*Server).prepareObjection},
	{http.MethodPost, "/v1/subjects/:id/erasure", "subject.erase", true, (*Server).erase, nil},
	{http.MethodGet, "/v1/subject-requests/:id", "subject.read", false, (*Server).receipt, nil},
	{http.MethodPost, "/v1/link/jobs", "link.run", true, (*Server).startLink, (*Server).prepareLink},
	{http.MethodGet, "/v1/link/jobs", "link.read", false, (*Server).listLinks, nil},
	{http.MethodGet, "/v1/link/jobs/:id", "link.read", false, (*Server).getLink, nil},
	{http.MethodGet, "/v1/status", "metrics.read", false, (*Server).status, nil},
	// The Graph-style paths (graph.go), for Marketing API SDKs:
	// /v21.0/act_{tenant}/customaudiences, /v21.0/{id}/users and so on.
	{http.MethodPost, "/:version/:id/customaudiences", "audience.create", true, (*Server).createGraphAudience, (*Server).prepareGraphCreate},
	{http.MethodGet, "/:version/:id", "audience.read", false, (*Server).getGraphAudience, nil},
	{http.MethodDelete, "/:version/:id", "audience.delete", true, (*Server).deleteGraphAudience, nil},
	{http.MethodPost, "/:version/:id/users", "audience.upload", true, (*Server).addUsers, nil},
	{http.MethodDelete, "/:version/:id/users", "audience.upload", true, (*Server).removeUsers, nil},
	{http.MethodPost, "/:version/:id/usersreplace", "audience.upload", true, (*Server).replaceUsers, nil},
}

// New builds the server.
func New(cfg Config) *Server {
	s := &Server{Config: cfg, e: echo.New(), log: cfg.Log}
	if s.Policies == nil {
		b := policies.Default()
		s.Policies = func() *policies.Bundle { return b }
	}
	if s.Authorizer == nil {
		s.Authorizer = BundleAuthorizer(s.Policies)
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.RequestTimeout <= 0 {
		s.RequestTimeout = defaultRequestTimeout
	}
	if s.AuthFailuresPerMinute <= 0 {
		s.AuthFailuresPerMinute = 20
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.reqs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_http_requests_total", Help: "HTTP requests by route, method and status."}, []string{"route", "method", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "linkd_http_request_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.DefBuckets}, []string{"route"})
	s.batch = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "linkd_batch_entries", Help: "Entries per batch request.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)})
	s.usage = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_usage_total", Help: "Units of limits and budgets used, by counter."}, []string{"counter"})
	s.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_limit_refusals_total", Help: "Requests refused by a limit or budget, by counter."}, []string{"counter"})
	// Matches are counted by whole link runs only: a count that moved with
	// each upload batch would tell the uploader which numbers are users.
	s.matches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_matches_total",
		Help: "Accounts matched by link runs (kind link), counted when a run ends."}, []string{"kind"})
	s.relayed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_signals_received_total",
		Help: "Signal relay messages from the other party, by outcome (applied, duplicate, unlinked, expired, refused, quarantined)."}, []string{"outcome"})
	s.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "linkd_audit_append_failures_total",
		Help: "Audit entries that could not be written (each is logged with its request id)."})
	s.Registry.MustRegister(s.reqs, s.latency, s.batch, s.usage, s.refused, s.matches, s.relayed, s.auditFailures)
	// The process's own: goroutines, memory, file descriptors, CPU. A
	// registry that has them already keeps its own.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		var are prometheus.AlreadyRegisteredError
		if err := s.Registry.Register(c); err != nil && !errors.As(err, &are) {
			panic(err)
		}
	}

	s.e.HideBanner, s.e.HidePort = true, true
	s.e.HTTPErrorHandler = s.handleError
	s.e.Use(s.observe)
	for _, r := range append(slices.Clone(routes), peerRoutes()...) {
		s.e.Add(r.method, r.path, s.wrap(r))
	}
	s.metricsHandler = promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	s.e.GET("/v1/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI) })
	return s
}

// CountMatches adds n accounts matched by work of the given kind ("link"
// for link runs, which run beside the server) to linkd_matches_total.
func (s *Server) CountMatches(kind string, n int64) {
	s.matches.WithLabelValues(kind).Add(float64(n))
}

// MetricsHandler serves the Prometheus metrics without a key: for the
// operators' metrics address (linkd serve --metrics-addr), never for the
// API's.
func (s *Server) MetricsHandler() http.Handler { return s.metricsHandler }

func (s *Server) metrics(c echo.Context, _ *caller) error {
	s.metricsHandler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// Handler returns the server as an http.Handler.
func (s *Server) Handler() http.Handler { return s.e }

// Server limits: a request's body must arrive within ReadTimeout and its
// answer leave within WriteTimeout (a link job read waits up to maxWait);
// an idle keep-alive connection is closed after IdleTimeout; at most
// MaxConns connections are open at once (the rest wait in the kernel's
// backlog).
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = time.Minute
	WriteTimeout      = maxWait + 30*time.Second
	IdleTimeout       = 2 * time.Minute
	MaxConns          = 1024
)

// Serve serves on addr until ctx ends, then lets requests in flight finish.
func (s *Server) Serve(ctx context.Context, addr string) error {
	err := Serve(ctx, addr, s.e)
	s.Wait()
	return err
}

// Serve serves h on addr with the server limits until ctx ends, then lets
// requests in flight finish.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener is Serve on a listener already open.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(netutil.LimitListener(ln, MaxConns)) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

const (
	requestIDKey = "request_id"
	newIDKey     = "new_id"
)

// assignID prepares a request that creates a resource: its id is chosen
// before the request is decided and audited, so that the audit entry,
// written before anything changes, names it.
func assignID(prefix string) func(*Server, echo.Context, *policies.Request) error {
	return func(_ *Server, c echo.Context, q *policies.Request) error {
		q.Resource.ID = newID(prefix)
		c.Set(newIDKey, q.Resource.ID)
		return nil
	}
}

// assignedID is the id assignID chose (a new one if none was).
func assignedID(c echo.Context, prefix string) string {
	if id, ok := c.Get(newIDKey).(string); ok {
		return id
	}
	return newID(prefix)
}

func requestID(c echo.Context) string {
	if id, ok := c.Get(requestIDKey).(string); ok {
		return id
	}
	return ""
}

// observe gives each request an id, logs it and counts it.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set(requestIDKey, id)
		c.Response().Header().Set("X-Request-Id", id)
		start := time.Now()
		err := next(c)
		if err != nil {
			s.handleError(err, c)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		s.reqs.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		// The path is logged as the route pattern, never the raw URL: query
		// strings may carry an access_token. Probes and scrapes that
		// succeed are debug: they come every few seconds.
		level := slog.LevelInfo
		if (route == "/healthz" || route == "/readyz" || route == "/metrics") && status < 400 {
			level = slog.LevelDebug
		}
		s.log.Log(c.Request().Context(), level, "request", "request_id", id, "method", c.Request().Method, "route", route,
			"status", status, "duration_ms", time.Since(start).Milliseconds())
		return nil
	}
}

// notRouted is the error of a request that only a Graph-style route
// matched, with no Graph version: 405 when a route of linkd's own has the
// path under another method, else 404.
func (s *Server) notRouted(c echo.Context) error {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		other := s.e.NewContext(nil, nil)
		s.e.Router().Find(m, c.Request().URL.Path, other)
		if p := other.Path(); p != "" && !strings.HasPrefix(p, "/:version/") {
			return echo.ErrMethodNotAllowed
		}
	}
	return echo.ErrNotFound
}

// caller is the authenticated key of a request.
type caller struct {
	key access.Key
}

// presentedKey reads the key from the Authorization header, or from
// access_token as a query or form field (Graph-style clients).
func presentedKey(c echo.Context) string {
	if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if t := c.QueryParam("access_token"); t != "" {
		return t
	}
	if ct := c.Request().Header.Get(echo.HeaderContentType); strings.HasPrefix(ct, echo.MIMEApplicationForm) {
		return c.FormValue("access_token")
	}
	return ""
}

// wrap authenticates, authorizes, limits the body and audits one route.
func (s *Server) wrap(r route) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Every request's work has a deadline, database calls included:
		// a database that hangs gives a 503, never a request that hangs.
		limit := s.timeout(r)
		if r.path == "/readyz" {
			limit = readyTimeout
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), limit)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		if limit+5*time.Second > WriteTimeout {
			// The server's write timeout would cut the answer short.
			_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(limit + 5*time.Second))
		}
		if r.action == "" {
			return r.handle(s, c, nil)
		}
		if strings.HasPrefix(r.path, "/:version/") && !graphVersion.MatchString(c.Param("version")) {
			// Not a Graph version (v21.0): no route, before any key; or
			// a route of linkd's own that takes other methods.
			return s.notRouted(c)
		}
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, maxBody)
		if err := checkText(c); err != nil {
			return err
		}
		k, signedIn := c.Request().Context().Value(keyContext{}).(access.Key)
		if !signedIn {
			var err error
			if k, err = s.authenticate(c.Request(), presentedKey(c), c.Response().Header()); err != nil {
				return err
			}
		}
		cl := &caller{key: k}
		q := requestOf(k, r.action, c.Param("id"))
		if q.Resource.Kind == "subject" && strings.HasPrefix(r.path, "/v1/subjects/") {
			// A data-subject request is audited under an id of its own,
			// the receipt's, never the account's: an erasure leaves no
			// row that names the account, the audit log's included.
			q.Resource.ID = newID("sr_")
			c.Set(newIDKey, q.Resource.ID)
		}
		// The other party's key has a rate of its own: a link run of
		// millions of accounts is thousands of batches.
		perMinute := s.limits().RequestsPerMinute
		if k.Role == access.RoleParty {
			perMinute = s.limits().PeerRequestsPerMinute
		}
		if err := s.consume(c, k.ID, "requests", access.Minute, 1, perMinute); err != nil {
			s.record(c, cl, q, "deny", policies.Decision{Rules: []string{"rate_limit"}, BundleHash: s.Policies().Hash()})
			return err
		}
		if r.prepare != nil {
			if err := r.prepare(s, c, &q); err != nil {
				// A body refused before the decision: a role no rule
				// permits the action at all hears that first, and the
				// refusal is audited as any other.
				if d, aerr := s.Authorizer.Authorize(c.Request().Context(), q); aerr == nil && !d.Allow && d.DefaultDeny {
					s.record(c, cl, q, "deny", d)
					return s.refusal(q, d)
				}
				return err
			}
		}
		d, err := s.Authorizer.Authorize(c.Request().Context(), q)
		if err != nil {
			return err
		}
		if !d.Allow {
			s.record(c, cl, q, "deny", d)
			return s.refusal(q, d)
		}
		if r.mutates {
			// The decision is in the log before anything changes: a
			// request whose entry cannot be written is not carried out.
			if err := s.recordErr(c, cl, q, "allow", d); err != nil {
				return fmt.Errorf("%w: the audit log could not record the request: %w", storeerr.ErrUnavailable, err)
			}
		}
		err = r.handle(s, c, cl)
		if r.mutates && err != nil {
			s.record(c, cl, q, "allow_failed", d)
		}
		return err
	}
}

// refusal is the 403 of a request the policies denied: the deciding rule
// with where it stands and what it is for or, when no rule permitted the
// request, the roles that a rule would let do it.
func (s *Server) refusal(q policies.Request, d policies.Decision) *Error {
	details := map[string]any{"role": q.Role, "rule": d.Rule()}
	if len(d.Catalogue) > 0 {
		details["catalogue"] = d.Catalogue // the values the rule read
	}
	if d.DefaultDeny || len(d.Rules) == 0 {
		b := s.Policies()
		var roles []string
		for _, r := range access.Roles {
			other := q
			other.Role = string(r)
			if string(r) != q.Role && b.Decide(other).Allow {
				roles = append(roles, string(r))
			}
		}
		details["allowed_roles"] = roles
		msg := fmt.Sprintf("no policy lets the %s role %s (default-deny)", q.Role, q.Action)
		if len(roles) > 0 {
			msg += "; the roles that may: " + strings.Join(roles, ", ")
		}
		return newError(http.StatusForbidden, "forbidden", msg, details)
	}
	for _, r := range s.Policies().Rules() {
		if r.ID == d.Rules[0] {
			details["rule_file"], details["rule_line"] = r.File, r.Line
			msg := fmt.Sprintf("refused by the policy %s (%s:%d)", r.ID, r.File, r.Line)
			if r.Why != "" {
				msg += ": " + r.Why
			}
			return newError(http.StatusForbidden, "forbidden", msg, details)
		}
	}
	return newError(http.StatusForbidden, "forbidden", "refused by the policy "+d.Rule(), details)
}

// authenticate finds the key of secret, presented by the client of r:
// refused (401) when it is missing, unknown or revoked, and throttled
// (429) when the client's address has failed too often.
func (s *Server) authenticate(r *http.Request, secret string, h http.Header) (access.Key, error) {
	addr, now := clientAddr(r), time.Now()
	if ok, retry := s.authFails.reserve(addr, s.AuthFailuresPerMinute, now); !ok {
		s.refused.WithLabelValues("authentication").Inc()
		return access.Key{}, throttled(h, retry)
	}
	if secret == "" {
		s.authFails.done(addr, true, time.Now())
		return access.Key{}, newError(http.StatusUnauthorized, "unauthorized", "an API key is required: Authorization: Bearer KEY", nil)
	}
	k, err := s.Keys.APIKeyByHash(r.Context(), access.HashKey(secret))
	bad := errors.Is(err, storeerr.ErrNotFound) || (err == nil && !k.RevokedAt.IsZero())
	s.authFails.done(addr, bad, time.Now())
	if bad {
		return access.Key{}, newError(http.StatusUnauthorized, "unauthorized", "the API key is not valid", nil)
	}
	return k, err
}

// requestOf is the authorization request of key k for action on the
// resource id.
func requestOf(k access.Key, action, id string) policies.Request {
	q := policies.Request{Role: string(k.Role), Tenant: k.Tenant, Action: action,
		Resource: policies.Resource{Kind: resourceKind(action), ID: id}}
	if q.Resource.Kind == "audience" {
		// An audience is found under the key's tenant or not at all.
		q.Resource.Tenant = k.Tenant
	}
	return q
}

// consume takes n from a limit of subject; over it, the answer is 429 with
// Retry-After and nothing is counted.
func (s *Server) consume(c echo.Context, subject, counter string, w access.Window, n, max int64) error {
	if s.Usage == nil {
		return nil
	}
	start, end := w.Bounds(s.Now())
	ok, used, err := s.Usage.Consume(c.Request().Context(), subject, counter, start, n, max)
	if err != nil {
		return err
	}
	retry := int64(end.Sub(s.Now()).Seconds()) + 1
	rateLimitHeaders(c.Response().Header(), counter, w, max, used, retry)
	if ok {
		s.usage.WithLabelValues(counter).Add(float64(n))
		return nil
	}
	s.refused.WithLabelValues(counter).Inc()
	c.Response().Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	return newError(http.StatusTooManyRequests, "rate_limited", "the "+counter+" limit is reached; retry after the window ends",
		map[string]any{"limit": max, "used": used, "requested": n, "retry_after_seconds": retry})
}

// rateLimitHeaders advertises a limit the request was counted against,
// as the IETF's RateLimit header fields (draft-ietf-httpapi-ratelimit-
// headers-10) do: the policy (quota q in a window of w seconds) and where
// the caller stands (r remaining, the window ending in t seconds). One
// item for each limit a request counts against.
func rateLimitHeaders(h http.Header, counter string, w access.Window, quota, used, reset int64) {
	h.Add("RateLimit-Policy", fmt.Sprintf("%q;q=%d;w=%d", counter, quota, int64(time.Duration(w)/time.Second)))
	h.Add("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", counter, max(0, quota-used), reset))
}

// record appends an audit entry for the decision d on q, with q itself so
// the entry can be explained later; failing to audit is logged loudly.
func (s *Server) record(c echo.Context, cl *caller, q policies.Request, decision string, d policies.Decision) {
	_ = s.recordEntry(c.Request().Context(), requestID(c), c.Path(), cl, q, decision, d)
}

// recordErr is record that says whether the entry was written.
func (s *Server) recordErr(c echo.Context, cl *caller, q policies.Request, decision string, d policies.Decision) error {
	return s.recordEntry(c.Request().Context(), requestID(c), c.Path(), cl, q, decision, d)
}

// recordEntry is record apart from a request's echo context: for work that
// goes on after the answer (an extension).
func (s *Server) recordEntry(ctx context.Context, reqID, path string, cl *caller, q policies.Request, decision string, d policies.Decision) error {
	if s.Audit == nil {
		return nil
	}
	req, _ := json.Marshal(q)
	_, err := s.Audit.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: cl.key.ID, Tenant: cl.key.Tenant,
		Role: string(cl.key.Role), Action: q.Action, Resource: path, Decision: decision, Rule: d.Rule(),
		BundleHash: d.BundleHash, RequestID: reqID, Request: string(req)}, s.AuditChain)
	if err != nil {
		s.auditFailures.Inc()
		s.log.Error("audit append failed", "request_id", reqID, "error", err)
	}
	return err
}

func (s *Server) healthz(c echo.Context, _ *caller) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "party": string(s.Party)})
}

// readyTimeout is how long /readyz waits for the database.
const readyTimeout = time.Second

func (s *Server) readyz(c echo.Context, _ *caller) error {
	if s.Ready != nil {
		if err := s.Ready(c.Request().Context()); err != nil {
			s.log.Warn("not ready", "error", err)
			return newError(http.StatusServiceUnavailable, "not_ready", "the server is not ready", nil)
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "party": string(s.Party)})
}
