package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/signal"
)

func flagBody(acct, typ string, conf float64, expires time.Time) string {
	return fmt.Sprintf(`{"account_id":%q,"type":%q,"confidence":%g,"evidence_ref":"case-1","expires_at":%q,"note":"sent phishing links"}`,
		acct, typ, conf, expires.Format(time.RFC3339))
}

func TestFlagDecideRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Party = "social"
	f.people(t, 7, 3)
	var lid psi.LinkID
	_, _ = rand.Read(lid[:])
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-7-0000", ID: lid, Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	ts := f.keys[access.RoleTrustSafety]
	in30 := f.now.Add(30 * 24 * time.Hour)
	type flagged struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Crosses *bool  `json:"crosses"`
		Reason  string `json:"reason"`
		Rule    string `json:"rule"`
	}
	flag := func(body string) flagged {
		t.Helper()
		st, b := f.do(t, "POST", "/v1/signals", ts, "application/json", body)
		var out flagged
		if err := json.Unmarshal(b, &out); err != nil || st != 201 || out.Crosses == nil || out.Status != "open" {
			t.Fatalf("flag: %d %s", st, b)
		}
		return out
	}
	// Linked, above the minimum: it crosses, and the decision is audited.
	s1 := flag(flagBody("acct-7-0000", "malicious_link", 0.9, in30))
	if !*s1.Crosses || s1.Reason != "" {
		t.Fatalf("a linked malicious_link flag at 0.9: %+v", s1)
	}
	// Below the type's minimum confidence, or without a link: it stays,
	// and says why.
	if s := flag(flagBody("acct-7-0000", "spam", 0.5, in30)); *s.Crosses || s.Reason != "below_confidence" || s.Rule != "" {
		t.Fatalf("a spam flag at 0.5: %+v", s)
	}
	if s := flag(flagBody("acct-7-0001", "malicious_link", 0.9, in30)); *s.Crosses || s.Reason != "not_linked_yet" {
		t.Fatalf("a flag of an unlinked account: %+v", s)
	}
	// The list says the same of each.
	st, b := f.do(t, "GET", "/v1/signals", ts, "", "")
	var page struct{ Items []flagged }
	if err := json.Unmarshal(b, &page); err != nil || st != 200 || len(page.Items) != 3 {
		t.Fatalf("list: %d %s", st, b)
	}
	reasons := map[string]string{}
	for _, it := range page.Items {
		if it.Crosses == nil || *it.Crosses != (it.Reason == "") {
			t.Fatalf("listed %+v", it)
		}
		reasons[it.ID] = it.Reason
	}
	if reasons[s1.ID] != "" || len(reasons) != 3 {
		t.Fatalf("listed reasons %v", reasons)
	}
	es, _ := f.st.AuditEntries(ctx, audit.Filter{Action: "signal.cross", Limit: 10})
	if len(es) != 3 || es[0].Decision != "allow" || es[0].Rule != "signal-crosses-at-confidence" || es[1].Decision != "deny" {
		t.Fatalf("crossing decisions: %+v", es)
	}
	ob, _ := f.st.PendingOutbox(ctx, 10)
	if len(ob) != 1 || ob[0].Message.ID != s1.ID || ob[0].Kind != "signal" || ob[0].LinkID != lid {
		t.Fatalf("outbox: %+v", ob)
	}
	for body, msg := range map[string]string{
		flagBody("acct-7-0000", "rude", 0.9, in30):                                       "type",
		flagBody("acct-7-0000", "spam", 1.5, in30):                                       "confidence",
		flagBody("acct-7-0000", "spam", 0.9, f.now.Add(-time.Hour)):                      "future",
		flagBody("acct-7-0000", "spam", 0.9, f.now.Add(31*24*time.Hour)):                 "at most 30 days",
		`{"account_id":"acct-7-0000","type":"spam","expires_at":"2030-01-01T00:00:00Z"}`: "confidence",
	} {
		st, b := f.do(t, "POST", "/v1/signals", ts, "application/json", body)
		wantError(t, st, b, 422, "invalid_request", msg)
	}
	f.tick()
	st, b = f.do(t, "POST", "/v1/signals", ts, "application/json", flagBody("nobody", "spam", 0.9, in30))
	wantError(t, st, b, 404, "not_found", "account_id names no account")
	st, b = f.do(t, "POST", "/v1/signals", f.keys[access.RoleAdvertiser], "application/json", flagBody("acct-7-0000", "spam", 0.9, in30))
	wantError(t, st, b, 403, "forbidden", "signal.create")

	// Revocation queues a revoke for the other party.
	st, b = f.do(t, "POST", "/v1/signals/"+s1.ID+"/revoke", ts, "", "")
	if st != 200 || !strings.Contains(string(b), `"status":"revoked"`) {
		t.Fatalf("revoke: %d %s", st, b)
	}
	ob, _ = f.st.PendingOutbox(ctx, 10)
	if len(ob) != 2 || ob[1].Kind != "revoke" {
		t.Fatalf("outbox after revoke: %+v", ob)
	}

	// The inbound queue: what the other party sent through the relay,
	// minus the expired.
	party := f.keys[access.RoleParty]
	msg := func(id string, exp time.Time) signal.Message {
		return signal.Message{Kind: signal.KindSignal, ID: id, LinkID: lid, Type: "scam", Confidence: 0.95, CreatedAt: f.now.Add(-time.Hour), ExpiresAt: exp}
	}
	spam := msg("peer-3", in30)
	spam.Type, spam.Confidence = "spam", 0.5 // below the catalogue's minimum
	stray := msg("peer-4", in30)
	stray.LinkID[0] ^= 1
	relay, _ := json.Marshal(peer.WireSignals([]signal.Message{msg("peer-0", in30), msg("peer-1", f.now.Add(-time.Minute)), msg("peer-0", in30), spam, stray}))
	st, b = f.do(t, "POST", "/v1/peer/signals", party, "application/json", string(relay))
	if st != 200 || string(b) != `{"outcomes":["applied","expired","duplicate","refused","unlinked"]}`+"\n" {
		t.Fatalf("relay: %d %s", st, b)
	}
	es, _ = f.st.AuditEntries(ctx, audit.Filter{Action: "peer.signal", Limit: 10})
	// The request's own entry comes first, written before anything of it
	// is applied; then the refusal of the spam message within it.
	if len(es) != 2 || es[1].Decision != "deny" || es[1].Rule != "signal-received-within-catalogue" || es[0].Decision != "allow" {
		t.Fatalf("relay decisions: %+v", es)
	}
	for body, msg := range map[string]string{
		`{"messages":[]}`: "from 1 to 1000",
		`{"messages":[{"kind":"signal","id":"x","link_id":"00","type":"spam","confidence":1,"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-02-01T00:00:00Z"}]}`: "messages[0]: link_id",
		`{"messages":[{"kind":"flag"}]}`: "messages[0]: kind",
	} {
		st, b := f.do(t, "POST", "/v1/peer/signals", party, "application/json", body)
		wantError(t, st, b, 422, "invalid_request", msg)
	}
	st, b = f.do(t, "POST", "/v1/peer/signals", ts, "application/json", string(relay))
	wantError(t, st, b, 403, "forbidden", "peer.signal")
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/inbound?status=open", ts, "", "")
	if st != 200 || !strings.Contains(string(b), `"id":"peer-0"`) || strings.Contains(string(b), "peer-1") {
		t.Fatalf("inbound: %d %s", st, b)
	}
	st, b = f.do(t, "POST", "/v1/signals/inbound/peer-0/decision", ts, "application/json", `{"decision":"disable","reason":"confirmed phishing","reviewer":"ana"}`)
	if st != 200 || !strings.Contains(string(b), `"status":"disable"`) || !strings.Contains(string(b), `"decision":{"decision":"disable","reviewer":"ana","reason":"confirmed phishing"`) {
		t.Fatalf("decision: %d %s", st, b)
	}
	if got, _ := f.st.Signal(ctx, "peer-0"); got.Reviewer != "ana" || got.Reason != "confirmed phishing" || got.DecidedAt.IsZero() {
		t.Fatalf("decision kept as %+v", got)
	}
	st, b = f.do(t, "POST", "/v1/signals/inbound/peer-0/decision", ts, "application/json", `{"decision":"ban","reason":"x"}`)
	wantError(t, st, b, 422, "invalid_request", "decision")
	st, b = f.do(t, "POST", "/v1/signals/inbound/"+s1.ID+"/decision", ts, "application/json", `{"decision":"dismiss","reason":"x"}`)
	wantError(t, st, b, 404, "not_found", "inbound")
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals?type=spam", ts, "", "")
	if st != 200 || strings.Count(string(b), `"type":"spam"`) != 1 {
		t.Fatalf("outbound spam: %d %s", st, b)
	}

	// A second decision: GET of the signal shows both, oldest first.
	st, b = f.do(t, "POST", "/v1/signals/inbound/peer-0/decision", ts, "application/json", `{"decision":"false_positive","reason":"a shared phone","reviewer":"bo"}`)
	if st != 200 || !strings.Contains(string(b), `"status":"false_positive"`) {
		t.Fatalf("second decision: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/peer-0", ts, "", "")
	var one struct {
		Decisions []struct{ Decision, Reviewer string }
	}
	if err := json.Unmarshal(b, &one); err != nil || st != 200 || len(one.Decisions) != 2 ||
		one.Decisions[0].Reviewer != "ana" || one.Decisions[1].Decision != "false_positive" {
		t.Fatalf("one signal: %d %s", st, b)
	}
	// The other party's outcome on a flag raised here shows on it, and
	// filters the list.
	back, _ := json.Marshal(peer.WireSignals([]signal.Message{{Kind: signal.KindOutcome, ID: s1.ID, Outcome: "dismiss", DecidedAt: f.now}}))
	st, b = f.do(t, "POST", "/v1/peer/signals", party, "application/json", string(back))
	if st != 200 || string(b) != `{"outcomes":["applied"]}`+"\n" {
		t.Fatalf("outcome relayed: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/"+s1.ID, ts, "", "")
	if st != 200 || !strings.Contains(string(b), `"peer_outcome":{"outcome":"dismiss"`) {
		t.Fatalf("the flag with its outcome: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals?peer_outcome=dismiss", ts, "", "")
	if st != 200 || strings.Count(string(b), `"peer_outcome"`) != 1 || !strings.Contains(string(b), s1.ID) {
		t.Fatalf("by outcome: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals?peer_outcome=upheld", ts, "", "")
	wantError(t, st, b, 422, "invalid_request", "peer_outcome")
	for q, want := range map[string]int{"min_confidence=0": 1, "min_confidence=1": 0,
		"created_before=" + f.now.Add(time.Hour).Format(time.RFC3339): 1, "created_after=" + f.now.Add(time.Hour).Format(time.RFC3339): 0} {
		f.tick()
		st, b = f.do(t, "GET", "/v1/signals?peer_outcome=dismiss&"+q, ts, "", "")
		if st != 200 || strings.Count(string(b), `"peer_outcome"`) != want {
			t.Fatalf("?%s: %d %s", q, st, b)
		}
	}
	for _, q := range []string{"min_confidence=1.5", "min_confidence=x", "min_confidence=NaN", "created_after=yesterday", "created_before=2026-11-01"} {
		f.tick()
		st, b = f.do(t, "GET", "/v1/signals/inbound?"+q, ts, "", "")
		name, _, _ := strings.Cut(q, "=")
		wantError(t, st, b, 422, "invalid_request", name)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/nope", ts, "", "")
	wantError(t, st, b, 404, "not_found", "no such signal: nope")
	// Once the other party revokes it, a signal takes no decision.
	rv := msg("peer-0", in30)
	rv.Kind = signal.KindRevoke
	revoke, _ := json.Marshal(peer.WireSignals([]signal.Message{rv}))
	if st, b = f.do(t, "POST", "/v1/peer/signals", party, "application/json", string(revoke)); st != 200 {
		t.Fatalf("revoke relayed: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "POST", "/v1/signals/inbound/peer-0/decision", ts, "application/json", `{"decision":"disable","reason":"again","reviewer":"ana"}`)
	wantError(t, st, b, 409, "revoked", "revoked")
	if got, _ := f.st.Signal(ctx, "peer-0"); got.Status != "revoked" {
		t.Fatalf("a decision undid a revocation: %+v", got)
	}
}

// A flag whose type does not cross in this party's direction is a
// policy's refusal, with the deciding rule (no permit: default-deny).
func TestFlagPolicyDenied(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Party = "messenger" // fake_account crosses social to messenger only
	f.people(t, 8, 1)
	var lid psi.LinkID
	_, _ = rand.Read(lid[:])
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-8-0000", ID: lid, Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	st, b := f.do(t, "POST", "/v1/signals", f.keys[access.RoleTrustSafety], "application/json",
		flagBody("acct-8-0000", "fake_account", 0.99, f.now.Add(24*time.Hour)))
	var out struct {
		Crosses *bool  `json:"crosses"`
		Reason  string `json:"reason"`
		Rule    string `json:"rule"`
	}
	if err := json.Unmarshal(b, &out); err != nil || st != 201 || out.Crosses == nil || *out.Crosses ||
		out.Reason != "policy_denied" || out.Rule != "default-deny" {
		t.Fatalf("flag: %d %s", st, b)
	}
	if ob, _ := f.st.PendingOutbox(ctx, 10); len(ob) != 0 {
		t.Fatalf("a denied flag is in the outbox: %+v", ob)
	}
}

// The report tallies, per type and direction, how the flags raised here
// fared at the other party and how those received here were decided,
// with the precision; compliance and trust and safety read it, no one
// else.
func TestSignalReport(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Party = "social"
	f.people(t, 9, 6)
	var lids [6]psi.LinkID
	for i := range lids {
		_, _ = rand.Read(lids[i][:])
		if err := f.st.PutLinks(ctx, []store.Link{{AccountID: fmt.Sprintf("acct-9-%04d", i), ID: lids[i], Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	later := f.now.Add(24 * time.Hour)
	// Raised here: four spam flags that crossed (two upheld, one false
	// positive, one revoked), one that waits for nothing (not crossed).
	for i, outcome := range []string{"disable", "disable", "false_positive", ""} {
		sg := signal.Signal{ID: fmt.Sprintf("out-%d", i), Direction: signal.Outbound, AccountID: fmt.Sprintf("acct-9-%04d", i), LinkID: lids[i],
			Type: "spam", Confidence: 0.9, Status: "open", CreatedAt: f.now, ExpiresAt: later}
		if err := f.st.CreateSignal(ctx, sg, true); err != nil {
			t.Fatal(err)
		}
		if outcome != "" {
			o, err := f.st.Receive(ctx, []signal.Message{{Kind: signal.KindOutcome, ID: sg.ID, Outcome: outcome, DecidedAt: f.now}})
			if err != nil || o[0] != signal.Applied {
				t.Fatal(o, err)
			}
		} else if err := f.st.SetStatus(ctx, sg.ID, "revoked", true); err != nil {
			t.Fatal(err)
		}
	}
	stay := signal.Signal{ID: "out-stay", Direction: signal.Outbound, AccountID: "acct-9-0004", Type: "spam", Confidence: 0.5,
		Status: "open", CreatedAt: f.now, ExpiresAt: later, CrossReason: signal.BelowConfidence}
	if err := f.st.CreateSignal(ctx, stay, false); err != nil {
		t.Fatal(err)
	}
	// Received here: two scam flags, one dismissed.
	for i := range 2 {
		m := signal.Message{Kind: signal.KindSignal, ID: fmt.Sprintf("in-%d", i), LinkID: lids[4+i], Type: "scam", Confidence: 0.9, CreatedAt: f.now, ExpiresAt: later}
		if _, err := f.st.Receive(ctx, []signal.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Decide(ctx, "in-0", "dismiss", "ana", "not abuse", f.now); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Type, Direction, Signals                                string
		Crossed, Upheld, Dismissed, Escalated, Revoked, Expired int64
		FalsePositive                                           int64 `json:"false_positive"`
		Precision                                               *float64
	}
	var rep struct{ Types []row }
	st, b := f.do(t, "GET", "/v1/signals/report?since="+f.now.Format(time.DateOnly), f.keys[access.RoleCompliance], "", "")
	if err := json.Unmarshal(b, &rep); err != nil || st != 200 || len(rep.Types) != 2 {
		t.Fatalf("report: %d %s", st, b)
	}
	scam, spam := rep.Types[0], rep.Types[1]
	if spam.Type != "spam" || spam.Signals != "raised" || spam.Direction != "social_to_messenger" || spam.Crossed != 4 || spam.Upheld != 2 ||
		spam.FalsePositive != 1 || spam.Revoked != 1 || spam.Precision == nil || *spam.Precision < 0.66 || *spam.Precision > 0.67 {
		t.Fatalf("spam: %+v", spam)
	}
	if scam.Type != "scam" || scam.Signals != "received" || scam.Direction != "messenger_to_social" || scam.Crossed != 2 || scam.Dismissed != 1 ||
		scam.Precision == nil || *scam.Precision != 0 {
		t.Fatalf("scam: %+v", scam)
	}
	// Nothing since after they were made.
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/report?since="+f.now.Add(24*time.Hour).Format(time.DateOnly), f.keys[access.RoleTrustSafety], "", "")
	if st != 200 || !strings.Contains(string(b), `"types":[]`) {
		t.Fatalf("a later since: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/report?since=yesterday", f.keys[access.RoleCompliance], "", "")
	wantError(t, st, b, 422, "invalid_request", "since")
	st, b = f.do(t, "GET", "/v1/signals/report", f.keys[access.RoleAdvertiser], "", "")
	wantError(t, st, b, 403, "forbidden", "signal.report")
}

// Past its type's daily cap (the catalogue's open_per_day), a received
// flag goes to quarantine, not to the open queue, and is counted.
func TestRelayQuarantine(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Party = "messenger"
	f.people(t, 4, 1)
	var lid psi.LinkID
	_, _ = rand.Read(lid[:])
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-4-0000", ID: lid, Epoch: 1, CreatedAt: f.now}}, 0); err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	err := fs.WalkDir(policies.DefaultFS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.DefaultFS(), p)
		if p == policies.CatalogueFile {
			b = []byte(strings.Replace(string(b), "open_per_day: 5000", "open_per_day: 1", 1))
		}
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b1, err := policies.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	f.api.Policies = func() *policies.Bundle { return b1 }
	in := f.now.Add(24 * time.Hour)
	msgs := []signal.Message{
		{Kind: signal.KindSignal, ID: "flood-1", LinkID: lid, Type: "spam", Confidence: 0.9, CreatedAt: f.now, ExpiresAt: in},
		{Kind: signal.KindSignal, ID: "flood-2", LinkID: lid, Type: "spam", Confidence: 0.9, CreatedAt: f.now, ExpiresAt: in},
		{Kind: signal.KindSignal, ID: "other", LinkID: lid, Type: "scam", Confidence: 0.9, CreatedAt: f.now, ExpiresAt: in},
	}
	body, _ := json.Marshal(peer.WireSignals(msgs))
	st, b := f.do(t, "POST", "/v1/peer/signals", f.keys[access.RoleParty], "application/json", string(body))
	if st != 200 || string(b) != `{"outcomes":["applied","quarantined","applied"]}`+"\n" {
		t.Fatalf("relay: %d %s", st, b)
	}
	f.tick()
	st, b = f.do(t, "GET", "/v1/signals/inbound?status=quarantined", f.keys[access.RoleTrustSafety], "", "")
	if st != 200 || !strings.Contains(string(b), `"id":"flood-2"`) || strings.Contains(string(b), "flood-1") {
		t.Fatalf("quarantine: %d %s", st, b)
	}
	st, b = f.do(t, "GET", "/metrics", f.keys[access.RoleAdmin], "", "")
	if st != 200 || !strings.Contains(string(b), `linkd_signals_received_total{outcome="quarantined"} 1`) {
		t.Fatalf("metrics: %d %s", st, b)
	}
}
