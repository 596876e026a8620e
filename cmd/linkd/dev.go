package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/console"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtemp"
	"github.com/linkd/linkd/internal/retention"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
)

const devHelp = `
Runs both parties in one process, each on PostgreSQL with fresh keys that
are never written down and a synthetic directory: --size accounts each
(default 50,000), 60% of them on both services, with numbers from the US,
GB, TR, FR, DE, ID and EG, one in nine opted out of ads, nine in ten
consenting to ads under notice v1 (the rest withdrew it). Prints a demo API
key for each role of each party and example requests. Nothing is kept.

Without --database-url (or DATABASE_URL), it starts a throwaway PostgreSQL
server of its own in a temporary directory, from the PostgreSQL server
programs on this machine, and removes it at exit. With one, each party
gets a schema there (linkd_dev_social, linkd_dev_messenger), dropped at
exit; neither may exist already.`

// devCmd runs both parties in one process.
type devCmd struct {
	Size          int        `default:"50000" help:"Accounts in each party's directory (10 to 5000000)."`
	DatabaseURL   string     `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL to make the parties' schemas in (none: a throwaway server)."`
	SocialAddr    string     `default:"127.0.0.1:8080" placeholder:"HOST:PORT" help:"The social network's address."`
	MessengerAddr string     `default:"127.0.0.1:8081" placeholder:"HOST:PORT" help:"The messenger's address."`
	LogLevel      slog.Level `env:"LINKD_LOG_LEVEL" default:"warn" placeholder:"LEVEL" help:"The least level logged: debug, info, warn or error."`
}

func (devCmd) Help() string { return strings.TrimSpace(devHelp) }

func (c *devCmd) Run(e *env) error {
	const cmd = "dev"
	size, dbURL, socialAddr, messengerAddr, level := &c.Size, &c.DatabaseURL, &c.SocialAddr, &c.MessengerAddr, &c.LogLevel
	if *size < 10 || *size > 5_000_000 {
		return usage(e, cmd, "--size must be between 10 and 5000000")
	}
	// The ports are checked before anything is built.
	for _, a := range []struct{ flag, addr string }{{"--social-addr", *socialAddr}, {"--messenger-addr", *messengerAddr}} {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			return failed(e, cmd, "%s %s: %v (stop what uses it, or pass another address with %s)", a.flag, a.addr, err, a.flag)
		}
		ln.Close()
	}
	ctx, stop := e.context()
	defer stop()
	// A closed terminal (SIGHUP) or SIGQUIT stops dev as Ctrl-C does, so
	// that its PostgreSQL server and files go too.
	ctx, stopHangup := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGQUIT)
	defer stopHangup()
	start := time.Now()
	log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	url := *dbURL
	if url == "" {
		fmt.Fprintln(e.stdout, "starting a throwaway PostgreSQL server...")
		pg, err := pgtemp.Start(ctx)
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
		defer pg.Stop()
		url = pg.URL
	}
	// 60% overlap: the messenger has people [0, n), the social network
	// [0.4n, 1.4n).
	n := *size
	shift := n * 2 / 5
	fmt.Fprintf(e.stdout, "generating %d synthetic people...\n", n+shift)
	people := synth.People(2016, n+shift)
	parties := []struct {
		name, addr string
		people     []synth.Person
	}{
		{string(party.Social), *socialAddr, people[shift:]},
		{string(party.Messenger), *messengerAddr, people[:n]},
	}
	servers := make([]*api.Server, len(parties))
	demoKeys := make([]map[access.Role]string, len(parties))
	linkers := make([]*linkjob.Runner, len(parties))
	issued := make([]string, len(parties))
	stores := make([]*store.Store, len(parties))
	for i, p := range parties {
		st, drop, err := devStore(ctx, url, "linkd_dev_"+p.name)
		if err != nil {
			return failed(e, cmd, "%s: %v", p.name, err)
		}
		defer drop()
		srv, ks, lk, sec, err := devParty(ctx, st, p.name, p.people, log)
		if err != nil {
			return failed(e, cmd, "%s: %v", p.name, err)
		}
		servers[i], demoKeys[i], linkers[i], issued[i], stores[i] = srv, ks, lk, sec, st
		fmt.Fprintf(e.stdout, "%s: imported %d accounts (%.1fs since start)\n", p.name, len(p.people), time.Since(start).Seconds())
	}

	// Each party links with the other through its peer routes, with the
	// party key the other issued.
	for i := range parties {
		o := 1 - i
		linkers[i].Peer = peer.NewClient("http://"+parties[o].addr, issued[o])
		servers[i].AudiencePeer = peer.NewClient("http://"+parties[o].addr, issued[o])
		stopRelay, err := startRelay(ctx, stores[i], peer.NewClient("http://"+parties[o].addr, issued[o]), nil, servers[i].AuditChain, log, servers[i].Registry)
		if err != nil {
			return failed(e, cmd, "%s: %v", parties[i].name, err)
		}
		defer stopRelay()
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(parties))
	for i, p := range parties {
		wg.Go(func() {
			if err := servers[i].Serve(ctx, p.addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s on %s: %w", p.name, p.addr, err)
				stop()
			}
		})
	}
	for _, p := range parties {
		if err := waitReady(ctx, "http://"+p.addr+"/readyz"); err != nil {
			stop()
			wg.Wait()
			select {
			case serr := <-errs: // the server's own failure says more
				err = serr
			default:
			}
			return failed(e, cmd, "%s: %v", p.name, err)
		}
	}
	sample, err := writeCustomers(parties[0].people)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd dev: writing the sample customer list: %v\n", err)
	} else {
		defer os.RemoveAll(filepath.Dir(sample)) // nothing is kept
	}
	printDev(e.stdout, parties[0].addr, parties[1].addr, demoKeys, n, n-shift, time.Since(start), sample)
	wg.Wait()
	select {
	case err := <-errs:
		return failed(e, cmd, "%v", err)
	default:
	}
	fmt.Fprintln(e.stdout, "stopped")
	return nil
}

