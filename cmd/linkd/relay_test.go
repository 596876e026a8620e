package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storetest"
)

// faults stands in front of the receiving party and misbehaves on demand.
type faults struct {
	next http.Handler
	mode atomic.Value // string: "", "down", "flaky", "hold"
	n    atomic.Int64
	held chan struct{} // a request waiting in "hold"
	go_  chan struct{} // closed to let held requests through
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode, _ := f.mode.Load().(string)
	switch mode {
	case "down":
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case "flaky":
		// Every other request fails: one after the receiver applied the
		// batch (the answer is lost, the sender sends the batch again),
		// the next before the receiver sees it.
		switch f.n.Add(1) % 4 {
		case 1:
			f.next.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "answer lost", http.StatusBadGateway)
			return
		case 3:
			http.Error(w, "flaky", http.StatusBadGateway)
			return
		}
	case "hold":
		select {
		case f.held <- struct{}{}:
		default:
		}
		<-f.go_
	}
	f.next.ServeHTTP(w, r)
}

type relayParty struct {
	st    *store.Store
	reg   *prometheus.Registry
	url   string
	ts    string // a trust and safety key
	party string // the party key it issued to the other party
}

func newRelayParty(t testing.TB, name string, linkIDs [][16]byte, wrap func(http.Handler) http.Handler) *relayParty {
	t.Helper()
	ctx := context.Background()
	pool, _ := pgtest.Schema(t)
	if _, err := store.MigrateUp(ctx, pool); err != nil {
		t.Fatal(err)
	}
	p := &relayParty{st: store.New(pool), reg: prometheus.NewRegistry()}
	accts := make([]directory.Account, len(linkIDs))
	links := make([]store.Link, len(linkIDs))
	for i, id := range linkIDs {
		var ps pseudonym.Set
		for _, b := range [][]byte{ps.IndexDigits[:], ps.IndexE164[:], ps.OPRF[:], ps.Link[:]} {
			_, _ = rand.Read(b)
		}
		accts[i] = directory.Account{ID: fmt.Sprintf("%s%05d", name[:1], i), Country: "TR", Epoch: 1, Pseudonyms: ps, UpdatedAt: time.Now()}
		links[i] = store.Link{AccountID: accts[i].ID, ID: id, Epoch: 1, CreatedAt: time.Now()}
	}
	if err := p.st.PutAccounts(ctx, accts); err != nil {
		t.Fatal(err)
	}
	if err := p.st.PutLinks(ctx, links, 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		tenant string
		role   access.Role
		to     *string
	}{{"tns", access.RoleTrustSafety, &p.ts}, {string(party.Party(name).Other()), access.RoleParty, &p.party}} {
		sec, key, _ := access.NewKey(k.tenant, k.role, time.Now())
		if err := p.st.CreateAPIKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		*k.to = sec
	}
	srv := api.New(api.Config{Party: party.Party(name), Keys: p.st, Audit: p.st, AuditChain: storetest.Chain(t, 1), Usage: p.st, Signals: p.st, Registry: p.reg,
		Limits: api.Limits{RequestsPerMinute: 1 << 30, PeerRequestsPerMinute: 1 << 30}})
	h := srv.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	p.url = ts.URL
	return p
}

