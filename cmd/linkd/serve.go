package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/console"
	"github.com/linkd/linkd/internal/retention"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
)

const serveHelp = `
Runs the HTTP API of one party. State is in PostgreSQL (--database-url or
DATABASE_URL); keys come from the party's key file. Logs are JSON lines on stderr. SIGINT or SIGTERM stops
the server after the requests in flight.

Every request is decided by the policy bundle: the one built into linkd, or
the one in --policies DIR (or LINKD_POLICIES). That directory is reloaded on
SIGHUP and when its files change; a bundle that fails lint or its tests is
refused, logged and counted in linkd_policy_reload_failing, and the running
bundle stays. A bad bundle at start stops the server.

A janitor purges, at start and every --retention-every, the audience
memberships, upload sessions, signals and links older than the catalogue's
retention for each (linkd_retention_purged_total counts them).

With --peer URL (or LINKD_PEER) and the party key the other party issued
in LINKD_PEER_KEY, the server links with the other party (linkd link run),
extends audiences to it, and relays the abuse signals its policies let
cross: each is written to an outbox with the signal and sent by a worker on
River in PostgreSQL (retried with backoff while the other party is away,
one drain at a time across processes; linkd_signals_relayed_total counts
the outcomes).

With --signal-webhook URL (or LINKD_SIGNAL_WEBHOOK), this party's account
system is told of each signal received and each revocation, the same way:
POST {"events":[{"id","event","signal_id","account_id","type",
"confidence","status","created_at","expires_at"}]} with the header
X-Linkd-Signature: sha256=HEX, the HMAC-SHA256 of the body under the secret
in LINKD_SIGNAL_WEBHOOK_SECRET. Delivery is at least once: dedupe by id.

Audit entries are hash-chained under a key of the key file. With
--audit-checkpoints FILE (or LINKD_AUDIT_CHECKPOINTS), a signed checkpoint of
the log's head is appended to FILE and to the log at start and every
--audit-checkpoint-every (linkd audit verify --checkpoints FILE checks it).

The Prometheus metrics are served without a key on --metrics-addr (default
127.0.0.1:9464, loopback only; off for none), and on the API's address only
to an admin key.

The routes are in api/openapi.json.`

// serveCmd runs one party's HTTP API.
type serveCmd struct {
	stateFlags
	Party                string        `required:"" enum:"messenger,social" placeholder:"PARTY" help:"The party this server is: messenger or social."`
	Addr                 string        `default:"127.0.0.1:8080" placeholder:"HOST:PORT" help:"Address to listen on."`
	LinkBatch            int           `default:"10000" help:"Elements in each message of a link run this party starts (1 to 10000)."`
	InsecureCookies      bool          `help:"The console's cookies without Secure, for a console reached over plain HTTP on a trusted network (never behind TLS)."`
	MetricsAddr          string        `default:"127.0.0.1:9464" placeholder:"HOST:PORT" help:"Address serving the Prometheus metrics without a key (off: none; the API serves them to an admin key)."`
	Migrate              bool          `help:"Apply pending database migrations first."`
	RetentionEvery       time.Duration `default:"1h" help:"How often the janitor purges what the catalogue's retention says has expired (0: never)."`
	Peer                 string        `env:"LINKD_PEER" placeholder:"URL" help:"The other party's URL, for linking, extension and the relays; its party key in LINKD_PEER_KEY."`
	SignalWebhook        string        `env:"LINKD_SIGNAL_WEBHOOK" placeholder:"URL" help:"URL told of every signal received from the other party and its revocation (secret in LINKD_SIGNAL_WEBHOOK_SECRET)."`
	AuditCheckpoints     string        `env:"LINKD_AUDIT_CHECKPOINTS" placeholder:"FILE" help:"Append a signed checkpoint of the audit log's head to FILE at start and every --audit-checkpoint-every."`
	AuditCheckpointEvery time.Duration `default:"5m" help:"How often to checkpoint the audit log (with --audit-checkpoints)."`
	Policies             string        `env:"LINKD_POLICIES" placeholder:"DIR" help:"The policy bundle's directory (default: the built-in bundle)."`
	LogLevel             slog.Level    `env:"LINKD_LOG_LEVEL" default:"info" placeholder:"LEVEL" help:"The least level logged: debug, info, warn or error."`
}

func (serveCmd) Help() string { return strings.TrimSpace(serveHelp) }