// devStore makes schema in the database at url, migrated, and returns
// the party's store on it; drop closes the store and drops the schema.
func devStore(ctx context.Context, url, schema string) (st *store.Store, drop func(), err error) {
	admin, err := store.Connect(ctx, url, "")
	if err != nil {
		return nil, nil, err
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, nil, fmt.Errorf("creating schema %s (another linkd dev may be using it; if none is, drop it): %w", schema, err)
	}
	dropSchema := func() {
		// The context may be done already: dropping is the last thing.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if admin, err := store.Connect(ctx, url, ""); err == nil {
			_, _ = admin.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			admin.Close()
		}
	}
	pool, err := store.Connect(ctx, url, schema)
	if err != nil {
		dropSchema()
		return nil, nil, err
	}
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		pool.Close()
		dropSchema()
		return nil, nil, err
	}
	return store.New(pool), func() { pool.Close(); dropSchema() }, nil
}

// devParty builds one party on its store: keys, a directory imported
// through the real importer, one demo key per role, and its server.
func devParty(ctx context.Context, st *store.Store, name string, people []synth.Person, log *slog.Logger) (*api.Server, map[access.Role]string, *linkjob.Runner, string, error) {
	ring, err := keys.NewRing(name, time.Now())
	if err != nil {
		return nil, nil, nil, "", err
	}
	d, err := pseudonym.NewDeriver(ring, ring.Current())
	if err != nil {
		return nil, nil, nil, "", err
	}
	pr, pw := io.Pipe()
	go func() {
		// Every ninth opted out of ads; nine in ten consented to ads.
		fmt.Fprintln(pw, "account_id,phone,country,ad_opt_out,ads_consent,ads_consent_notice")
		for i, p := range people {
			consent := map[bool]string{true: "granted", false: "withdrawn"}[i%10 != 0]
			fmt.Fprintf(pw, "%s-%06d,%s,%s,%v,%s,v1\n", name[:1], i, p.National, p.Country, i%9 == 0, consent)
		}
		pw.Close()
	}()
	im := &directory.Importer{Store: st, Deriver: d}
	stats, err := im.Import(ctx, pr, func(re *directory.RowError) { log.Warn("synthetic row refused", "line", re.Line, "reason", re.Reason) })
	pr.Close()
	if err != nil {
		return nil, nil, nil, "", err
	}
	if stats.Invalid > 0 {
		return nil, nil, nil, "", fmt.Errorf("%d synthetic rows refused", stats.Invalid)
	}
	ks := map[access.Role]string{}
	for _, r := range access.Roles {
		sec, k, err := access.NewKey("demo", r, time.Now())
		if err != nil {
			return nil, nil, nil, "", err
		}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			return nil, nil, nil, "", err
		}
		ks[r] = sec
	}
	// The metrics serve has, on the API (admin key).
	reg := prometheus.NewRegistry()
	pol, err := policies.LoadLive(ctx, "", st, log, reg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	j := &retention.Janitor{Store: st, Catalogue: func() *policies.Catalogue { return pol.Bundle().Catalogue }, Log: log}
	j.Register(reg)
	go j.Run(ctx, time.Hour)
	aud := audienceService(st, d)
	// Linking: the peer is set once both parties exist.
	lk := newLinker(ctx, st, d, nil, log.With("party", name), 0)
	chain, err := auditChain(ring)
	if err != nil {
		return nil, nil, nil, "", err
	}
	ready := func(ctx context.Context) error { return st.Pool().Ping(ctx) }
	srv := api.New(api.Config{Party: party.Party(name), Keys: st, Audit: st, AuditChain: chain, OPRF: d.OPRF(), Epoch: d.Epoch, Log: log.With("party", name), Usage: st, Ready: ready,
		Policies: pol.Bundle, Archive: st, Audiences: aud, Linking: lk, Signals: st, Registry: reg, Status: statusOf(st, ring, pol), Subjects: st,
		VerifyAudit: verifierOf(st, ring, "")})
	// The party key the other party links with.
	sec, k, err := access.NewKey(string(party.Party(name).Other()), access.RoleParty, time.Now())
	if err != nil {
		return nil, nil, nil, "", err
	}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		return nil, nil, nil, "", err
	}
	lk.Done = func(r linkjob.Result) { srv.CountMatches("link", r.Matched) }
	con, err := console.New(console.Config{API: srv, Sessions: st, Party: name, Log: log.With("party", name)})
	if err != nil {
		return nil, nil, nil, "", err
	}
	srv.Mount(con)
	return srv, ks, lk, sec, nil
}