// counter reads a counter of the registry by its outcome label.
func counter(t testing.TB, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// flagAll raises one malicious_link flag on each account from..to of the
// social party, from four clients at once, and returns the signal ids.
func flagAll(t testing.TB, p *relayParty, from, to int) []string {
	t.Helper()
	return flagFrom(t, p, from, to, 4)
}

// flagFrom is flagAll from the given number of clients.
func flagFrom(t testing.TB, p *relayParty, from, to, clients int) []string {
	t.Helper()
	ids := make([]string, to-from)
	start := time.Now()
	defer func() { t.Logf("%d flags raised in %v", to-from, time.Since(start).Round(time.Millisecond)) }()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	for w := range clients {
		wg.Go(func() {
			for i := from + w; i < to; i += clients {
				body := fmt.Sprintf(`{"account_id":"s%05d","type":"malicious_link","confidence":0.9,"evidence_ref":"case-%d","expires_at":%q,"note":"phishing"}`,
					i, i, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339))
				req, _ := http.NewRequest("POST", p.url+"/v1/signals", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+p.ts)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var out struct {
					ID      string `json:"id"`
					Crosses bool   `json:"crosses"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 201 || !out.Crosses {
					errs <- fmt.Errorf("flag %d: %d, crosses %v, %v", i, resp.StatusCode, out.Crosses, err)
					return
				}
				ids[i-from] = out.ID
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

// inbound counts the receiver's inbound signals and distinct ids.
func inbound(t testing.TB, p *relayParty) (n, distinct int64) {
	t.Helper()
	err := p.st.Pool().QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT id) FROM signals WHERE direction = 'inbound'`).Scan(&n, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	return n, distinct
}

func waitInbound(t testing.TB, p *relayParty, want int64, within time.Duration) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%d signals in after %v", want, time.Since(start).Round(time.Millisecond)) }()
	deadline := time.Now().Add(within)
	for {
		n, d := inbound(t, p)
		if n != d {
			t.Fatalf("%d inbound signals, %d distinct", n, d)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d signals arrived in %v", n, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOutbox waits until p's outbox is empty: everything in it was
// delivered and answered for.
func waitOutbox(t testing.TB, p *relayParty, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ob, err := p.st.PendingOutbox(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ob) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds signals after %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var fastRelay = signal.RelayConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
	Sweep: 500 * time.Millisecond, Slice: 2 * time.Second}

// TestRelayFaults relays signals between two parties on PostgreSQL while
// the receiver is down, flaky, and while the sender restarts mid-delivery:
// every flag arrives, none twice.
func TestRelayFaults(t *testing.T) {
	const n = 1750
	ids := make([][16]byte, n)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	f := &faults{held: make(chan struct{}, 1), go_: make(chan struct{})}
	f.mode.Store("down")
	msg := newRelayParty(t, "messenger", ids, func(h http.Handler) http.Handler { f.next = h; return f })
	soc := newRelayParty(t, "social", ids, nil)
	ctx := context.Background()
	cfg := fastRelay
	cfg.Peer = peer.NewClient(msg.url, msg.party)
	relay, err := signal.StartRelay(ctx, soc.st, cfg)
	if err != nil {
		t.Fatal(err)
	}

	// The receiver is down while 1,000 flags are raised: they wait in the
	// outbox; then it is back and each arrives once.
	flagAll(t, soc, 0, 1000)
	time.Sleep(300 * time.Millisecond)
	if got, _ := inbound(t, msg); got != 0 {
		t.Fatalf("%d signals went through a receiver that is down", got)
	}
	if ob, _ := soc.st.PendingOutbox(ctx, n); len(ob) != 1000 {
		t.Fatalf("outbox holds %d", len(ob))
	}
	f.mode.Store("")
	waitInbound(t, msg, 1000, 20*time.Second)

	// Every other request fails, half of them after the receiver applied
	// the batch: the batches are sent again and applied once.
	f.mode.Store("flaky")
	flagAll(t, soc, 1000, 1250)
	waitInbound(t, msg, 1250, 20*time.Second)
	// A batch whose answer was lost is out of the outbox only once it was
	// sent again: every flag can be in before that.
	waitOutbox(t, soc, 20*time.Second)
	if dup := counter(t, msg.reg, "linkd_signals_received_total", "duplicate"); dup == 0 {
		t.Fatal("no batch was delivered twice: the flaky receiver did not test redelivery")
	}

	// The sender stops while a delivery is in flight, and a new sender
	// process (a new pool on the same database) takes over.
	f.mode.Store("hold")
	flagAll(t, soc, 1250, 1500)
	select {
	case <-f.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_ = relay.Stop(stopCtx)
	cancel()
	f.mode.Store("")
	close(f.go_)
	cut := &cutter{}
	pool2 := cut.pool(t, currentSchema(t, soc.st))
	relay2, err := signal.StartRelay(ctx, store.New(pool2), cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitInbound(t, msg, 1500, 20*time.Second)

	// The sender dies mid-delivery (its connections to the database and to
	// the receiver cut at once, as when a process is killed): its drain
	// is left running in the queue, and a new process delivers anyway.
	f.go_ = make(chan struct{})
	f.mode.Store("hold")
	flagAll(t, soc, 1500, n)
	select {
	case <-f.held:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery reached the receiver")
	}
	cut.cut()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = relay2.Stop(ctx)
	})
	f.mode.Store("")
	close(f.go_)
	relay3, err := signal.StartRelay(ctx, soc.st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer relay3.Stop(ctx) //nolint:errcheck // the test is over
	waitInbound(t, msg, n, 20*time.Second)
	// The receiver counts what it applied once its transaction is in:
	// just after the rows can be seen.
	deadline := time.Now().Add(5 * time.Second)
	for got := counter(t, msg.reg, "linkd_signals_received_total", "applied"); got != n; got = counter(t, msg.reg, "linkd_signals_received_total", "applied") {
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%v signals applied, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	deadline = time.Now().Add(5 * time.Second)
	for ob, _ := soc.st.PendingOutbox(ctx, 10); len(ob) > 0; ob, _ = soc.st.PendingOutbox(ctx, 10) {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds %d after every signal arrived", len(ob))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What arrived is what was raised: the link id mapped to the
	// receiver's account, type and confidence, nothing else.
	id := mustOne(t, soc)
	sg, err := msg.st.Signal(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sg.Direction != signal.Inbound || !strings.HasPrefix(sg.AccountID, "m") || sg.Type != "malicious_link" || sg.Confidence != 0.9 ||
		sg.EvidenceRef != "" || sg.Note != "" || sg.Status != "open" {
		t.Fatalf("received %+v", sg)
	}
	// A revocation follows the same way.
	req, _ := http.NewRequest("POST", soc.url+"/v1/signals/"+id+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+soc.ts)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v, %v", resp, err)
	}
	resp.Body.Close()
	for deadline := time.Now().Add(10 * time.Second); sg.Status != "revoked"; sg, _ = msg.st.Signal(ctx, id) {
		if time.Now().After(deadline) {
			t.Fatalf("the revocation did not arrive: %+v", sg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cutter dials the database for a pool and cuts every connection at once.
type cutter struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (c *cutter) pool(t *testing.T, schema string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.AppURL(t, schema))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.dead {
			return nil, errors.New("cut")
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.conns = append(c.conns, conn)
		}
		return conn, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pool
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

func currentSchema(t testing.TB, st *store.Store) string {
	t.Helper()
	var s string
	if err := st.Pool().QueryRow(context.Background(), `SELECT current_schema()`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// mustOne returns the id of one signal the party raised.
func mustOne(t *testing.T, p *relayParty) string {
	t.Helper()
	got, err := p.st.ListSignals(context.Background(), signal.Filter{Direction: signal.Outbound, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("%v, %v", got, err)
	}
	return got[0].ID
}

// BenchmarkRelay relays abuse signals between two parties on PostgreSQL
// over HTTP, LINKD_BENCH_RELAY_N a round (default 5,000):
//
//	LINKD_BENCH_RELAY_N=20000 go test -run '^$' -bench Relay -benchtime 1x -count 3 ./cmd/linkd
//
// It reports end-to-end signals a second (from the first flag raised at
// the social network, by 32 clients at once (T&S tools and their queues flag concurrently), to the last one in the
// messenger's review queue, the relay running all along), the rate of
// raising the flags alone, and the rate of the relay alone (the same
// number of flags waiting in the outbox when the relay starts, to the last
// one in).
func BenchmarkRelay(b *testing.B) {
	n := benchN(b, "LINKD_BENCH_RELAY_N", 5000)
	ids := make([][16]byte, n)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	msg := newRelayParty(b, "messenger", ids, nil)
	soc := newRelayParty(b, "social", ids, nil)
	ctx := context.Background()
	cfg := signal.RelayConfig{Peer: peer.NewClient(msg.url, msg.party)}
	var in int64
	var e2e, raise, alone time.Duration
	for b.Loop() {
		relay, err := signal.StartRelay(ctx, soc.st, cfg)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		flagFrom(b, soc, 0, n, 32)
		raise += time.Since(start)
		in += int64(n)
		waitInbound(b, msg, in, 5*time.Minute)
		e2e += time.Since(start)
		_ = relay.Stop(ctx)

		flagFrom(b, soc, 0, n, 32)
		in += int64(n)
		start = time.Now()
		if relay, err = signal.StartRelay(ctx, soc.st, cfg); err != nil {
			b.Fatal(err)
		}
		waitInbound(b, msg, in, 5*time.Minute)
		alone += time.Since(start)
		_ = relay.Stop(ctx)
	}
	rounds := float64(b.N) * float64(n)
	b.ReportMetric(rounds/e2e.Seconds(), "signals/s")
	b.ReportMetric(rounds/raise.Seconds(), "flags/s")
	b.ReportMetric(rounds/alone.Seconds(), "relayed/s")
	b.ReportMetric(0, "ns/op")
}

// TestWebhook relays flags to a receiver whose account system has a
// webhook that fails at first: every received signal and the revocation
// reach it, signed, with the receiver's own account ids.
func TestWebhook(t *testing.T) {
	const n = 50
	ids := make([][16]byte, n)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	secret := "a shared secret of the account system"
	var mu sync.Mutex
	got := map[string]signal.WebhookEvent{}
	var calls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Linkd-Signature") != "sha256="+signal.Signature([]byte(secret), body) {
			t.Errorf("bad signature on %s", body)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if calls.Add(1) <= 2 {
			http.Error(w, "starting up", http.StatusServiceUnavailable)
			return
		}
		var in struct{ Events []signal.WebhookEvent }
		if err := json.Unmarshal(body, &in); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		for _, e := range in.Events {
			got[e.ID] = e
		}
		mu.Unlock()
	}))
	defer hook.Close()
	msg := newRelayParty(t, "messenger", ids, nil)
	soc := newRelayParty(t, "social", ids, nil)
	ctx := context.Background()
	for _, r := range []struct {
		from, to *relayParty
		hook     signal.Hook
	}{{soc, msg, nil}, {msg, soc, signal.NewWebhook(hook.URL, secret)}} {
		cfg := fastRelay
		cfg.Peer, cfg.Webhook = peer.NewClient(r.to.url, r.to.party), r.hook
		relay, err := signal.StartRelay(ctx, r.from.st, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer relay.Stop(ctx) //nolint:errcheck // the test is over
	}
	sigs := flagAll(t, soc, 0, n)
	count := func(event string) (k int) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range got {
			if e.Event == event {
				k++
			}
		}
		return k
	}
	deadline := time.Now().Add(15 * time.Second)
	for count(signal.EventReceived) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events reached the webhook", count(signal.EventReceived), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e := got[sigs[7]+":signal.received"]
	if e.SignalID != sigs[7] || e.AccountID != "m00007" || e.Type != "malicious_link" || e.Status != "open" {
		t.Fatalf("event %+v", e)
	}
	req, _ := http.NewRequest("POST", soc.url+"/v1/signals/"+sigs[7]+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+soc.ts)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke: %v, %v", resp, err)
	}
	resp.Body.Close()
	for count(signal.EventRevoked) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the revocation did not reach the webhook")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if e := got[sigs[7]+":signal.revoked"]; e.AccountID != "m00007" || e.Status != "revoked" || len(got) != n+1 {
		t.Fatalf("revocation event %+v, %d events", e, len(got))
	}
}

// TestOutcomesWhileTheSenderIsDown sends the receiver's decisions back
// while the party that raised the flags is down, then flaky: they wait
// in the receiver's outbox, and each flag gets its outcome once.
func TestOutcomesWhileTheSenderIsDown(t *testing.T) {
	const n = 300
	ids := make([][16]byte, n)
	for i := range ids {
		_, _ = rand.Read(ids[i][:])
	}
	f := &faults{held: make(chan struct{}, 1), go_: make(chan struct{})}
	soc := newRelayParty(t, "social", ids, func(h http.Handler) http.Handler { f.next = h; return f })
	msg := newRelayParty(t, "messenger", ids, nil)
	ctx := context.Background()
	out := fastRelay
	out.Peer = peer.NewClient(msg.url, msg.party)
	r1, err := signal.StartRelay(ctx, soc.st, out)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Stop(ctx)
	back := fastRelay
	back.Peer = peer.NewClient(soc.url, soc.party)
	r2, err := signal.StartRelay(ctx, msg.st, back)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Stop(ctx)
	flagged := flagAll(t, soc, 0, n)
	waitInbound(t, msg, n, 20*time.Second)

	// The social network goes down; the messenger decides every flag.
	f.mode.Store("down")
	for _, id := range flagged {
		if err := msg.st.Decide(ctx, id, "disable", "ana", "confirmed", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	decided := func() int {
		l, err := soc.st.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, PeerOutcome: "disable", Limit: n + 1})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	if got := decided(); got != 0 {
		t.Fatalf("%d outcomes went through a sender that is down", got)
	}
	// Back, but losing answers: batches are sent again, each outcome
	// applied once.
	f.mode.Store("flaky")
	deadline := time.Now().Add(20 * time.Second)
	for decided() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d outcomes came back", decided(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitOutbox(t, msg, 20*time.Second)
	// Outcomes are answered alike ("applied") whether they change the flag
	// or not: more answers than flags means batches were sent again, and
	// every flag holds the one outcome.
	if answered := counter(t, soc.reg, "linkd_signals_received_total", "applied"); answered <= n {
		t.Fatalf("%v outcome answers for %d flags: the flaky sender did not test redelivery", answered, n)
	}
	if got := decided(); got != n {
		t.Fatalf("%d flags hold the outcome, want %d", got, n)
	}
}