func (c *serveCmd) Run(e *env) error {
	const cmd = "serve"
	partyName, addr, linkBatch, insecureCookies, metricsAddr := &c.Party, &c.Addr, &c.LinkBatch, &c.InsecureCookies, &c.MetricsAddr
	sf, migrate, janitorEvery, peerURL, hookURL := c.stateFlags, &c.Migrate, &c.RetentionEvery, &c.Peer, &c.SignalWebhook
	checkpoints, checkpointEvery, policyDir, level := &c.AuditCheckpoints, &c.AuditCheckpointEvery, &c.Policies, &c.LogLevel
	if *linkBatch < 1 || *linkBatch > linkjob.DefaultBatch {
		return usage(e, cmd, "--link-batch must be between 1 and %d", linkjob.DefaultBatch)
	}
	self, err := party.Parse(*partyName)
	if err != nil {
		return usage(e, cmd, "--party must be messenger or social")
	}
	fail := func(err error) error { return failed(e, cmd, "%v", err) }
	ring, err := sf.openRing(e)
	if err != nil {
		return fail(err)
	}
	if ring.Party() != string(self) {
		return fail(fmt.Errorf("the key file belongs to %s, not %s", ring.Party(), self))
	}
	d, err := pseudonym.NewDeriver(ring, ring.Current())
	if err != nil {
		return fail(err)
	}
	ctx, stop := e.context()
	defer stop()
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level})).With("party", string(self))

	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	defer closeStore()
	if *migrate {
		applied, err := store.MigrateUp(ctx, st.Pool())
		if err != nil {
			return fail(err)
		}
		log.Info("migrations applied", "versions", applied)
	}
	ready := func(ctx context.Context) error { return st.Pool().Ping(ctx) }
	reg := prometheus.NewRegistry()
	pol, err := policies.LoadLive(ctx, *policyDir, st, log, reg)
	if err != nil {
		printProblems(e.stderr, *policyDir, err)
		return fail(fmt.Errorf("the policy bundle does not load"))
	}
	if err := pol.Watch(ctx, 200*time.Millisecond); err != nil {
		return fail(fmt.Errorf("watching the policy bundle: %w", err))
	}
	if *janitorEvery > 0 {
		j := &retention.Janitor{Store: st, Catalogue: func() *policies.Catalogue { return pol.Bundle().Catalogue }, Log: log}
		j.Register(reg)
		go j.Run(ctx, *janitorEvery)
	}
	aud := audienceService(st, d)
	chain, err := auditChain(ring)
	if err != nil {
		return fail(err)
	}
	if *checkpoints != "" && *checkpointEvery > 0 {
		go checkpointAudit(ctx, st, chain, *checkpoints, *checkpointEvery, log)
	}
	var other linkjob.Peer
	var audPeer api.AudiencePeer
	if *peerURL != "" {
		pk := e.getenv("LINKD_PEER_KEY")
		if pk == "" {
			return usage(e, cmd, "--peer needs the party key the other party issued, in LINKD_PEER_KEY")
		}
		pc := peer.NewClient(*peerURL, pk)
		other, audPeer = pc, pc
		var hook signal.Hook
		if *hookURL != "" {
			secret := e.getenv("LINKD_SIGNAL_WEBHOOK_SECRET")
			if len(secret) < 16 {
				return usage(e, cmd, "--signal-webhook needs a shared secret of at least 16 characters in LINKD_SIGNAL_WEBHOOK_SECRET")
			}
			hook = signal.NewWebhook(*hookURL, secret)
		}
		stopRelay, err := startRelay(ctx, st, pc, hook, chain, log, reg)
		if err != nil {
			return fail(err)
		}
		defer stopRelay()
	}
	lk := newLinker(ctx, st, d, other, log, *linkBatch)
	srv := api.New(api.Config{Party: self, Audiences: aud, Linking: lk, AudiencePeer: audPeer, Signals: st, Keys: st, Audit: st, AuditChain: chain, OPRF: d.OPRF(), Epoch: d.Epoch, Ready: ready, Log: log, Usage: st,
		Registry: reg, Policies: pol.Bundle, Archive: st, Status: statusOf(st, ring, pol), Subjects: st,
		VerifyAudit: verifierOf(st, ring, *checkpoints)})
	lk.Done = func(r linkjob.Result) { srv.CountMatches("link", r.Matched) }
	con, err := console.New(console.Config{API: srv, Sessions: st, Party: string(self), Log: log, SecureCookies: !*insecureCookies})
	if err != nil {
		return fail(err)
	}
	srv.Mount(con)
	if *metricsAddr != "off" && *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fail(fmt.Errorf("the metrics address: %w", err))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		go func() {
			if err := api.ServeListener(ctx, ln, mux); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server failed", "addr", *metricsAddr, "error", err)
			}
		}()
	}
	log.Info("serving", "addr", *addr, "metrics_addr", *metricsAddr, "key_epoch", d.Epoch, "policy_bundle", pol.Bundle().Hash())
	if err := srv.Serve(ctx, *addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(err)
	}
	log.Info("stopped")
	return nil
}

// checkpointAudit signs the audit log's head into file at once and then
// every interval, until ctx ends; a failure is logged and tried again at
// the next tick.
func checkpointAudit(ctx context.Context, st *store.Store, c *audit.Chain, file string, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		cp, err := audit.WriteCheckpoint(ctx, st, c, file, time.Now())
		switch {
		case err != nil:
			log.Error("audit checkpoint failed", "file", file, "error", err)
		default:
			log.Info("audit checkpoint", "file", file, "seq", cp.Seq)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
