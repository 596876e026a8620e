package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/internal/retention"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store/storeerr"
)

// testRetention runs the janitor with a controlled clock and the default
// catalogue (memberships 180 days, sessions 7, signals 90, links 400): what
// is older than its retention goes, what is younger or was refreshed stays.
func testRetention(t *testing.T, s Store) {
	day := 24 * time.Hour
	cat := policies.Default().Catalogue
	now := t0
	j := &retention.Janitor{Store: s, Catalogue: func() *policies.Catalogue { return cat }, Now: func() time.Time { return now }}

	put(t, s, account(t, "old"), account(t, "new"), account(t, "refreshed"))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	apply := func(session string, seq int64, at time.Time, add ...string) {
		t.Helper()
		_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: session, Seq: seq, Add: add, At: at})
		noErr(t, "ApplyBatch", err)
	}
	apply("s-old", 1, t0, "old", "refreshed")
	apply("s-new", 1, t0.Add(170*day), "new")
	apply("s-new", 2, t0.Add(195*day), "refreshed") // re-added: kept from day 195
	sig := func(id, acct string, at time.Time) {
		t.Helper()
		noErr(t, "CreateSignal", s.CreateSignal(ctx, signal.Signal{ID: id, Direction: signal.Outbound, AccountID: acct,
			Type: "spam", Confidence: 0.9, Status: "open", CreatedAt: at, ExpiresAt: at.Add(30 * day)}, true))
	}
	sig("sig-old", "old", t0)
	sig("sig-new", "new", t0.Add(150*day))
	lOld := store.Link{AccountID: "old", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	lNew := store.Link{AccountID: "new", ID: linkID(t), Epoch: 1, CreatedAt: t0.Add(170 * day)}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{lOld, lNew}, 0))

	_, k, err := access.NewKey("acme", access.RoleCompliance, t0)
	noErr(t, "NewKey", err)
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	_, seen, _ := access.NewSession(k.ID, "Ada", t0.Add(200*day-access.SessionIdle+time.Minute))
	_, idle, _ := access.NewSession(k.ID, "Ada", t0.Add(200*day-access.SessionIdle-time.Minute))
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, seen))
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, idle))

	// Day 200: memberships before day 20, sessions before day 193,
	// signals before day 110 and the console session idle past its limit
	// go; no link is 400 days old.
	now = t0.Add(200 * day)
	got, err := j.Sweep(ctx)
	noErr(t, "Sweep", err)
	want := map[string]int64{policies.KindMemberships: 1, policies.KindSessions: 1, policies.KindSignals: 1, policies.KindLinks: 0, retention.KindConsoleSessions: 1}
	if len(got) != len(want) {
		t.Fatalf("purged %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("purged %v, want %v", got, want)
		}
	}
	m, _ := s.Members(ctx, "aud")
	if !slices.Equal(m, []string{"new", "refreshed"}) {
		t.Fatalf("members after the sweep: %v", m)
	}
	_, err = s.Session(ctx, "aud", "s-old")
	wantErr(t, "purged session", err, storeerr.ErrNotFound)
	if ss, err := s.Session(ctx, "aud", "s-new"); err != nil || ss.Batches != 2 {
		t.Fatalf("kept session: %+v, %v", ss, err)
	}
	// A purged session's batches are forgotten with it: the same batch is
	// a new one.
	if r, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s-old", Seq: 1, Add: []string{"old"}, At: now}); err != nil || !r.Applied {
		t.Fatalf("batch of a purged session: %+v, %v", r, err)
	}
	_, err = s.Signal(ctx, "sig-old")
	wantErr(t, "purged signal", err, storeerr.ErrNotFound)
	if _, err := s.Signal(ctx, "sig-new"); err != nil {
		t.Fatalf("kept signal: %v", err)
	}
	ob, _ := s.PendingOutbox(ctx, 10)
	if len(ob) != 1 || ob[0].Message.ID != "sig-new" {
		t.Fatalf("outbox after the sweep: %+v", ob)
	}

	// Day 420: the old link (day 0) goes, the new one (day 170) stays. A
	// second sweep of the same day purges nothing more.
	now = t0.Add(420 * day)
	got, err = j.Sweep(ctx)
	noErr(t, "Sweep", err)
	if got[policies.KindLinks] != 1 {
		t.Fatalf("purged %v, want one link", got)
	}
	_, err = s.LinkOf(ctx, "old")
	wantErr(t, "purged link", err, storeerr.ErrNotFound)
	if l, err := s.LinkOf(ctx, "new"); err != nil || l.ID != lNew.ID {
		t.Fatalf("kept link: %+v, %v", l, err)
	}
	got, err = j.Sweep(ctx)
	noErr(t, "Sweep again", err)
	for k, n := range got {
		if n != 0 {
			t.Fatalf("a second sweep purged %d %s", n, k)
		}
	}
}
