package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/directory"
)

// httpMirror is the other party's peer route, as a party key calls it.
type httpMirror struct {
	url, key string
}

func (h httpMirror) Mirror(ctx context.Context, m audience.Mirror) (string, error) {
	body, _ := json.Marshal(peer.MirrorRequest{SourceAudience: m.SourceAudience, Tenant: m.Tenant, Name: m.Name, Purpose: m.Purpose,
		LinkIDs: peer.EncodeLinkIDs(m.LinkIDs), SessionID: m.SessionID, BatchSeq: m.Seq, Last: m.Last})
	req, _ := http.NewRequestWithContext(ctx, "POST", h.url+"/v1/peer/audiences", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AudienceID string `json:"audience_id"`
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("mirror: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.AudienceID, err
}

// Two parties whose directories hold the same 300 people, linked by hand:
// social's advertiser extends an audience; only the groups of people whose
// consent both parties record cross, and each group decision is audited.
func TestExtension(t *testing.T) {
	ctx := context.Background()
	soc, msg := newFixture(t), newFixture(t)
	soc.api.Party, msg.api.Party = "social", "messenger"
	// Consent: social has it for even accounts and none given for the
	// others (who, outside the EU and the UK, are in its audiences); the
	// messenger has it for those divisible by 3, withdrawn for the
	// others. The two record the same link id for each person.
	hashes := soc.peopleWith(t, 5, 300, func(i int) string { return map[bool]string{true: "granted"}[i%2 == 0] })
	msg.peopleWith(t, 5, 300, func(i int) string { return map[bool]string{true: "granted", false: "withdrawn"}[i%3 == 0] })
	for i := range 300 {
		var id psi.LinkID
		_, _ = rand.Read(id[:])
		for _, f := range []*fixture{soc, msg} {
			acct := fmt.Sprintf("acct-5-%04d", i)
			if err := f.st.PutLinks(ctx, []store.Link{{AccountID: acct, ID: id, Epoch: 1, CreatedAt: time.Now()}}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	partyKey, k, _ := access.NewKey("social", access.RoleParty, time.Now())
	_ = msg.st.CreateAPIKey(ctx, k)
	soc.api.AudiencePeer = httpMirror{url: msg.srv.URL, key: partyKey}

	id := soc.create(t, "to extend")
	st, b := soc.do(t, "POST", "/v1/audiences/"+id+"/users", soc.keys[access.RoleAdvertiser], "application/json", uploadJSON(hashes, "1", 1, true))
	if st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	soc.tick()
	st, b = soc.do(t, "POST", "/v1/audiences/"+id+"/extend", soc.keys[access.RoleAdvertiser], "", "")
	var ext struct {
		Other  string `json:"other_audience_id"`
		Status string `json:"status"`
	}
	// Accepted at once, with the mirror's id; the work goes on after.
	if err := json.Unmarshal(b, &ext); err != nil || st != 202 || ext.Other == "" || ext.Status != "extending" {
		t.Fatalf("extend: %d %s", st, b)
	}
	soc.api.Wait()
	m, err := msg.st.Members(ctx, ext.Other)
	if err != nil || len(m) != 50 { // even and divisible by 3: every sixth of 300
		t.Fatalf("mirror: %d members, %v", len(m), err)
	}
	for _, acct := range m {
		var i int
		fmt.Sscanf(acct, "acct-5-%04d", &i)
		if i%6 != 0 {
			t.Fatalf("%s crossed without both consents", acct)
		}
	}
	// The mirror is the other party's to build: the advertiser's key there
	// uploads nothing to it, nor replays the extension's batches.
	for _, route := range []string{"users", "usersreplace"} {
		st, b := msg.do(t, "POST", "/v1/audiences/"+ext.Other+"/"+route, msg.keys[access.RoleAdvertiser], "application/json", uploadJSON(hashes[:1], `"x"`, 2, false))
		wantError(t, st, b, 409, "mirror", "mirror")
	}
	// Each side audited its group decisions, with the deciding rules.
	es, _ := soc.st.AuditEntries(ctx, audit.Filter{Action: "audience.extend", Limit: 100})
	var allowed, denied int
	for _, e := range es {
		switch {
		case e.Decision == "allow":
			allowed++
		case e.Decision == "deny" && strings.Contains(e.Rule, "extend-needs-consent"):
			denied++
		}
	}
	if allowed == 0 || denied == 0 {
		t.Fatalf("social's extension decisions: %+v", es)
	}
	if es, _ := msg.st.AuditEntries(ctx, audit.Filter{Action: "peer.audience", Limit: 100}); len(es) == 0 {
		t.Fatal("the messenger audited no decision")
	}
	// Another tenant cannot extend it; trust and safety cannot reach it.
	st, b = soc.do(t, "POST", "/v1/audiences/"+id+"/extend", soc.keys[access.RoleTrustSafety], "", "")
	wantError(t, st, b, 403, "forbidden", "")
}

// The other party's key creates no more mirrors for a tenant a day than
// the tenant may create audiences.
func TestPeerMirrorsAreLimited(t *testing.T) {
	f := newFixtureLimits(t, api.Limits{RequestsPerMinute: 100, AudiencesPerDay: 2})
	party := f.keys[access.RoleParty]
	for i := range 3 {
		body := fmt.Sprintf(`{"source_audience":"aud_%d","tenant":"acme","name":"n","purpose":"ads","link_ids":[],"session_id":"s%d","batch_seq":1,"last_batch_flag":true}`, i, i)
		st, b := f.do(t, "POST", "/v1/peer/audiences", party, "application/json", body)
		if i < 2 && st != 200 {
			t.Fatalf("mirror %d: %d %s", i, st, b)
		}
		if i == 2 {
			wantError(t, st, b, 429, "rate_limited", "audiences_created")
		}
	}
}

// recordMirror records the batches an extension sends.
type recordMirror struct {
	mu      sync.Mutex
	batches []audience.Mirror
}

func (r *recordMirror) Mirror(_ context.Context, m audience.Mirror) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, m)
	return "mirror", nil
}

// An audience with one linked member and one with none each go to the
// other party as one batch, the last: how many batches come says
// nothing of whether a given person is a linked member.
func TestExtensionBatchesSayNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.api.Party = "social"
	hashes := f.people(t, 6, 2)
	var lid psi.LinkID
	_, _ = rand.Read(lid[:])
	a, err := f.st.Account(ctx, "acct-6-0000")
	if err != nil {
		t.Fatal(err)
	}
	a.Consents = []store.Consent{{Purpose: "ads", Granted: true}}
	if err := f.st.PutAccounts(ctx, []directory.Account{a}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutLinks(ctx, []store.Link{{AccountID: "acct-6-0000", ID: lid, Epoch: 1, CreatedAt: time.Now()}}, 0); err != nil {
		t.Fatal(err)
	}
	rec := &recordMirror{}
	f.api.AudiencePeer = rec
	for i, h := range []string{hashes[0], hashes[1]} { // linked, not linked
		id := f.create(t, fmt.Sprintf("one-%d", i))
		st, b := f.do(t, "POST", "/v1/audiences/"+id+"/users", f.keys[access.RoleAdvertiser], "application/json", uploadJSON([]string{h}, "1", 1, true))
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		f.tick()
		if st, b = f.do(t, "POST", "/v1/audiences/"+id+"/extend", f.keys[access.RoleAdvertiser], "", ""); st != 202 {
			t.Fatalf("extend: %d %s", st, b)
		}
		f.api.Wait()
		rec.mu.Lock()
		got := rec.batches
		rec.batches = nil
		rec.mu.Unlock()
		if len(got) != 1 || got[0].Seq != 1 || !got[0].Last || len(got[0].LinkIDs) != 1-i {
			t.Fatalf("audience %d: batches %+v", i, got)
		}
		f.tick()
	}
}
