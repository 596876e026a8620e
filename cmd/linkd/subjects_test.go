package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
)

// receiptOf is a data-subject request's receipt as the API answers it.
type receiptOf struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id"`
	Kind      string     `json:"kind"`
	Peer      string     `json:"peer"`
	Ack       *time.Time `json:"peer_acknowledged_at"`
}

// TestSubjectRequestsTwoServes: objections and erasures between two
// linkd serve on PostgreSQL. An objection made while an extension runs
// leaves the person out of the mirror, whichever party it is made at;
// an objection and an outcome queued while the other party is down are
// applied once it is back, once; an erasure at either party leaves, on
// both databases, no row that names the erased account or its link, and
// each request's receipt is acknowledged and audited on both sides.
func TestSubjectRequestsTwoServes(t *testing.T) {
	ctx := context.Background()
	people := synth.People(93, 160) // social [0, 100), messenger [60, 160): s00(60+k) is m00k
	ps, admin := servedParties(t, people[:100], people[60:], 4)
	soc, msg := ps[0], ps[1]
	if code, out, errs := runCmd(t, nil, "link", "run", "--server", "http://"+soc.addr, "--key", admin); code != 0 || !strings.Contains(out, "matched 40 of 100") {
		t.Fatalf("link run: exit %d\n%s%s", code, out, errs)
	}
	key := func(p *servedParty, tenant, role string) string {
		t.Helper()
		code, out, errs := runCmd(t, p.environ, "apikey", "create", "--tenant", tenant, "--role", role)
		if code != 0 {
			t.Fatalf("apikey: %s", errs)
		}
		return lastLine(out)
	}
	sr := map[*servedParty]string{soc: key(soc, "accounts", "subject_requests"), msg: key(msg, "accounts", "subject_requests")}
	tns := map[*servedParty]string{soc: key(soc, "tns", "trust_safety"), msg: key(msg, "tns", "trust_safety")}
	adv := key(soc, "acme", "advertiser")
	call := func(p *servedParty, k, method, path, body string, want int, into any) {
		t.Helper()
		var raw map[string]any
		if into == nil {
			into = &raw
		}
		if st := keyedRequest(t, p.addr, k, method, path, body, into); st != want {
			t.Fatalf("%s %s %s: %d, want %d", p.name, method, path, st, want)
		}
	}
	request := func(p *servedParty, acct, kind, body string) receiptOf {
		t.Helper()
		var r receiptOf
		call(p, sr[p], "POST", "/v1/subjects/"+acct+"/"+kind, body, 201, &r)
		if r.Kind != kind || r.Peer != "pending" {
			t.Fatalf("%s %s of %s: %+v", p.name, kind, acct, r)
		}
		return r
	}
	acknowledged := func(p *servedParty, id string, within time.Duration) receiptOf {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			var r receiptOf
			call(p, sr[p], "GET", "/v1/subject-requests/"+id, "", 200, &r)
			if r.Peer == "acknowledged" && r.Ack != nil {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s not acknowledged after %v: %+v", p.name, id, within, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	flag := func(p *servedParty, acct string) string {
		t.Helper()
		var f struct {
			ID      string `json:"id"`
			Crosses bool   `json:"crosses"`
		}
		call(p, tns[p], "POST", "/v1/signals", `{"account_id":"`+acct+`","type":"scam","confidence":0.95,"evidence_ref":"case-1","expires_at":"`+
			time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)+`"}`, 201, &f)
		if !f.Crosses {
			t.Fatalf("the flag on %s does not cross", acct)
		}
		return f.ID
	}
	arrived := func(p *servedParty, id string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := p.st.Signal(ctx, id); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the flag %s did not arrive", p.name, id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	linked := func(k int) (string, string) { return fmt.Sprintf("s%04d", 60+k), fmt.Sprintf("m%04d", k) }

	// The social network's advertiser extends an audience of its 40
	// linked members to the messenger; while it runs, the person behind
	// s0065 objects at the social network, the one behind m0006 at the
	// messenger.
	var aud struct {
		ID string `json:"id"`
	}
	call(soc, adv, "POST", "/v1/audiences", `{"name":"n","purpose":"ads"}`, 201, &aud)
	var members []string
	for k := range 40 {
		s, _ := linked(k)
		members = append(members, s)
	}
	if _, err := soc.st.ApplyBatch(ctx, audience.Batch{AudienceID: aud.ID, SessionID: "list", Seq: 1, Last: true, Add: members}); err != nil {
		t.Fatal(err)
	}
	call(soc, adv, "POST", "/v1/audiences/"+aud.ID+"/extend", "", 202, nil)
	objS := request(soc, "s0065", "objection", `{"purpose":"ads"}`)
	var objM receiptOf
	call(msg, sr[msg], "POST", "/v1/subjects/m0006/objection", `{"purpose":"ads"}`, 201, &objM)
	if objM.Peer != "pending" {
		t.Fatalf("the messenger's objection: %+v", objM)
	}
	acknowledged(soc, objS.ID, 30*time.Second)
	acknowledged(msg, objM.ID, 30*time.Second)
	mirror := audience.MirrorID("social", aud.ID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var done bool
		err := msg.st.Pool().QueryRow(ctx, `SELECT bool_and(complete) FROM upload_sessions WHERE audience_id = $1`, mirror).Scan(&done)
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the extension did not complete: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := msg.st.Members(ctx, mirror)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for k := range 40 {
		if _, m := linked(k); m != "m0005" && m != "m0006" {
			want = append(want, m)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the mirror holds %v, want everyone linked but the objectors", got)
	}

	// The social network goes down; the messenger decides a flag it
	// raised and records an objection: both wait in the outboxes, and are
	// applied once the social network is back, once.
	sig := flag(soc, "s0070")
	arrived(msg, sig)
	soc.srv.stop(t)
	call(msg, tns[msg], "POST", "/v1/signals/inbound/"+sig+"/decision", `{"decision":"disable","reason":"confirmed","reviewer":"ana"}`, 200, nil)
	queued := request(msg, "m0011", "objection", `{"purpose":"ads"}`)
	time.Sleep(time.Second)
	var still receiptOf
	call(msg, sr[msg], "GET", "/v1/subject-requests/"+queued.ID, "", 200, &still)
	if still.Peer != "pending" {
		t.Fatalf("acknowledged by a party that is down: %+v", still)
	}
	soc.start(t)
	acknowledged(msg, queued.ID, 60*time.Second)
	deadline = time.Now().Add(60 * time.Second)
	for {
		sg, err := soc.st.Signal(ctx, sig)
		if err != nil {
			t.Fatal(err)
		}
		if sg.PeerOutcome == "disable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outcome did not come back: %+v", sg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var n int
	if err := soc.st.Pool().QueryRow(ctx, `SELECT count(*) FROM subject_requests WHERE id = $1 AND origin = 'peer' AND account_id = 's0071'`, queued.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the social network holds the messenger's objection %d times, %v", n, err)
	}
	audited := func(p *servedParty, action, id string) int {
		t.Helper()
		es, err := p.st.AuditEntries(ctx, audit.Filter{Action: action, Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if strings.Contains(e.Request, `"`+id+`"`) {
				n++
			}
		}
		return n
	}
	// Each delivery is decided and audited where it arrives, and a
	// delivery may repeat (a reply lost on the way); the acknowledgement
	// is audited once where the request was made.
	if got := audited(soc, "peer.subject", queued.ID); got < 1 {
		t.Fatal("the social network did not audit the messenger's objection")
	}
	if got := audited(msg, "subject.acknowledged", queued.ID); got != 1 {
		t.Fatalf("the messenger audited the acknowledgement %d times", got)
	}

	// An erasure at each party, of accounts with flags both ways and in
	// the mirror: gone on both sides once acknowledged.
	erased := []struct {
		at        *servedParty
		acct, its string // the account erased, and the other party's linked one
	}{{soc, "s0080", "m0020"}, {msg, "m0030", "s0090"}}
	var links []string
	for _, e := range erased {
		l, err := e.at.st.LinkOf(ctx, e.acct)
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, hex.EncodeToString(l.ID[:]))
		other := soc
		if e.at == soc {
			other = msg
		}
		arrived(other, flag(e.at, e.acct))
		arrived(e.at, flag(other, e.its))
	}
	var receipts []receiptOf
	for _, e := range erased {
		r := request(e.at, e.acct, "erasure", "")
		if r.AccountID != "" {
			t.Fatalf("the erasure's receipt names the account: %+v", r)
		}
		receipts = append(receipts, r)
	}
	for i, e := range erased {
		acknowledged(e.at, receipts[i].ID, 30*time.Second)
		other := soc
		if e.at == soc {
			other = msg
		}
		if got := audited(other, "peer.subject", receipts[i].ID); got < 1 {
			t.Fatalf("%s did not audit the erasure", other.name)
		}
		var n int
		if err := other.st.Pool().QueryRow(ctx, `SELECT count(*) FROM subject_requests WHERE id = $1 AND origin = 'peer' AND account_id IS NULL`,
			receipts[i].ID).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s holds the erasure's receipt %d times, %v", other.name, n, err)
		}
		if got := audited(e.at, "subject.acknowledged", receipts[i].ID); got != 1 {
			t.Fatalf("%s audited the acknowledgement %d times", e.at.name, got)
		}
		var h struct {
			Linked bool `json:"linked"`
		}
		call(other, sr[other], "GET", "/v1/subjects/"+e.its, "", 200, &h)
		if h.Linked {
			t.Fatalf("%s: %s is still linked after the other party's erasure", other.name, e.its)
		}
	}
	// (m0011 objected at the messenger meanwhile.)
	if m, _ := msg.st.Members(ctx, mirror); slices.Contains(m, "m0011") || slices.Contains(m, "m0020") || slices.Contains(m, "m0030") || len(m) != len(want)-3 {
		t.Fatalf("the mirror after the erasures: %v", m)
	}
	for _, p := range ps {
		p.srv.stop(t)
	}
	for _, p := range ps {
		d := pgtest.Dump(t, p.st.Pool())
		for _, s := range append([]string{"s0080", "m0030"}, links...) {
			if strings.Contains(d, s) {
				i := strings.Index(d, s)
				t.Fatalf("%s's database still holds %s: ...%s...", p.name, s, d[max(0, i-300):min(len(d), i+100)])
			}
		}
		if !strings.Contains(d, "s0081") && !strings.Contains(d, "m0031") {
			t.Fatalf("%s's dump holds none of the accounts kept", p.name)
		}
	}
}