func waitReady(ctx context.Context, url string) error {
	for range 200 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return errors.New("did not become ready")
}

// writeCustomers writes an advertiser's customer list for the demo: three
// quarters of the social network's first people (up to 1,500), in national
// format with a country column, and a third as many numbers of no one. It
// returns the file's path.
func writeCustomers(people []synth.Person) (string, error) {
	n := min(1500, len(people)*3/4)
	var b strings.Builder
	b.WriteString("phone,country\n")
	for _, p := range people[:n] {
		fmt.Fprintf(&b, "%s,%s\n", p.National, p.Country)
	}
	for _, p := range synth.People(1984, n/3) {
		fmt.Fprintf(&b, "%s,%s\n", p.National, p.Country)
	}
	dir, err := os.MkdirTemp("", "linkd-dev-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "customers.csv")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

func printDev(w io.Writer, socialAddr, messengerAddr string, ks []map[access.Role]string, n, overlap int, took time.Duration, sample string) {
	fmt.Fprintf(w, "\nlinkd dev is ready in %.1fs: two parties, %d accounts each, %d on both.\n", took.Seconds(), n, overlap)
	fmt.Fprintf(w, "Keys are fresh and kept nowhere; everything goes when you press Ctrl-C.\n\n")
	for i, p := range []struct{ name, addr string }{{"social", socialAddr}, {"messenger", messengerAddr}} {
		fmt.Fprintf(w, "%s on http://%s\n  console           http://%s/console/ (sign in with your name and a key below)\n", p.name, p.addr, p.addr)
		for _, r := range access.Roles {
			fmt.Fprintf(w, "  %-17s %s\n", r, ks[i][r])
		}
		fmt.Fprintln(w)
	}
	adv := ks[0][access.RoleAdvertiser]
	fmt.Fprintf(w, "Try, as an operator:\n  curl -s http://%s/readyz\n  curl -s -H 'Authorization: Bearer %s' http://%s/metrics | grep linkd_\n", socialAddr, ks[0][access.RoleAdmin], socialAddr)
	fmt.Fprintf(w, "and link the two directories (PSI between the two parties, one command):\n  bin/linkd link run --server http://%s --key %s\n\n", socialAddr, ks[0][access.RoleAdmin])
	fmt.Fprintf(w, "As an advertiser (private mode): the party's OPRF key to verify evaluations against:\n  curl -s -H 'Authorization: Bearer %s' http://%s/v1/oprf/config\n", adv, socialAddr)
	fmt.Fprintf(w, "and an evaluation of a blinded element (this one is the ristretto255 generator):\n")
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n    -d '{\"blinded\":[\"4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY=\"]}' http://%s/v1/oprf/evaluate\n\n", adv, socialAddr)
	fmt.Fprintf(w, "As an advertiser, an audience from a customer list (%s: numbers, some of users, some not):\n", sample)
	fmt.Fprintf(w, "  bin/linkd audience create --server http://%s --key %s --name 'Spring buyers'\n", socialAddr, adv)
	fmt.Fprintf(w, "then, with the id it answers:\n  bin/linkd audience upload --server http://%s --key %s --audience ID %s\n", socialAddr, adv, sample)
	fmt.Fprintf(w, "  bin/linkd audience upload --mode private --server http://%s --key %s --audience ID2 %s\n", socialAddr, adv, sample)
	fmt.Fprintf(w, "  bin/linkd audience get --server http://%s --key %s ID\n", socialAddr, adv)
	fmt.Fprintf(w, "and, once the parties are linked, its extension to the messenger, whose size the same tenant reads there:\n")
	fmt.Fprintf(w, "  bin/linkd audience extend --server http://%s --key %s ID\n", socialAddr, adv)
	fmt.Fprintf(w, "  bin/linkd audience get --server http://%s --key %s OTHER_ID\n", messengerAddr, ks[1][access.RoleAdvertiser])
	fmt.Fprintf(w, "(or with curl: -d '{\"name\":\"Spring buyers\",\"purpose\":\"ads\"}' http://%s/v1/audiences, and so on)\n\n", socialAddr)
	tsKey := ks[0][access.RoleTrustSafety]
	fmt.Fprintf(w, "As trust and safety, flag an account (whether the flag may reach the other party is a policy decision,\nanswered in \"crosses\"; once the parties are linked, this one does):\n")
	fmt.Fprintf(w, "  bin/linkd signal flag --server http://%s --key %s --account s-000001 --type malicious_link --confidence 0.9 --evidence case-1\n",
		socialAddr, tsKey)
	fmt.Fprintf(w, "the messenger's trust and safety team finds it in its review queue (its own account, no number) and decides:\n")
	fmt.Fprintf(w, "  bin/linkd signal inbound --server http://%s --key %s --status open\n", messengerAddr, ks[1][access.RoleTrustSafety])
	fmt.Fprintf(w, "  bin/linkd signal decide --server http://%s --key %s SIGNAL_ID disable --reason 'confirmed phishing'\n",
		messengerAddr, ks[1][access.RoleTrustSafety])
	fmt.Fprintf(w, "the social network sees the outcome, and an upheld appeal there revokes the flag on both sides:\n")
	fmt.Fprintf(w, "  bin/linkd signal list --server http://%s --key %s --peer-outcome disable\n", socialAddr, tsKey)
	fmt.Fprintf(w, "  bin/linkd signal revoke --server http://%s --key %s SIGNAL_ID\n\n", socialAddr, tsKey)
	fmt.Fprintf(w, "A role that may not, and its answer (trust and safety never evaluates for advertisers):\n  curl -s -H 'Authorization: Bearer %s' -X POST http://%s/v1/oprf/evaluate\n\n", ks[0][access.RoleTrustSafety], socialAddr)
	comp := ks[0][access.RoleCompliance]
	fmt.Fprintf(w, "As compliance, the audit log, where that refusal now stands:\n  bin/linkd audit list --server http://%s --key %s --decision deny\n", socialAddr, comp)
	fmt.Fprintf(w, "why it was decided so (any entry, by the seq the audit log shows), and the rules in force:\n  bin/linkd policy explain --server http://%s --key %s --audit SEQ\n", socialAddr, comp)
	fmt.Fprintf(w, "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/policies\n", comp, socialAddr)
}
