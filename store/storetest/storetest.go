// Package storetest is the conformance suite of linkd's store: what each
// of its methods promises, tested through the method on PostgreSQL.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storeerr"
)

// Store is the store the suite tests.
type Store = *store.Store

// Run runs the suite; newStore returns a fresh, empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"DirectoryPutGet", testDirectoryPutGet},
		{"DirectoryReplaceNumber", testDirectoryReplaceNumber},
		{"DirectoryMatch", testDirectoryMatch},
		{"DirectoryLinkElements", testDirectoryLinkElements},
		{"Erasure", testErasure},
		{"Links", testLinks},
		{"Audiences", testAudiences},
		{"AudienceBatches", testAudienceBatches},
		{"AudienceMatchBatches", testAudienceMatchBatches},
		{"AudienceReplace", testAudienceReplace},
		{"SizeReleases", testSizeReleases},
		{"AudienceConcurrentBatches", testAudienceConcurrentBatches},
		{"LinkedMembers", testLinkedMembers},
		{"Signals", testSignals},
		{"SignalsFollowLinks", testSignalsFollowLinks},
		{"SignalsQuarantine", testSignalsQuarantine},
		{"SignalEvents", testSignalEvents},
		{"Audit", testAudit},
		{"APIKeys", testAPIKeys},
		{"ConsoleSessions", testConsoleSessions},
		{"HeldFor", testHeldFor},
		{"ConsentLedger", testConsentLedger},
		{"Jobs", testJobs},
		{"Usage", testUsage},
		{"PolicyBundles", testPolicyBundles},
		{"Retention", testRetention},
		{"LinkStaging", testLinkStaging},
		{"StageReblinded", testStageReblinded},
		{"LinkSharedNumbers", testLinkSharedNumbers},
		{"Relink", testRelink},
		{"LinkHeld", testLinkHeld},
		{"LinkChanges", testLinkChanges},
		{"NewElements", testNewElements},
		{"LinkSuperseded", testLinkSuperseded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
	// Two parties' stores.
	t.Run("SubjectRelay", func(t *testing.T) { testSubjectRelay(t, newStore(t), newStore(t)) })
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
)

func randomSet(t *testing.T) pseudonym.Set {
	t.Helper()
	var s pseudonym.Set
	for _, b := range [][]byte{s.IndexDigits[:], s.IndexE164[:], s.OPRF[:], s.Link[:]} {
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func account(t *testing.T, id string) directory.Account {
	return directory.Account{ID: id, Country: "TR", Epoch: 1, Pseudonyms: randomSet(t), UpdatedAt: t0}
}

func put(t *testing.T, s Store, as ...directory.Account) {
	t.Helper()
	if err := s.PutAccounts(ctx, as); err != nil {
		t.Fatalf("PutAccounts: %v", err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testDirectoryPutGet(t *testing.T, s Store) {
	a := account(t, "acc-1")
	a.AdOptOut = true
	a.Consents = []store.Consent{{Purpose: "ads", Granted: true, Notice: "v1"}}
	a.BlockedBusinesses = []string{"acme", "globex"}
	b := account(t, "acc-2")
	put(t, s, a, b)
	got, err := s.Account(ctx, "acc-1")
	noErr(t, "Account", err)
	granted := []store.Consent{{Purpose: "ads", Granted: true, Notice: "v1", At: t0}}
	if got.ID != a.ID || got.Country != "TR" || !got.AdOptOut || !slices.Equal(got.Consents, granted) || !slices.Equal(got.BlockedBusinesses, a.BlockedBusinesses) ||
		got.Epoch != 1 || got.Pseudonyms != a.Pseudonyms || !got.UpdatedAt.Equal(t0) {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	got, err = s.Account(ctx, "acc-2")
	noErr(t, "Account", err)
	if got.BlockedBusinesses != nil || got.AdOptOut || got.Consents != nil {
		t.Fatalf("acc-2 = %+v", got)
	}
	// A change of consent alone is stored.
	a.Consents[0].Granted = false
	a.UpdatedAt = t0.Add(time.Hour)
	put(t, s, a)
	if got, _ := s.Account(ctx, "acc-1"); len(got.Consents) != 1 || got.Consents[0].Granted || !got.Consents[0].At.Equal(a.UpdatedAt) {
		t.Fatalf("a withdrawn consent was not stored: %+v", got.Consents)
	}
	_, err = s.Account(ctx, "nobody")
	wantErr(t, "Account(nobody)", err, storeerr.ErrNotFound)
	n, err := s.CountAccounts(ctx)
	if err != nil || n != 2 {
		t.Fatalf("CountAccounts = %d, %v", n, err)
	}
	// Re-importing the same rows changes nothing, not even the time stamp.
	later, laterB := a, b
	later.UpdatedAt, laterB.UpdatedAt = t0.Add(time.Hour), t0.Add(time.Hour)
	put(t, s, later, laterB)
	got, _ = s.Account(ctx, "acc-1")
	if !got.UpdatedAt.Equal(t0) {
		t.Fatalf("an unchanged re-import moved updated_at to %v", got.UpdatedAt)
	}
	// A duplicate id within one batch keeps the last.
	a2 := a
	a2.Country = "DE"
	put(t, s, a, b, a2)
	got, _ = s.Account(ctx, "acc-1")
	if n, _ := s.CountAccounts(ctx); n != 2 || got.Country != "DE" {
		t.Fatalf("after re-import: %d accounts, country %s", n, got.Country)
	}
	noErr(t, "empty PutAccounts", s.PutAccounts(ctx, nil))
	// A batch of new and stored accounts counts the new ones; an erasure
	// counts down, once.
	put(t, s, a, account(t, "acc-3"), b, account(t, "acc-4"))
	count := func(what string, want int64) {
		t.Helper()
		if n, err := s.CountAccounts(ctx); err != nil || n != want {
			t.Fatalf("CountAccounts %s = %d, %v, want %d", what, n, err, want)
		}
	}
	count("after two new accounts", 4)
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "acc-3"))
	wantErr(t, "EraseAccount again", s.EraseAccount(ctx, "acc-3"), storeerr.ErrNotFound)
	count("after an erasure", 3)
}

func testDirectoryReplaceNumber(t *testing.T, s Store) {
	a := account(t, "acc-1")
	put(t, s, a)
	b := a
	b.Pseudonyms = randomSet(t) // the account's number changed
	b.Epoch = 2
	put(t, s, b)
	for _, q := range []directory.HashMatch{
		{Epoch: 1, Convention: phone.ConventionDigits, Indexes: []hashindex.Index{a.Pseudonyms.IndexDigits}},
		{Epoch: 2, Convention: phone.ConventionDigits, Indexes: []hashindex.Index{a.Pseudonyms.IndexDigits}},
	} {
		got, err := s.MatchHashes(ctx, q)
		noErr(t, "MatchHashes", err)
		if len(got) != 0 {
			t.Fatalf("the old number's index still matches: %v", got)
		}
	}
	got, err := s.MatchHashes(ctx, directory.HashMatch{Epoch: 2, Convention: phone.ConventionE164, Indexes: []hashindex.Index{b.Pseudonyms.IndexE164}})
	noErr(t, "MatchHashes", err)
	if !slices.Equal(got, []string{"acc-1"}) {
		t.Fatalf("new number's index: %v", got)
	}
}

func testDirectoryMatch(t *testing.T, s Store) {
	a, b, c, d := account(t, "a"), account(t, "b"), account(t, "c"), account(t, "d")
	b.AdOptOut = true
	c.BlockedBusinesses = []string{"acme"}
	d.Pseudonyms.IndexDigits = a.Pseudonyms.IndexDigits // two accounts, one number
	d.Pseudonyms.OPRF = a.Pseudonyms.OPRF
	put(t, s, a, b, c, d)
	all := []hashindex.Index{a.Pseudonyms.IndexDigits, b.Pseudonyms.IndexDigits, c.Pseudonyms.IndexDigits,
		a.Pseudonyms.IndexDigits, randomSet(t).IndexDigits}
	for _, tc := range []struct {
		q    directory.HashMatch
		want []string
	}{
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: all}, []string{"a", "b", "c", "d"}},
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: all, Eligible: true}, []string{"a", "c", "d"}},
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: all, Eligible: true, Tenant: "acme"}, []string{"a", "d"}},
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: all, Tenant: "globex"}, []string{"a", "b", "c", "d"}},
		// The E.164 index is another column: digits indexes find nothing there.
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionE164, Indexes: all}, nil},
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionE164, Indexes: []hashindex.Index{c.Pseudonyms.IndexE164}}, []string{"c"}},
		{directory.HashMatch{Epoch: 2, Convention: phone.ConventionDigits, Indexes: all}, nil},
		{directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits}, nil},
	} {
		got, err := s.MatchHashes(ctx, tc.q)
		noErr(t, "MatchHashes", err)
		if len(got) != len(tc.want) || (len(got) > 0 && !slices.Equal(got, tc.want)) {
			t.Errorf("MatchHashes(%+v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	got, err := s.MatchOPRF(ctx, directory.OPRFMatch{Epoch: 1, Outputs: [][oprf.OutputSize]byte{a.Pseudonyms.OPRF, b.Pseudonyms.OPRF}, Eligible: true})
	noErr(t, "MatchOPRF", err)
	if !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("MatchOPRF = %v", got)
	}
}

func testDirectoryLinkElements(t *testing.T, s Store) {
	var want []directory.LinkElement
	for i := range 25 {
		a := account(t, fmt.Sprintf("acc-%02d", i))
		if i%5 == 4 {
			a.Epoch = 2
		} else {
			want = append(want, directory.LinkElement{AccountID: a.ID, Element: a.Pseudonyms.Link})
		}
		put(t, s, a)
	}
	var got []directory.LinkElement
	after := ""
	for {
		page, err := s.LinkElements(ctx, 1, after, 7)
		noErr(t, "LinkElements", err)
		if len(page) == 0 {
			break
		}
		if len(page) > 7 {
			t.Fatalf("page of %d", len(page))
		}
		got = append(got, page...)
		after = page[len(page)-1].AccountID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("LinkElements paged = %d elements, want %d", len(got), len(want))
	}
}

func linkID(t *testing.T) psi.LinkID {
	var id psi.LinkID
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatal(err)
	}
	return id
}

func testErasure(t *testing.T, s Store) {
	gone, kept := account(t, "gone"), account(t, "kept")
	put(t, s, gone, kept)
	gl, kl := store.Link{AccountID: "gone", ID: linkID(t), Epoch: 1, CreatedAt: t0}, store.Link{AccountID: "kept", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{gl, kl}, 0))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Add: []string{"gone", "kept"}})
	noErr(t, "ApplyBatch", err)
	out := signal.Signal{ID: "sig-out", Direction: signal.Outbound, AccountID: "gone", LinkID: gl.ID, Type: "spam", Confidence: 0.9, Status: "open", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	in := messageOf(out, signal.KindSignal)
	in.ID = "sig-in"
	other := out
	other.ID, other.AccountID, other.LinkID = "sig-kept", "kept", kl.ID
	noErr(t, "CreateSignal", s.CreateSignal(ctx, out, true))
	noErr(t, "CreateSignal", s.CreateSignal(ctx, other, true))
	if o, err := s.Receive(ctx, []signal.Message{in}); err != nil || o[0] != signal.Applied {
		t.Fatal(o, err)
	}

	noErr(t, "EraseAccount", s.EraseAccount(ctx, "gone"))

	_, err = s.Account(ctx, "gone")
	wantErr(t, "Account after erasure", err, storeerr.ErrNotFound)
	_, err = s.LinkOf(ctx, "gone")
	wantErr(t, "LinkOf after erasure", err, storeerr.ErrNotFound)
	_, err = s.AccountOf(ctx, gl.ID)
	wantErr(t, "AccountOf after erasure", err, storeerr.ErrNotFound)
	for _, id := range []string{"sig-out", "sig-in"} {
		_, err = s.Signal(ctx, id)
		wantErr(t, "Signal after erasure", err, storeerr.ErrNotFound)
	}
	m, err := s.Members(ctx, "aud")
	noErr(t, "Members", err)
	if !slices.Equal(m, []string{"kept"}) {
		t.Fatalf("members after erasure: %v", m)
	}
	ob, err := s.PendingOutbox(ctx, 10)
	noErr(t, "PendingOutbox", err)
	if len(ob) != 1 || ob[0].Message.ID != "sig-kept" {
		t.Fatalf("outbox after erasure: %+v", ob)
	}
	got, err := s.MatchHashes(ctx, directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: []hashindex.Index{gone.Pseudonyms.IndexDigits}})
	noErr(t, "MatchHashes", err)
	if len(got) != 0 {
		t.Fatalf("erased account still matches: %v", got)
	}
	// The other account is untouched.
	if _, err := s.LinkOf(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Signal(ctx, "sig-kept"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "erasing twice", s.EraseAccount(ctx, "gone"), storeerr.ErrNotFound)
}

func testLinks(t *testing.T, s Store) {
	put(t, s, account(t, "a"), account(t, "b"))
	la := store.Link{AccountID: "a", ID: linkID(t), Epoch: 3, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{la}, 0))
	got, err := s.LinkOf(ctx, "a")
	noErr(t, "LinkOf", err)
	if got != la {
		t.Fatalf("LinkOf = %+v, want %+v", got, la)
	}
	acc, err := s.AccountOf(ctx, la.ID)
	if err != nil || acc != "a" {
		t.Fatalf("AccountOf = %q, %v", acc, err)
	}
	// Another account may not take a link id that is someone's.
	wantErr(t, "PutLinks duplicate id", s.PutLinks(ctx, []store.Link{{AccountID: "b", ID: la.ID, Epoch: 3, CreatedAt: t0}}, 0), storeerr.ErrConflict)
	wantErr(t, "PutLinks unknown account", s.PutLinks(ctx, []store.Link{{AccountID: "nobody", ID: linkID(t), Epoch: 3, CreatedAt: t0}}, 0), storeerr.ErrNotFound)
	// The same link again leaves it as it is.
	same := la
	same.CreatedAt = t0.Add(time.Hour)
	noErr(t, "PutLinks again", s.PutLinks(ctx, []store.Link{same}, 0))
	if got, _ := s.LinkOf(ctx, "a"); got != la {
		t.Fatalf("LinkOf after putting the same link = %+v, want %+v", got, la)
	}
	// A new run replaces the account's link.
	la2 := la
	la2.ID, la2.Epoch = linkID(t), 4
	noErr(t, "PutLinks replace", s.PutLinks(ctx, []store.Link{la2}, 0))
	_, err = s.AccountOf(ctx, la.ID)
	wantErr(t, "old link id", err, storeerr.ErrNotFound)
	if n, _ := s.CountLinks(ctx); n != 1 {
		t.Fatalf("CountLinks = %d", n)
	}
	noErr(t, "DeleteLink", s.DeleteLink(ctx, la2.ID))
	_, err = s.LinkOf(ctx, "a")
	wantErr(t, "LinkOf after delete", err, storeerr.ErrNotFound)
	wantErr(t, "DeleteLink twice", s.DeleteLink(ctx, la2.ID), storeerr.ErrNotFound)
}

func testAudiences(t *testing.T, s Store) {
	for i := range 5 {
		noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: fmt.Sprintf("aud-%d", i), Tenant: "acme", Name: "list", Purpose: "ads", CreatedAt: t0,
			Description: fmt.Sprintf("list %d", i), FileSource: "USER_PROVIDED_ONLY"}))
	}
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "other", Tenant: "globex", Name: "x", Purpose: "ads", CreatedAt: t0}))
	wantErr(t, "duplicate audience", s.CreateAudience(ctx, audience.Audience{ID: "aud-1", Tenant: "globex", CreatedAt: t0}), storeerr.ErrConflict)
	a, err := s.Audience(ctx, "acme", "aud-1")
	noErr(t, "Audience", err)
	if a.Name != "list" || a.Purpose != "ads" || !a.CreatedAt.Equal(t0) || a.Description != "list 1" || a.FileSource != "USER_PROVIDED_ONLY" {
		t.Fatalf("Audience = %+v", a)
	}
	_, err = s.Audience(ctx, "globex", "aud-1")
	wantErr(t, "another tenant's audience", err, storeerr.ErrNotFound)
	page, err := s.ListAudiences(ctx, "acme", "aud-1", 2)
	noErr(t, "ListAudiences", err)
	if len(page) != 2 || page[0].ID != "aud-2" || page[1].ID != "aud-3" || page[1].Description != "list 3" {
		t.Fatalf("ListAudiences = %+v", page)
	}
	wantErr(t, "delete another tenant's", s.DeleteAudience(ctx, "globex", "aud-1"), storeerr.ErrNotFound)
	noErr(t, "DeleteAudience", s.DeleteAudience(ctx, "acme", "aud-1"))
	_, err = s.Audience(ctx, "acme", "aud-1")
	wantErr(t, "deleted audience", err, storeerr.ErrNotFound)
	_, err = s.Members(ctx, "aud-1")
	wantErr(t, "members of deleted audience", err, storeerr.ErrNotFound)
}

func testAudienceBatches(t *testing.T, s Store) {
	put(t, s, account(t, "a"), account(t, "b"), account(t, "c"))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	b1 := audience.Batch{AudienceID: "aud", SessionID: "s1", Seq: 1, Add: []string{"a", "b", "a"}, Received: 10, Invalid: 2}
	r, err := s.ApplyBatch(ctx, b1)
	if err != nil || !r.Applied || r.Received != 10 || r.Invalid != 2 {
		t.Fatalf("ApplyBatch = %+v, %v", r, err)
	}
	// The same (session, seq) again, even with other content, changes
	// nothing and answers the first counts.
	replay := b1
	replay.Add, replay.Received = []string{"c"}, 99
	r, err = s.ApplyBatch(ctx, replay)
	if err != nil || r.Applied || r.Received != 10 || r.Invalid != 2 {
		t.Fatalf("replayed ApplyBatch = %+v, %v", r, err)
	}
	m, _ := s.Members(ctx, "aud")
	if !slices.Equal(m, []string{"a", "b"}) {
		t.Fatalf("members = %v", m)
	}
	// A batch naming an unknown account is refused whole.
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s1", Seq: 2, Add: []string{"c", "nobody"}})
	wantErr(t, "unknown account", err, storeerr.ErrNotFound)
	m, _ = s.Members(ctx, "aud")
	ss, _ := s.Session(ctx, "aud", "s1")
	if !slices.Equal(m, []string{"a", "b"}) || ss.Batches != 1 {
		t.Fatalf("a refused batch changed something: members %v, session %+v", m, ss)
	}
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s1", Seq: 2, Add: []string{"c"}, Remove: []string{"a"}, Last: true})
	noErr(t, "ApplyBatch last", err)
	ss, err = s.Session(ctx, "aud", "s1")
	if err != nil || !ss.Complete || ss.Batches != 2 {
		t.Fatalf("Session = %+v, %v", ss, err)
	}
	m, _ = s.Members(ctx, "aud")
	if !slices.Equal(m, []string{"b", "c"}) {
		t.Fatalf("members = %v", m)
	}
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s1", Seq: 3, Add: []string{"a"}})
	wantErr(t, "batch after the last", err, storeerr.ErrConflict)
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "nope", SessionID: "s1", Seq: 1})
	wantErr(t, "unknown audience", err, storeerr.ErrNotFound)
	_, err = s.Session(ctx, "aud", "s9")
	wantErr(t, "unknown session", err, storeerr.ErrNotFound)
}

func testSignals(t *testing.T, s Store) {
	put(t, s, account(t, "a"))
	base := signal.Signal{Direction: signal.Outbound, AccountID: "a", LinkID: linkID(t), Type: "spam", Confidence: 0.75,
		EvidenceRef: "case-1", Note: "n", Status: "open", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	s1, s2 := base, base
	s1.ID, s2.ID, s2.Type, s2.LinkID = "sig-1", "sig-2", "scam", psi.LinkID{}
	s1.Crosses, s2.CrossReason = true, signal.NotLinkedYet
	// A flag that crosses names its account's link.
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "a", ID: s1.LinkID, Epoch: 1, CreatedAt: t0}}, 0))
	noErr(t, "CreateSignal", s.CreateSignal(ctx, s1, true))
	noErr(t, "CreateSignal", s.CreateSignal(ctx, s2, false))
	wantErr(t, "duplicate signal", s.CreateSignal(ctx, s1, true), storeerr.ErrConflict)
	wantErr(t, "signal on unknown account", s.CreateSignal(ctx, signal.Signal{ID: "x", Direction: signal.Outbound, AccountID: "nobody", CreatedAt: t0, ExpiresAt: t0}, true), storeerr.ErrNotFound)
	got, err := s.Signal(ctx, "sig-1")
	noErr(t, "Signal", err)
	if got != s1 {
		t.Fatalf("Signal = %+v, want %+v", got, s1)
	}
	got, _ = s.Signal(ctx, "sig-2")
	if got.LinkID != (psi.LinkID{}) || got.Crosses || got.CrossReason != signal.NotLinkedYet {
		t.Fatalf("a signal kept without a link: %+v", got)
	}
	ob, err := s.PendingOutbox(ctx, 10)
	noErr(t, "PendingOutbox", err)
	if len(ob) != 1 || ob[0].Message != messageOf(s1, signal.KindSignal) {
		t.Fatalf("outbox = %+v", ob)
	}
	b, err := s.OutboxBacklog(ctx)
	queued := b.Oldest
	if b.Oldest = (time.Time{}); err != nil || b != (store.OutboxBacklog{Pending: 1}) || queued.IsZero() || time.Since(queued) > time.Minute {
		t.Fatalf("OutboxBacklog = %+v (oldest queued %v), %v", b, queued, err)
	}
	noErr(t, "MarkAttempted", s.MarkAttempted(ctx, []int64{ob[0].ID}))
	noErr(t, "MarkAttempted", s.MarkAttempted(ctx, []int64{ob[0].ID, 999}))
	if b, err := s.OutboxBacklog(ctx); err != nil || b != (store.OutboxBacklog{Pending: 1, Retried: 1, MaxAttempts: 2, Oldest: queued}) {
		t.Fatalf("OutboxBacklog after two failed attempts = %+v, %v", b, err)
	}
	put(t, s, account(t, "b"))
	bl := store.Link{AccountID: "b", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{bl}, 0))
	sub, err := s.Subject(ctx, "b")
	if err != nil || sub != (signal.Subject{Country: "TR", LinkID: bl.ID, Linked: true}) {
		t.Fatalf("Subject(b) = %+v, %v", sub, err)
	}
	put(t, s, account(t, "c"))
	if sub, err := s.Subject(ctx, "c"); err != nil || sub != (signal.Subject{Country: "TR"}) {
		t.Fatalf("Subject of an unlinked account = %+v, %v", sub, err)
	}
	_, err = s.Subject(ctx, "nobody")
	wantErr(t, "Subject of an unknown account", err, storeerr.ErrNotFound)
	in := signal.Message{Kind: signal.KindSignal, ID: "peer-1", LinkID: bl.ID, Type: "spam", Confidence: 0.8, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	o, err := s.Receive(ctx, []signal.Message{in, in})
	noErr(t, "Receive", err)
	if !slices.Equal(o, []signal.Outcome{signal.Applied, signal.Duplicate}) {
		t.Fatalf("a signal received twice: %v", o)
	}
	got, _ = s.Signal(ctx, "peer-1")
	if want := (signal.Signal{ID: "peer-1", Direction: signal.Inbound, AccountID: "b", LinkID: bl.ID, Type: "spam", Confidence: 0.8,
		Status: "open", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); got != want {
		t.Fatalf("received = %+v, want %+v", got, want)
	}
	testReceive(t, s, in, bl)
	list, err := s.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, Limit: 10})
	noErr(t, "ListSignals", err)
	if len(list) != 2 {
		t.Fatalf("outbound = %d", len(list))
	}
	list, _ = s.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, Type: "scam", Limit: 10})
	if len(list) != 1 || list[0].ID != "sig-2" {
		t.Fatalf("filtered = %+v", list)
	}
	sf := base
	sf.ID, sf.Confidence, sf.CreatedAt, sf.LinkID, sf.CrossReason, sf.Status = "sig-f", 0.95, t0.Add(time.Hour), psi.LinkID{}, signal.NotLinkedYet, "revoked"
	noErr(t, "CreateSignal", s.CreateSignal(ctx, sf, false))
	for _, c := range []struct {
		f    signal.Filter
		want []string
	}{
		{signal.Filter{MinConfidence: 0.75}, []string{"sig-1", "sig-2", "sig-f"}},
		{signal.Filter{MinConfidence: 0.76}, []string{"sig-f"}},
		{signal.Filter{CreatedBefore: t0.Add(time.Hour)}, []string{"sig-1", "sig-2"}},
		{signal.Filter{CreatedAfter: t0}, []string{"sig-f"}},
		{signal.Filter{CreatedAfter: t0.Add(-time.Second), CreatedBefore: t0.Add(time.Second), Type: "spam"}, []string{"sig-1"}},
	} {
		c.f.Direction, c.f.Limit = signal.Outbound, 10
		list, err := s.ListSignals(ctx, c.f)
		noErr(t, "ListSignals", err)
		var ids []string
		for _, sg := range list {
			ids = append(ids, sg.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Fatalf("ListSignals(%+v) = %v, want %v", c.f, ids, c.want)
		}
	}
	list, _ = s.ListSignals(ctx, signal.Filter{Direction: signal.Inbound, Status: "open", Limit: 10})
	if len(list) != 1 || list[0].ID != "peer-1" {
		t.Fatalf("inbound = %+v", list)
	}
	noErr(t, "SetStatus", s.SetStatus(ctx, "sig-1", "revoked", true))
	got, _ = s.Signal(ctx, "sig-1")
	if got.Status != "revoked" {
		t.Fatalf("status = %s", got.Status)
	}
	list, _ = s.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, Status: "open", Limit: 10})
	if len(list) != 1 || list[0].ID != "sig-2" {
		t.Fatalf("open = %+v", list)
	}
	wantErr(t, "SetStatus unknown", s.SetStatus(ctx, "nope", "x", true), storeerr.ErrNotFound)
	ob, _ = s.PendingOutbox(ctx, 10)
	if len(ob) != 2 || ob[1].Kind != "revoke" || ob[0].ID >= ob[1].ID {
		t.Fatalf("outbox = %+v", ob)
	}
	noErr(t, "MarkDelivered", s.MarkDelivered(ctx, []int64{ob[0].ID}, nil))
	noErr(t, "MarkDelivered twice", s.MarkDelivered(ctx, []int64{ob[0].ID}, nil))
	ob, _ = s.PendingOutbox(ctx, 10)
	if len(ob) != 1 || ob[0].Kind != "revoke" || ob[0].Message.ID != "sig-1" || ob[0].LinkID != s1.LinkID {
		t.Fatalf("outbox = %+v", ob)
	}
	// Expired entries go unsent: a revocation changes nothing of its
	// signal, which crossed; a signal is marked as not crossing, expired.
	s3 := s1
	s3.ID = "sig-3"
	noErr(t, "CreateSignal", s.CreateSignal(ctx, s3, true))
	ob, _ = s.PendingOutbox(ctx, 10)
	if len(ob) != 2 || ob[1].Message.ID != "sig-3" {
		t.Fatalf("outbox = %+v", ob)
	}
	noErr(t, "MarkDelivered expired", s.MarkDelivered(ctx, nil, []int64{ob[0].ID, ob[1].ID}))
	if ob, _ = s.PendingOutbox(ctx, 10); len(ob) != 0 {
		t.Fatalf("outbox = %+v", ob)
	}
	if got, _ = s.Signal(ctx, "sig-1"); !got.Crosses || got.CrossReason != "" {
		t.Fatalf("a signal whose revocation expired: %+v", got)
	}
	if got, _ = s.Signal(ctx, "sig-3"); got.Crosses || got.CrossReason != signal.ExpiredUnsent {
		t.Fatalf("a signal that expired unsent: %+v", got)
	}
}

// testReceive holds the receiver's rules: once by id, revocation before
// or after the signal, unknown links, and the receiver's own signals
// untouched.
func testReceive(t *testing.T, s Store, in signal.Message, bl store.Link) {
	t.Helper()
	status := func(id string) string {
		t.Helper()
		sg, err := s.Signal(ctx, id)
		noErr(t, "Signal "+id, err)
		return sg.Status
	}
	rv := in
	rv.Kind = signal.KindRevoke
	early := in
	early.ID = "peer-2"
	earlyRevoke := early
	earlyRevoke.Kind = signal.KindRevoke
	stray := in
	stray.ID, stray.LinkID = "peer-3", linkID(t)
	own := in
	own.ID, own.Kind = "sig-1", signal.KindRevoke
	ownSignal := own
	ownSignal.Kind = signal.KindSignal
	o, err := s.Receive(ctx, []signal.Message{rv, rv, earlyRevoke, early, stray, own, ownSignal})
	noErr(t, "Receive", err)
	want := []signal.Outcome{signal.Applied, signal.Duplicate, signal.Applied, signal.Duplicate, signal.Unlinked, signal.Duplicate, signal.Duplicate}
	if !slices.Equal(o, want) {
		t.Fatalf("outcomes = %v, want %v", o, want)
	}
	if st := status("peer-1"); st != "revoked" {
		t.Fatalf("revoked signal is %s", st)
	}
	if st := status("peer-2"); st != "revoked" {
		t.Fatalf("a signal revoked before it arrived is %s", st)
	}
	if sg, _ := s.Signal(ctx, "peer-2"); sg.AccountID != bl.AccountID || sg.Direction != signal.Inbound {
		t.Fatalf("early revoke kept as %+v", sg)
	}
	if st := status("sig-1"); st != "open" {
		t.Fatalf("the peer changed this party's own signal to %s", st)
	}
	if _, err := s.Signal(ctx, "peer-3"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("a signal for an unknown link was kept: %v", err)
	}
	noErr(t, "SetStatus", s.SetStatus(ctx, "peer-1", "open", false))
	at := t0.Add(time.Minute)
	noErr(t, "Decide", s.Decide(ctx, "peer-1", "escalate", "ana", "looks coordinated", at))
	sg, _ := s.Signal(ctx, "peer-1")
	if sg.Status != "escalate" || sg.Decision != "escalate" || sg.Reviewer != "ana" || sg.Reason != "looks coordinated" || !sg.DecidedAt.Equal(at) {
		t.Fatalf("decided %+v", sg)
	}
	wantErr(t, "Decide on an outbound signal", s.Decide(ctx, "sig-1", "dismiss", "ana", "x", at), storeerr.ErrNotFound)
	// A second decision: both are kept, in order; each goes back to the
	// sender as an outcome (the id, the decision, its time).
	noErr(t, "Decide", s.Decide(ctx, "peer-1", "false_positive", "bo", "a shared device", at.Add(time.Minute)))
	ds, err := s.Decisions(ctx, "peer-1")
	noErr(t, "Decisions", err)
	if len(ds) != 2 || ds[0].Decision != "escalate" || ds[0].Reviewer != "ana" || ds[1].Decision != "false_positive" ||
		ds[1].Reason != "a shared device" || !ds[1].DecidedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("decisions %+v", ds)
	}
	ob, err := s.PendingOutbox(ctx, 100)
	noErr(t, "PendingOutbox", err)
	var outcomes []int64
	for _, e := range ob {
		if e.Kind == signal.KindOutcome {
			if e.Message.ID != "peer-1" || e.Outcome != "false_positive" || !e.DecidedAt.Equal(at.Add(time.Minute)) {
				t.Fatalf("outcome entry %+v", e)
			}
			outcomes = append(outcomes, e.ID)
		}
	}
	if len(outcomes) != 2 {
		t.Fatalf("%d outcome entries, want one a decision", len(outcomes))
	}
	noErr(t, "MarkDelivered", s.MarkDelivered(ctx, outcomes, nil))

	// At the sender, an outcome applies to the signal it raised, once by
	// time: the latest stays.
	out := func(id, o string, when time.Time) signal.Message {
		return signal.Message{Kind: signal.KindOutcome, ID: id, Outcome: o, DecidedAt: when}
	}
	// Every outcome is answered alike, so that the answers say nothing of
	// which flags are still here; an earlier one, one for an inbound
	// signal or an unknown one, and one dated ahead of the clock change
	// nothing.
	got, err := s.Receive(ctx, []signal.Message{out("sig-1", "disable", at), out("sig-1", "disable", at),
		out("sig-1", "dismiss", at.Add(-time.Second)), out("peer-1", "dismiss", at), out("nobody", "dismiss", at),
		out("sig-1", "false_positive", time.Now().Add(time.Hour))})
	noErr(t, "Receive outcomes", err)
	for _, o := range got {
		if o != signal.Applied {
			t.Fatalf("outcomes received: %v", got)
		}
	}
	if sg, _ := s.Signal(ctx, "peer-1"); sg.PeerOutcome != "" {
		t.Fatalf("an outcome changed an inbound signal: %+v", sg)
	}
	if sg, _ := s.Signal(ctx, "sig-1"); sg.PeerOutcome != "disable" || !sg.PeerDecidedAt.Equal(at) {
		t.Fatalf("the sender's signal: %+v", sg)
	}
	if l, _ := s.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, PeerOutcome: "disable", Limit: 10}); len(l) != 1 || l[0].ID != "sig-1" {
		t.Fatalf("by peer outcome: %+v", l)
	}
	if l, _ := s.ListSignals(ctx, signal.Filter{Direction: signal.Outbound, PeerOutcome: "dismiss", Limit: 10}); len(l) != 0 {
		t.Fatalf("by another peer outcome: %+v", l)
	}
	noErr(t, "SetStatus", s.SetStatus(ctx, "peer-1", "open", false))
}

// Chain is a chain key of epoch 1 (seed 1) and of epoch 2 (seed 2), for
// tests.
func Chain(t testing.TB, epoch uint32) *audit.Chain {
	t.Helper()
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(epoch)
	}
	c, err := audit.NewChain(epoch, k, append([]byte(nil), k...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ChainKeys are the chains of Chain.
func ChainKeys(t testing.TB) audit.Keys {
	return func(epoch uint32) (*audit.Chain, error) {
		if epoch < 1 || epoch > 2 {
			return nil, fmt.Errorf("no key epoch %d", epoch)
		}
		return Chain(t, epoch), nil
	}
}

func testAudit(t *testing.T, s Store) {
	_, err := s.LastAudit(ctx)
	wantErr(t, "LastAudit of an empty log", err, storeerr.ErrNotFound)
	_, err = s.AppendAudit(ctx, audit.Entry{Time: t0, Actor: "x"}, nil)
	if err == nil {
		t.Fatal("AppendAudit without a chain key succeeded")
	}
	for i, d := range []string{"allow", "deny", "allow"} {
		// The key epoch changes on the third: each entry names its own.
		e, err := s.AppendAudit(ctx, audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "key_1", Tenant: "acme",
			Role: "advertiser", Action: "audience.create", Resource: fmt.Sprintf("aud-%d", i), Decision: d, Rule: "r", BundleHash: "h", RequestID: "req",
			Request: fmt.Sprintf(`{"action":"audience.create","n":%d}`, i)}, Chain(t, uint32(1+i/2)))
		noErr(t, "AppendAudit", err)
		if e.Seq != int64(i+1) || e.Hash == ([32]byte{}) || e.KeyEpoch != uint32(1+i/2) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	n, err := audit.Verify(ctx, s, ChainKeys(t), nil)
	if err != nil || n != 3 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
	last, err := s.LastAudit(ctx)
	if err != nil || last.Seq != 3 || last.KeyEpoch != 2 || last.Resource != "aud-2" {
		t.Fatalf("LastAudit = %+v, %v", last, err)
	}
	// Under other keys the chain does not hold.
	other := func(epoch uint32) (*audit.Chain, error) { return Chain(t, epoch+2), nil }
	if _, err := audit.Verify(ctx, s, other, nil); !errors.Is(err, audit.ErrBroken) {
		t.Fatalf("Verify under other keys = %v", err)
	}
	denied, err := s.AuditEntries(ctx, audit.Filter{Decision: "deny", Limit: 10})
	noErr(t, "AuditEntries", err)
	if len(denied) != 1 || denied[0].Seq != 2 || denied[0].Resource != "aud-1" || denied[0].Request != `{"action":"audience.create","n":1}` {
		t.Fatalf("denied = %+v", denied)
	}
	page, _ := s.AuditEntries(ctx, audit.Filter{After: 1, Limit: 1})
	if len(page) != 1 || page[0].Seq != 2 || page[0].PrevHash == ([32]byte{}) {
		t.Fatalf("page = %+v", page)
	}
	for _, c := range []struct {
		f    audit.Filter
		want []int64
	}{
		{audit.Filter{Newest: true}, []int64{3, 2, 1}},
		{audit.Filter{Newest: true, Before: 3}, []int64{2, 1}},
		{audit.Filter{Newest: true, Before: 3, Decision: "allow"}, []int64{1}},
		{audit.Filter{Since: t0.Add(time.Second)}, []int64{2, 3}},
		{audit.Filter{Until: t0.Add(time.Second)}, []int64{1}},
		{audit.Filter{Newest: true, Since: t0.Add(time.Second), Until: t0.Add(2 * time.Second)}, []int64{2}},
	} {
		c.f.Limit = 10
		got, err := s.AuditEntries(ctx, c.f)
		noErr(t, "AuditEntries", err)
		var seqs []int64
		for _, e := range got {
			seqs = append(seqs, e.Seq)
		}
		if !slices.Equal(seqs, c.want) {
			t.Fatalf("AuditEntries(%+v) = %v, want %v", c.f, seqs, c.want)
		}
	}
}

// testPolicyBundles: a bundle is kept by hash, saved once, returned whole.
func testPolicyBundles(t *testing.T, s Store) {
	_, err := s.BundleFiles(ctx, "nope")
	wantErr(t, "BundleFiles of an unknown hash", err, storeerr.ErrNotFound)
	b := policies.Default()
	noErr(t, "SaveBundle", s.SaveBundle(ctx, b.Hash(), b.Files()))
	noErr(t, "SaveBundle again", s.SaveBundle(ctx, b.Hash(), b.Files()))
	files, err := s.BundleFiles(ctx, b.Hash())
	noErr(t, "BundleFiles", err)
	again, probs := policies.FromFiles(files)
	if len(probs) > 0 || again.Hash() != b.Hash() {
		t.Fatalf("rebuilt bundle: %v, hash %v", probs, again)
	}
	noErr(t, "SaveBundle", s.SaveBundle(ctx, "later", b.Files()))
	list, err := s.Bundles(ctx)
	noErr(t, "Bundles", err)
	if len(list) != 2 || list[0].Hash != "later" || list[1].Hash != b.Hash() || list[1].FirstUsed.After(list[0].FirstUsed) {
		t.Fatalf("Bundles = %+v", list)
	}
}

func testAPIKeys(t *testing.T, s Store) {
	sec, k, err := access.NewKey("acme", access.RoleAdvertiser, t0)
	noErr(t, "NewKey", err)
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	wantErr(t, "duplicate key", s.CreateAPIKey(ctx, k), storeerr.ErrConflict)
	got, err := s.APIKeyByHash(ctx, access.HashKey(sec))
	noErr(t, "APIKeyByHash", err)
	if got.ID != k.ID || got.Tenant != "acme" || got.Role != access.RoleAdvertiser || !got.RevokedAt.IsZero() || !got.CreatedAt.Equal(t0) {
		t.Fatalf("APIKeyByHash = %+v", got)
	}
	_, err = s.APIKeyByHash(ctx, access.HashKey(sec+"x"))
	wantErr(t, "unknown key", err, storeerr.ErrNotFound)
	_, k2, _ := access.NewKey("ops", access.RoleAdmin, t0.Add(time.Second))
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k2))
	noErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, k.ID, t0.Add(time.Hour)))
	wantErr(t, "revoke unknown", s.RevokeAPIKey(ctx, "key_nope", t0), storeerr.ErrNotFound)
	list, err := s.ListAPIKeys(ctx)
	noErr(t, "ListAPIKeys", err)
	if len(list) != 2 || list[0].ID != k.ID || !list[0].RevokedAt.Equal(t0.Add(time.Hour)) || !list[1].RevokedAt.IsZero() {
		t.Fatalf("ListAPIKeys = %+v", list)
	}
}

func testConsoleSessions(t *testing.T, s Store) {
	_, k, err := access.NewKey("acme", access.RoleTrustSafety, t0)
	noErr(t, "NewKey", err)
	noErr(t, "CreateAPIKey", s.CreateAPIKey(ctx, k))
	sec, ss, err := access.NewSession(k.ID, " Ada Lovelace ", t0)
	noErr(t, "NewSession", err)
	if ss.Name != "Ada Lovelace" || ss.Hash != access.HashKey(sec) {
		t.Fatalf("NewSession = %+v", ss)
	}
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, ss))
	wantErr(t, "duplicate session", s.CreateConsoleSession(ctx, ss), storeerr.ErrConflict)
	_, orphan, _ := access.NewSession("key_nope", "x", t0)
	wantErr(t, "session of no key", s.CreateConsoleSession(ctx, orphan), storeerr.ErrNotFound)

	// Each request within the idle limit keeps the session alive.
	at := t0
	for range 3 {
		at = at.Add(access.SessionIdle - time.Second)
		got, key, err := s.ConsoleSession(ctx, ss.Hash, at)
		noErr(t, "ConsoleSession", err)
		if got.Name != "Ada Lovelace" || got.KeyID != k.ID || !got.SeenAt.Equal(at) || !got.CreatedAt.Equal(t0) || key.ID != k.ID || key.Role != access.RoleTrustSafety || key.Tenant != "acme" {
			t.Fatalf("ConsoleSession = %+v, %+v", got, key)
		}
	}
	// A request out of order does not move seen_at back.
	if got, _, err := s.ConsoleSession(ctx, ss.Hash, at.Add(-time.Minute)); err != nil || !got.SeenAt.Equal(at) {
		t.Fatalf("earlier request: %+v, %v", got, err)
	}
	_, _, err = s.ConsoleSession(ctx, ss.Hash, at.Add(access.SessionIdle+time.Second))
	wantErr(t, "idle session", err, storeerr.ErrNotFound)
	_, _, err = s.ConsoleSession(ctx, access.HashKey(sec+"x"), at)
	wantErr(t, "unknown session", err, storeerr.ErrNotFound)

	// A session kept alive still ends at its maximum age.
	sec2, ss2, _ := access.NewSession(k.ID, "Grace", t0)
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, ss2))
	for at := t0; at.Before(t0.Add(access.SessionMax - access.SessionIdle)); at = at.Add(access.SessionIdle / 2) {
		_, _, err := s.ConsoleSession(ctx, access.HashKey(sec2), at)
		noErr(t, "ConsoleSession kept alive", err)
	}
	_, _, err = s.ConsoleSession(ctx, access.HashKey(sec2), t0.Add(access.SessionMax+time.Second))
	wantErr(t, "session past its maximum age", err, storeerr.ErrNotFound)

	// Revoking the key ends its sessions; sign-out ends one.
	_, ss3, _ := access.NewSession(k.ID, "Alan", t0)
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, ss3))
	noErr(t, "EndConsoleSession", s.EndConsoleSession(ctx, ss3.Hash))
	wantErr(t, "end twice", s.EndConsoleSession(ctx, ss3.Hash), storeerr.ErrNotFound)
	_, ss4, _ := access.NewSession(k.ID, "Barbara", t0)
	noErr(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, ss4))
	_, _, err = s.ConsoleSession(ctx, ss4.Hash, t0.Add(time.Minute))
	noErr(t, "ConsoleSession", err)
	noErr(t, "RevokeAPIKey", s.RevokeAPIKey(ctx, k.ID, t0.Add(time.Minute)))
	_, _, err = s.ConsoleSession(ctx, ss4.Hash, t0.Add(2*time.Minute))
	wantErr(t, "session of a revoked key", err, storeerr.ErrNotFound)

	n, err := s.PurgeConsoleSessions(ctx, t0.Add(2*time.Minute))
	noErr(t, "PurgeConsoleSessions", err)
	if n != 1 { // ss4, last seen at t0+1m; ss and ss2 were seen later
		t.Fatalf("PurgeConsoleSessions = %d, want 1", n)
	}
}

// testHeldFor: what is held about one account, and nothing of another's.
func testHeldFor(t *testing.T, s Store) {
	a, b := account(t, "a"), account(t, "b")
	a.AdOptOut, a.BlockedBusinesses = true, []string{"acme", "globex"}
	a.Consents = []store.Consent{{Purpose: "ads", Granted: true}}
	put(t, s, a, b)
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "a", ID: linkID(t), Epoch: 1, CreatedAt: t0}}, 0))
	for _, au := range []audience.Audience{{ID: "x1", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0},
		{ID: "x2", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}, {ID: "y", Tenant: "globex", Name: "n", Purpose: "safety", CreatedAt: t0}} {
		noErr(t, "CreateAudience", s.CreateAudience(ctx, au))
		_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: au.ID, SessionID: "s", Seq: 1, Add: []string{"a", "b"}})
		noErr(t, "ApplyBatch", err)
	}
	for i, st := range []string{"open", "open", "dismiss"} {
		sg := signal.Signal{ID: fmt.Sprintf("sig-%d", i), Direction: signal.Inbound, AccountID: "a", Type: "spam", Confidence: 0.9, Status: st,
			CreatedAt: t0, ExpiresAt: t0.Add(time.Duration(i+1) * time.Hour)}
		noErr(t, "CreateSignal", s.CreateSignal(ctx, sg, false))
	}
	h, err := s.HeldFor(ctx, "a", t0.Add(90*time.Minute))
	noErr(t, "HeldFor", err)
	want := []store.HeldAudiences{{Tenant: "acme", Purpose: "ads", Audiences: 2}, {Tenant: "globex", Purpose: "safety", Audiences: 1}}
	if h.AccountID != "a" || !h.AdOptOut || len(h.Consents) != 1 || !h.Consents[0].Granted || h.Consents[0].Source != store.ConsentDirectory || h.BlockedBusinesses != 2 || !h.Linked || !h.LinkedAt.Equal(t0) ||
		!slices.Equal(h.Audiences, want) || len(h.Signals) != 1 || h.Signals[0].ExpiresAt != t0.Add(2*time.Hour) {
		t.Fatalf("HeldFor(a) = %+v", h)
	}
	h, err = s.HeldFor(ctx, "b", t0)
	noErr(t, "HeldFor", err)
	if h.Linked || len(h.Signals) != 0 || len(h.Audiences) != 2 {
		t.Fatalf("HeldFor(b) = %+v", h)
	}
	_, err = s.HeldFor(ctx, "nobody", t0)
	wantErr(t, "HeldFor of no account", err, storeerr.ErrNotFound)

	// An objection to ads: out of the ads audiences at once, opted out,
	// kept as a receipt; the safety audience stays.
	r, err := s.Object(ctx, store.SubjectRequest{ID: "sr_1", AccountID: "b", Purpose: "ads", At: t0.Add(time.Hour)})
	noErr(t, "Object", err)
	if r.Removed != 2 || r.Kind != "objection" {
		t.Fatalf("Object = %+v", r)
	}
	h, err = s.HeldFor(ctx, "b", t0.Add(2*time.Hour))
	noErr(t, "HeldFor", err)
	if !h.AdOptOut || !h.UpdatedAt.Equal(t0.Add(time.Hour)) || len(h.Audiences) != 1 || h.Audiences[0].Purpose != "safety" || len(h.Requests) != 1 ||
		h.Requests[0].ID != "sr_1" || !h.Requests[0].At.Equal(t0.Add(time.Hour)) || !h.Requests[0].AcknowledgedAt.IsZero() {
		t.Fatalf("HeldFor(b) after the objection = %+v", h)
	}
	// An import that says otherwise keeps the objection.
	b2 := b
	b2.AdOptOut, b2.UpdatedAt = false, t0.Add(3*time.Hour)
	put(t, s, b2)
	if h, _ := s.HeldFor(ctx, "b", t0.Add(3*time.Hour)); !h.AdOptOut {
		t.Fatal("an import undid an objection to ads")
	}
	_, err = s.Object(ctx, store.SubjectRequest{ID: "sr_2", AccountID: "nobody", Purpose: "ads", At: t0})
	wantErr(t, "Object of no account", err, storeerr.ErrNotFound)
	_, err = s.Object(ctx, store.SubjectRequest{ID: "sr_1", AccountID: "a", Purpose: "ads", At: t0})
	wantErr(t, "Object with a used id", err, storeerr.ErrConflict)
	if h, _ := s.HeldFor(ctx, "a", t0); !h.AdOptOut || len(h.Audiences) != 2 {
		t.Fatalf("a refused request changed the account: %+v", h)
	}
}

func testJobs(t *testing.T, s Store) {
	j := store.Job{ID: "job-1", Kind: "link", State: store.JobRunning, Params: []byte(`{"peer":"x"}`), CreatedAt: t0}
	noErr(t, "CreateJob", s.CreateJob(ctx, j))
	wantErr(t, "duplicate job", s.CreateJob(ctx, j), storeerr.ErrConflict)
	noErr(t, "UpdateJob", s.UpdateJob(ctx, "job-1", store.JobDone, []byte(`{"matched":3}`), t0.Add(time.Minute)))
	got, err := s.Job(ctx, "job-1")
	noErr(t, "Job", err)
	if got.State != store.JobDone || string(got.Progress) != `{"matched":3}` || string(got.Params) != `{"peer":"x"}` || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Job = %+v", got)
	}
	wantErr(t, "UpdateJob unknown", s.UpdateJob(ctx, "nope", store.JobDone, nil, t0), storeerr.ErrNotFound)
	for i, id := range []string{"job-2", "job-3", "job-4"} {
		noErr(t, "CreateJob", s.CreateJob(ctx, store.Job{ID: id, Kind: "link", State: store.JobRunning, CreatedAt: t0.Add(time.Duration(i+1) * time.Minute)}))
	}
	noErr(t, "CreateJob", s.CreateJob(ctx, store.Job{ID: "other", Kind: "export", State: store.JobRunning, CreatedAt: t0}))
	for _, c := range []struct {
		before string
		limit  int
		want   []string
	}{{"", 10, []string{"job-4", "job-3", "job-2", "job-1"}}, {"", 2, []string{"job-4", "job-3"}}, {"job-3", 10, []string{"job-2", "job-1"}}} {
		js, err := s.ListJobs(ctx, "link", c.before, c.limit)
		noErr(t, "ListJobs", err)
		var ids []string
		for _, j := range js {
			ids = append(ids, j.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Fatalf("ListJobs(before %q, %d) = %v, want %v", c.before, c.limit, ids, c.want)
		}
	}
	for _, seq := range []int64{2, 1, 2} {
		_, err := s.PutCheckpoint(ctx, store.Checkpoint{JobID: "job-1", Step: "send", Seq: seq, Data: []byte{byte(seq)}})
		noErr(t, "PutCheckpoint", err)
	}
	applied, err := s.PutCheckpoint(ctx, store.Checkpoint{JobID: "job-1", Step: "send", Seq: 1, Data: []byte{9}})
	if err != nil || applied {
		t.Fatalf("replayed checkpoint: %v, %v", applied, err)
	}
	_, err = s.PutCheckpoint(ctx, store.Checkpoint{JobID: "nope", Step: "send", Seq: 1})
	wantErr(t, "checkpoint of unknown job", err, storeerr.ErrNotFound)
	cps, err := s.Checkpoints(ctx, "job-1", "send")
	noErr(t, "Checkpoints", err)
	if len(cps) != 2 || cps[0].Seq != 1 || cps[1].Seq != 2 || cps[0].Data[0] != 1 {
		t.Fatalf("Checkpoints = %+v", cps)
	}
	_, err = s.Job(ctx, "nope")
	wantErr(t, "Job unknown", err, storeerr.ErrNotFound)
}

func testUsage(t *testing.T, s Store) {
	w0, _ := access.Minute.Bounds(t0)
	w1 := w0.Add(time.Minute)
	for i, tc := range []struct {
		subject string
		start   time.Time
		n, max  int64
		ok      bool
		used    int64
	}{
		{"key_a", w0, 3, 5, true, 3},
		{"key_a", w0, 2, 5, true, 5},
		{"key_a", w0, 1, 5, false, 5}, // over: nothing changes
		{"key_a", w0, 0, 5, true, 5},
		{"key_b", w0, 1, 5, true, 1},  // another subject
		{"key_a", w1, 5, 5, true, 5},  // another window
		{"key_c", w0, 6, 5, false, 0}, // a first use over the limit
		{"key_c", w0, 5, 5, true, 5},
	} {
		ok, used, err := s.Consume(ctx, tc.subject, "requests", tc.start, tc.n, tc.max)
		if err != nil || ok != tc.ok || used != tc.used {
			t.Fatalf("case %d: Consume = %v, %d, %v; want %v, %d", i, ok, used, err, tc.ok, tc.used)
		}
	}
	ok, used, err := s.Consume(ctx, "key_a", "oprf", w0, 1, 5)
	if err != nil || !ok || used != 1 {
		t.Fatalf("another counter: %v, %d, %v", ok, used, err)
	}
}

// testAudienceMatchBatches: a batch that names accounts by what was
// uploaded is matched and applied in one step, with the exclusions, once.
func testAudienceMatchBatches(t *testing.T, s Store) {
	a, b, c, d := account(t, "a"), account(t, "b"), account(t, "c"), account(t, "d")
	b.AdOptOut = true
	c.BlockedBusinesses = []string{"acme"}
	d.Pseudonyms.IndexDigits = a.Pseudonyms.IndexDigits // two accounts, one number
	put(t, s, a, b, c, d)
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	hashes := func(idx ...hashindex.Index) *audience.Match {
		return &audience.Match{Hash: &directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: idx, Tenant: "acme", Eligible: true}}
	}
	members := func() []string {
		m, err := s.Members(ctx, "aud")
		noErr(t, "Members", err)
		return m
	}
	all := hashes(a.Pseudonyms.IndexDigits, b.Pseudonyms.IndexDigits, c.Pseudonyms.IndexDigits, a.Pseudonyms.IndexDigits, randomSet(t).IndexDigits)
	r, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Match: all, Received: 5})
	if err != nil || !r.Applied || r.Matched != 2 {
		t.Fatalf("ApplyBatch = %+v, %v", r, err)
	}
	if m := members(); !slices.Equal(m, []string{"a", "d"}) {
		t.Fatalf("members = %v, want a and d (b opted out, c blocked acme)", m)
	}
	// A replay with other keys changes nothing.
	r, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Match: hashes(c.Pseudonyms.IndexDigits)})
	if err != nil || r.Applied || r.Received != 5 {
		t.Fatalf("replay = %+v, %v", r, err)
	}
	// Private mode, and a removal by match.
	op := &audience.Match{OPRF: &directory.OPRFMatch{Epoch: 1, Outputs: [][oprf.OutputSize]byte{b.Pseudonyms.OPRF, c.Pseudonyms.OPRF}}}
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 2, Match: op})
	noErr(t, "ApplyBatch OPRF", err)
	if m := members(); !slices.Equal(m, []string{"a", "b", "c", "d"}) {
		t.Fatalf("members = %v after an OPRF batch without exclusions", m)
	}
	rm := hashes(a.Pseudonyms.IndexDigits)
	rm.Remove = true
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 3, Match: rm, Last: true})
	noErr(t, "ApplyBatch remove", err)
	if m := members(); !slices.Equal(m, []string{"b", "c"}) {
		t.Fatalf("members = %v after removing a's number", m)
	}
	// A batch that matches nothing is still a batch.
	r, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "t", Seq: 1, Match: hashes()})
	if err != nil || !r.Applied {
		t.Fatalf("empty match = %+v, %v", r, err)
	}
	// Erasure reaches memberships added by match.
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "b"))
	if m := members(); !slices.Equal(m, []string{"c"}) {
		t.Fatalf("members = %v after erasing b", m)
	}
}

// testLinkSuperseded: a run's Keep supersedes the link jobs begun before
// it that are not done, drops the staging of every job begun before it,
// and leaves the jobs begun after it alone; a superseded job stays so and
// cannot be kept.
func testLinkSuperseded(t *testing.T, s Store) {
	el := testElement
	put(t, s, withLinkElement(t, "a", 1), withLinkElement(t, "b", 2))
	jobs := []struct {
		id    string
		state store.JobState
		at    time.Duration
	}{
		{"old-running", store.JobRunning, 0}, // its process stopped
		{"old-failed", store.JobFailed, time.Second},
		{"old-done", store.JobDone, 2 * time.Second}, // its staging left over
		{"other-kind", store.JobRunning, 3 * time.Second},
		{"new", store.JobRunning, 10 * time.Second},
		{"later", store.JobRunning, 20 * time.Second},
	}
	for i, j := range jobs {
		kind := linkjob.Kind
		if j.id == "other-kind" {
			kind = "other"
		}
		noErr(t, "CreateJob", s.CreateJob(ctx, store.Job{ID: j.id, Kind: kind, State: j.state, Params: []byte(`{}`), Progress: []byte(`{}`),
			CreatedAt: t0.Add(j.at), UpdatedAt: t0.Add(j.at)}))
		noErr(t, "StartStaging", s.StartStaging(ctx, j.id))
		noErr(t, "StageOwn", s.StageOwn(ctx, j.id, 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(21)},
			{AccountID: "b", Element: el(2), Value: el(byte(30 + i))}}))
		noErr(t, "StageTheirs", s.StageTheirs(ctx, j.id, 1, []psi.Element{el(21)}))
	}
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "new", Epoch: 1, Full: true, Confirmed: t0.Add(10 * time.Second)}))
	for _, j := range jobs {
		got, err := s.Job(ctx, j.id)
		noErr(t, "Job", err)
		want := j.state
		if j.id == "old-running" || j.id == "old-failed" {
			want = store.JobSuperseded
		}
		if got.State != want {
			t.Errorf("job %s is %s after a later run's Keep, want %s", j.id, got.State, want)
		}
		rows, err := s.OwnBatch(ctx, j.id, 1)
		noErr(t, "OwnBatch", err)
		begunBefore := j.at < 10*time.Second
		if begunBefore == (len(rows) > 0) {
			t.Errorf("job %s: %d staged rows left after a later run's Keep (begun before it: %v)", j.id, len(rows), begunBefore)
		}
		if ok, err := s.Staged(ctx, j.id); err != nil || ok == begunBefore {
			t.Errorf("job %s: Staged = %v, %v after a later run's Keep (begun before it: %v)", j.id, ok, err, begunBefore)
		}
	}
	// The other's values staged by a superseded job went too: the rows
	// that job touched link none.
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "old-running"}, 10); len(m) != 0 {
		t.Errorf("a superseded job's staging still touches %v", m)
	}
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "new", Full: true}, 10); !slices.Equal(m, []string{"a"}) {
		t.Errorf("Matched of the run kept = %v, want a", m)
	}
	// Its process, still running, writes its progress: it stays
	// superseded, and its Keep is refused and changes nothing.
	noErr(t, "UpdateJob", s.UpdateJob(ctx, "old-running", store.JobRunning, []byte(`{"phase":"exchanging"}`), t0.Add(time.Minute)))
	if got, _ := s.Job(ctx, "old-running"); got.State != store.JobSuperseded || string(got.Progress) != `{"phase":"exchanging"}` {
		t.Errorf("a superseded job updated: %s %s, want superseded with the new progress", got.State, got.Progress)
	}
	wantErr(t, "Keep of a superseded job", s.Keep(ctx, linkjob.Keep{JobID: "old-running", Epoch: 1, Full: true, Confirmed: t0}), store.ErrSuperseded)
	if id, _, err := s.Kept(ctx); err != nil || id != "new" {
		t.Errorf("Kept after a superseded job's Keep = %q, %v, want new", id, err)
	}
	if rows, _ := s.OwnBatch(ctx, "later", 1); len(rows) != 2 {
		t.Errorf("the later job's staging: %d rows, want 2", len(rows))
	}
}

// testLinkStaging: a link job's staging keeps batches by position and
// replaces a batch sent again; Keep turns a full run's staging into the
// kept sets and an incremental run's into changes of them; Matched finds
// the kept rows the other holds (all, or those a job touched); imports
// and erasure retire kept values.
func testLinkStaging(t *testing.T, s Store) {
	el := testElement
	withElement := func(id string, b byte) directory.Account { return withLinkElement(t, id, b) }
	put(t, s, withElement("a", 2), withElement("b", 3), withElement("c", 1), withElement("d", 4))
	if id, _, err := s.Kept(ctx); err != nil || id != "" {
		t.Fatalf("Kept before any run = %q, %v", id, err)
	}
	staged := func(job string, want bool) {
		t.Helper()
		if ok, err := s.Staged(ctx, job); err != nil || ok != want {
			t.Fatalf("Staged(%s) = %v, %v, want %v", job, ok, err, want)
		}
	}
	staged("j", false)
	noErr(t, "StartStaging", s.StartStaging(ctx, "j"))
	noErr(t, "StartStaging k", s.StartStaging(ctx, "k"))
	staged("j", true)
	own := []linkjob.Row{{AccountID: "c", Element: el(1)}, {AccountID: "a", Element: el(2)}, {AccountID: "b", Element: el(3)}}
	noErr(t, "StageOwn", s.StageOwn(ctx, "j", 1, own))
	got, err := s.OwnBatch(ctx, "j", 1)
	noErr(t, "OwnBatch", err)
	if !slices.Equal(got, own) {
		t.Fatalf("OwnBatch = %+v", got)
	}
	if got, _ := s.OwnBatch(ctx, "j", 2); len(got) != 0 {
		t.Fatalf("an unstaged batch: %+v", got)
	}
	if n, last, err := s.BatchEnd(ctx, "j", 1); err != nil || n != 3 || last != "c" {
		t.Fatalf("BatchEnd = %d, %q, %v, want 3 rows up to c", n, last, err)
	}
	if n, last, err := s.BatchEnd(ctx, "j", 2); err != nil || n != 0 || last != "" {
		t.Fatalf("BatchEnd of an unstaged batch = %d, %q, %v", n, last, err)
	}
	if err := s.SetOwnValues(ctx, "j", 1, []psi.Element{el(9)}); err == nil {
		t.Fatal("SetOwnValues with a wrong count succeeded")
	}
	noErr(t, "SetOwnValues", s.SetOwnValues(ctx, "j", 1, []psi.Element{el(11), el(12), el(13)}))
	noErr(t, "StageOwn", s.StageOwn(ctx, "j", 2, []linkjob.Row{{AccountID: "d", Element: el(4), Value: el(14)}}))
	noErr(t, "StageOwn other job", s.StageOwn(ctx, "k", 1, []linkjob.Row{{AccountID: "a", Element: el(2), Value: el(12)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "j", 1, []psi.Element{el(12), el(99)}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "j", 2, []psi.Element{el(14), el(11)}))
	// Sent again, batch 1 of theirs replaces the first.
	noErr(t, "StageTheirs again", s.StageTheirs(ctx, "j", 1, []psi.Element{el(12), el(98)}))
	// A batch 3 that a resumed run no longer has: trimmed, b's value
	// is not among the other's.
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "j", 3, []psi.Element{el(13)}))
	if got, err := theirBatch(ctx, s, "j", 3); err != nil || !slices.Equal(got, []psi.Element{el(13)}) {
		t.Fatalf("TheirBatch 3 = %v, %v", got, err)
	}
	noErr(t, "TrimTheirs", s.TrimTheirs(ctx, "j", 2))
	for seq, want := range map[int64][]psi.Element{1: {el(12), el(98)}, 2: {el(14), el(11)}, 3: nil} {
		if got, err := theirBatch(ctx, s, "j", seq); err != nil || !slices.Equal(got, want) {
			t.Fatalf("TheirBatch %d = %v, %v; want %v", seq, got, err, want)
		}
	}
	if got, err := theirBatch(ctx, s, "k", 1); err != nil || len(got) != 0 {
		t.Fatalf("TheirBatch of a job with none staged = %v, %v", got, err)
	}
	matched := func(job string, full bool, limit int) ([]string, int) {
		t.Helper()
		return matchedIDs(t, s, linkjob.Keep{JobID: job, Full: full}, limit)
	}
	// A job whose staging was not started, or is lost, is refused and
	// changes nothing.
	wantErr(t, "Keep of a job not started", s.Keep(ctx, linkjob.Keep{JobID: "unstarted", Epoch: 7, Full: true}), store.ErrLost)
	if id, _, err := s.Kept(ctx); err != nil || id != "" {
		t.Fatalf("Kept after a refused Keep = %q, %v", id, err)
	}
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "j", Epoch: 7, Full: true}))
	if id, epoch, err := s.Kept(ctx); err != nil || id != "j" || epoch != 7 {
		t.Fatalf("Kept = %q, %d, %v", id, epoch, err)
	}
	if m, groups := matched("j", true, 10); !slices.Equal(m, []string{"a", "c", "d"}) || groups != 1 {
		t.Fatalf("Matched = %v in %d groups", m, groups)
	}
	if m, groups := matched("j", true, 2); len(m) != 3 || groups != 2 {
		t.Fatalf("Matched by twos = %v in %d groups", m, groups)
	}
	// A job's staging touched all of them: the same rows.
	if m, _ := matched("j", false, 10); !slices.Equal(m, []string{"a", "c", "d"}) {
		t.Fatalf("Matched of job j = %v", m)
	}
	if m, _ := matched("k", false, 10); len(m) != 1 {
		t.Fatalf("Matched of job k (a, kept with 12, the other's) = %v", m)
	}
	stop := errors.New("stop")
	if err := s.Matched(ctx, linkjob.Keep{JobID: "j", Full: true}, 1, func([]linkjob.Row) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Matched did not return the callback's error: %v", err)
	}
	// Kept again: nothing changes (a retried run).
	noErr(t, "Keep again", s.Keep(ctx, linkjob.Keep{JobID: "j", Epoch: 7, Full: true}))
	if m, _ := matched("j", true, 10); len(m) != 3 {
		t.Fatalf("Matched after keeping again = %v", m)
	}
	noErr(t, "DropStaging", s.DropStaging(ctx, "j"))
	if got, _ := s.OwnBatch(ctx, "j", 1); len(got) != 0 {
		t.Fatal("staging left after DropStaging")
	}
	staged("j", false)
	if got, _ := s.OwnBatch(ctx, "k", 1); len(got) != 1 {
		t.Fatal("DropStaging dropped another job's staging")
	}
	staged("k", true)
	noErr(t, "DropStaging k", s.DropStaging(ctx, "k"))
	staged("k", false)
	if m, _ := matched("j", true, 10); len(m) != 3 {
		t.Fatalf("the kept sets went with the staging: %v", m)
	}

	// Every account is kept with its element: none is new.
	newIDs := func() []string {
		t.Helper()
		els, err := s.NewElements(ctx, 1, "", 10)
		noErr(t, "NewElements", err)
		var ids []string
		for _, e := range els {
			ids = append(ids, e.AccountID)
		}
		return ids
	}
	retired := func() []psi.Element {
		t.Helper()
		r, err := s.Retired(ctx, 10)
		noErr(t, "Retired", err)
		return r
	}
	if ids := newIDs(); len(ids) != 0 {
		t.Fatalf("NewElements after a kept run = %v", ids)
	}
	if r := retired(); len(r) != 0 {
		t.Fatalf("Retired after a full run = %v", r)
	}
	// A new account, a changed number (its old value retired), an
	// unchanged re-import (nothing), an erasure (its value retired).
	put(t, s, withElement("e", 5), withElement("b", 6), withElement("c", 1))
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "d"))
	if ids := newIDs(); !slices.Equal(ids, []string{"b", "e"}) {
		t.Fatalf("NewElements = %v, want b and e", ids)
	}
	if els, _ := s.NewElements(ctx, 1, "b", 10); len(els) != 1 || els[0].AccountID != "e" || els[0].Element != el(5) {
		t.Fatalf("NewElements after b = %+v", els)
	}
	if r := retired(); !slices.Equal(r, []psi.Element{el(13), el(14)}) {
		t.Fatalf("Retired = %v, want b's old value and d's", r)
	}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "a", ID: psi.LinkID{1}, Epoch: 7, CreatedAt: t0},
		{AccountID: "c", ID: psi.LinkID{2}, Epoch: 7, CreatedAt: t0}}, 0))
	// The incremental run: b and e sent (and "x", erased meanwhile); the
	// other retired 12 (a's match) and sent 15 (e's) and 11 (c's: another
	// of its accounts has c's number now).
	noErr(t, "StageOwn", s.StageOwn(ctx, "inc", 1, []linkjob.Row{{AccountID: "b", Element: el(6), Value: el(16)},
		{AccountID: "e", Element: el(5), Value: el(15)}, {AccountID: "x", Element: el(7), Value: el(17)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "inc", 1, []psi.Element{el(15), el(11)}))
	// Built on another run than the one kept, it is refused and changes
	// nothing.
	noErr(t, "StartStaging", s.StartStaging(ctx, "inc"))
	wantErr(t, "Keep on another base", s.Keep(ctx, linkjob.Keep{JobID: "inc", Epoch: 7, Base: "older", PeerRetired: []psi.Element{el(12)}}), store.ErrStale)
	if _, err := s.LinkOf(ctx, "a"); err != nil {
		t.Fatalf("a refused Keep dropped a link: %v", err)
	}
	noErr(t, "StartStaging", s.StartStaging(ctx, "inc"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "inc", Epoch: 7, Base: "j", Retired: []psi.Element{el(13), el(14)}, PeerRetired: []psi.Element{el(12)}}))
	if _, err := s.LinkOf(ctx, "a"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("the link of a value the other retired: %v", err)
	}
	if _, err := s.LinkOf(ctx, "c"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("the link of a value the other holds twice now: %v", err)
	}
	if m, _ := matched("inc", false, 10); !slices.Equal(m, []string{"e"}) {
		t.Fatalf("Matched of the incremental job = %v, want e", m)
	}
	if m, _ := matched("inc", true, 10); !slices.Equal(m, []string{"e"}) {
		t.Fatalf("Matched of the kept sets = %v, want e", m)
	}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "e", ID: psi.LinkID{5}, Epoch: 7, CreatedAt: t0}}, 0))
	if ids := newIDs(); len(ids) != 0 {
		t.Fatalf("NewElements after the incremental run = %v", ids)
	}
	if r := retired(); !slices.Equal(r, []psi.Element{el(17)}) {
		t.Fatalf("Retired = %v, want only the value of the account gone meanwhile", r)
	}
	// A full run's links: e's, held as it is, stays as it is; the links
	// of accounts not matched in the kept sets go (b's: its value is not
	// the other's), unless created since the run started.
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "b", ID: psi.LinkID{3}, Epoch: 7, CreatedAt: t0}}, 0))
	asHeld := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{5}, Epoch: 7, CreatedAt: t0.Add(time.Minute)}
	}
	if got := relinked(t, s, linkjob.Keep{JobID: "inc", Full: true, Confirmed: t0}, asHeld); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("Relink made links for %v, want e", got)
	}
	if _, err := s.LinkOf(ctx, "b"); err != nil {
		t.Fatalf("Relink dropped a link created since the run started: %v", err)
	}
	if l, err := s.LinkOf(ctx, "e"); err != nil || l.ID != (psi.LinkID{5}) || !l.CreatedAt.Equal(t0) {
		t.Fatalf("a link held as it is, after Relink: %+v, %v", l, err)
	}
	renamed := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{6}, Epoch: 7, CreatedAt: t0.Add(time.Minute)}
	}
	relinked(t, s, linkjob.Keep{JobID: "inc", Full: true, Confirmed: t0.Add(time.Second)}, renamed)
	if _, err := s.LinkOf(ctx, "b"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("Relink kept an unmatched link created before the run: %v", err)
	}
	if l, err := s.LinkOf(ctx, "e"); err != nil || l.ID != (psi.LinkID{6}) || !l.CreatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a link held with another id, after Relink: %+v, %v", l, err)
	}
	if n, err := s.CountLinks(ctx); err != nil || n != 1 {
		t.Fatalf("CountLinks after Relink = %d, %v, want e's", n, err)
	}
	// A full run replaces everything kept, and confirms the links it
	// keeps: their retention counts from then.
	noErr(t, "StartStaging", s.StartStaging(ctx, "again"))
	noErr(t, "Keep full", s.Keep(ctx, linkjob.Keep{JobID: "again", Epoch: 8, Full: true, Confirmed: t0.Add(time.Hour)}))
	if m, _ := matched("again", true, 10); len(m) != 0 {
		t.Fatalf("Matched after an empty full run = %v", m)
	}
	if r := retired(); len(r) != 0 {
		t.Fatalf("Retired after a full run = %v", r)
	}
	if n, err := s.PurgeLinks(ctx, t0.Add(30*time.Minute)); err != nil || n != 0 {
		t.Fatalf("PurgeLinks before the confirming run = %d, %v, want none", n, err)
	}
	if id, _, _ := s.Kept(ctx); id != "again" {
		t.Fatalf("Kept = %q after purging nothing", id)
	}
	if n, err := s.PurgeLinks(ctx, t0.Add(2*time.Hour)); err != nil || n != 1 {
		t.Fatalf("PurgeLinks after the confirming run = %d, %v, want e's link", n, err)
	}
	if id, _, _ := s.Kept(ctx); id != "" {
		t.Fatalf("Kept = %q after links expired: the next run must be full", id)
	}
}

// testNewElements: an incremental run sends the accounts that hold no kept
// row of their element, however they came to: new, imported while a full
// run was under way, a changed number, erased and imported again, staged
// with an element they no longer hold.
func testNewElements(t *testing.T, s Store) {
	el := testElement
	acct := func(id string, b byte) directory.Account { return withLinkElement(t, id, b) }
	newIDs := func(after string, limit int) []string {
		t.Helper()
		els, err := s.NewElements(ctx, 1, after, limit)
		noErr(t, "NewElements", err)
		var ids []string
		for _, e := range els {
			ids = append(ids, e.AccountID)
		}
		return ids
	}
	want := func(what string, ids ...string) {
		t.Helper()
		if got := newIDs("", 10); !slices.Equal(got, ids) {
			t.Fatalf("NewElements %s = %v, want %v", what, got, ids)
		}
	}
	put(t, s, acct("a", 1), acct("b", 2), acct("c", 3))
	want("before any run", "a", "b", "c")
	// A full run that staged a and b; d came while it ran.
	noErr(t, "StageOwn", s.StageOwn(ctx, "f", 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(11)},
		{AccountID: "b", Element: el(2), Value: el(12)}}))
	put(t, s, acct("d", 4))
	noErr(t, "StartStaging", s.StartStaging(ctx, "f"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "f", Epoch: 7, Full: true}))
	want("after a full run", "c", "d")
	// Erased and imported again with the same number: its kept row went
	// with the erasure.
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "a"))
	put(t, s, acct("a", 1))
	want("after a came again", "a", "c", "d")
	put(t, s, acct("b", 2))
	want("after b was imported unchanged", "a", "c", "d")
	put(t, s, acct("b", 5))
	want("after b's number changed", "a", "b", "c", "d")
	if got := newIDs("b", 10); !slices.Equal(got, []string{"c", "d"}) {
		t.Fatalf("NewElements after b = %v", got)
	}
	if got := newIDs("", 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("NewElements by twos = %v", got)
	}
	// An incremental run keeps a; b and c were staged with elements they
	// do not hold, d was not staged.
	noErr(t, "StageOwn", s.StageOwn(ctx, "g", 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(21)},
		{AccountID: "b", Element: el(2), Value: el(22)}, {AccountID: "c", Element: el(9), Value: el(23)}}))
	noErr(t, "StartStaging", s.StartStaging(ctx, "g"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "g", Epoch: 7, Base: "f"}))
	want("after an incremental run", "b", "c", "d")
	// A full run that staged nothing keeps nothing.
	noErr(t, "StartStaging", s.StartStaging(ctx, "h"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "h", Epoch: 7, Full: true}))
	want("after an empty full run", "a", "b", "c", "d")
}

// testLinkSharedNumbers: a value that two of this party's kept rows hold,
// or that the other holds twice, links none of its rows; when one of the
// holders goes, on either side, the value links again; a run drops the
// links of values it made shared; retired values are counted.
func testLinkSharedNumbers(t *testing.T, s Store) {
	el := testElement
	acct := func(id string, b byte) directory.Account { return withLinkElement(t, id, b) }
	// a and b share one number (21), the other holds c's twice (23), d's
	// and e's once each.
	put(t, s, acct("a", 1), acct("b", 1), acct("c", 3), acct("d", 4), acct("e", 5))
	noErr(t, "StageOwn", s.StageOwn(ctx, "f", 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(21)},
		{AccountID: "b", Element: el(1), Value: el(21)}, {AccountID: "c", Element: el(3), Value: el(23)},
		{AccountID: "d", Element: el(4), Value: el(24)}, {AccountID: "e", Element: el(5), Value: el(25)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "f", 1, []psi.Element{el(23), el(21), el(24), el(23), el(25)}))
	noErr(t, "StartStaging", s.StartStaging(ctx, "f"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "f", Epoch: 1, Full: true}))
	// a's link, from before b took its number, goes.
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "a", ID: psi.LinkID{1}, Epoch: 1, CreatedAt: t0}}, 0))
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "f", Full: true}, 10); !slices.Equal(m, []string{"d", "e"}) {
		t.Fatalf("Matched = %v, want d and e (a and b share a number, the other holds c's twice)", m)
	}
	if _, err := s.LinkOf(ctx, "a"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("the link of a number two accounts hold now: %v", err)
	}
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "f", Full: true}, 1); !slices.Equal(m, []string{"d", "e"}) {
		t.Fatalf("Matched one by one = %v, want d and e", m)
	}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "d", ID: psi.LinkID{4}, Epoch: 1, CreatedAt: t0},
		{AccountID: "e", ID: psi.LinkID{5}, Epoch: 1, CreatedAt: t0}}, 0))
	noErr(t, "DropStaging", s.DropStaging(ctx, "f"))

	// b goes: a holds 21 alone. The other lets one of c's go and takes a
	// second holder of d's.
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "b"))
	if r, err := s.Retired(ctx, 10); err != nil || !slices.Equal(r, []psi.Element{el(21)}) {
		t.Fatalf("Retired = %v, %v, want b's value", r, err)
	}
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "g", 1, []psi.Element{el(24)}))
	inc := linkjob.Keep{JobID: "g", Epoch: 1, Base: "f", Retired: []psi.Element{el(21)}, PeerRetired: []psi.Element{el(23)}}
	noErr(t, "StartStaging", s.StartStaging(ctx, inc.JobID))
	noErr(t, "Keep", s.Keep(ctx, inc))
	if _, err := s.LinkOf(ctx, "d"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("the link of a value the other holds twice now: %v", err)
	}
	if _, err := s.LinkOf(ctx, "e"); err != nil {
		t.Fatalf("an untouched link: %v", err)
	}
	if m, _ := matchedIDs(t, s, inc, 10); !slices.Equal(m, []string{"a", "c"}) {
		t.Fatalf("Matched of the incremental job = %v, want a and c (held once on each side again)", m)
	}
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "g", Full: true}, 10); !slices.Equal(m, []string{"a", "c", "e"}) {
		t.Fatalf("Matched of the kept sets = %v, want a, c and e", m)
	}
	if r, err := s.Retired(ctx, 10); err != nil || len(r) != 0 {
		t.Fatalf("Retired after handing it over = %v, %v", r, err)
	}
	// A link of a value the other holds twice goes when a full run's
	// Relink meets it, whenever it was created; the others are replaced.
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "d", ID: psi.LinkID{4}, Epoch: 1, CreatedAt: t0}}, 0))
	byAccount := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{r.AccountID[0]}, Epoch: 1, CreatedAt: t0}
	}
	if got := relinked(t, s, linkjob.Keep{JobID: "g", Full: true}, byAccount); !slices.Equal(got, []string{"a", "c", "e"}) {
		t.Fatalf("Relink made links for %v, want a, c and e", got)
	}
	if _, err := s.LinkOf(ctx, "d"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("the link of a value the other holds twice, after Relink: %v", err)
	}
	relinked(t, s, linkjob.Keep{JobID: "g", Full: true, Confirmed: t0.Add(time.Second)}, byAccount)
	for _, id := range []string{"a", "c", "e"} {
		if l, err := s.LinkOf(ctx, id); err != nil || l.ID != (psi.LinkID{id[0]}) {
			t.Fatalf("the link of %s after Relink: %+v, %v", id, l, err)
		}
	}
	if n, err := s.CountLinks(ctx); err != nil || n != 3 {
		t.Fatalf("CountLinks after Relink = %d, %v, want a's, c's and e's", n, err)
	}
	noErr(t, "DropStaging", s.DropStaging(ctx, "g"))

	// Two staged rows of one value whose accounts changed meanwhile: the
	// value is retired twice, and handing it over once leaves it once.
	put(t, s, acct("h", 8), acct("i", 8))
	noErr(t, "StageOwn", s.StageOwn(ctx, "h", 1, []linkjob.Row{{AccountID: "h", Element: el(7), Value: el(27)},
		{AccountID: "i", Element: el(7), Value: el(27)}}))
	noErr(t, "StartStaging", s.StartStaging(ctx, "h"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "h", Epoch: 1, Full: true}))
	if r, err := s.Retired(ctx, 10); err != nil || !slices.Equal(r, []psi.Element{el(27), el(27)}) {
		t.Fatalf("Retired = %v, %v, want 27 twice", r, err)
	}
	if r, err := s.Retired(ctx, 1); err != nil || len(r) != 1 {
		t.Fatalf("Retired up to one = %v, %v", r, err)
	}
	noErr(t, "StartStaging", s.StartStaging(ctx, "i"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "i", Epoch: 1, Base: "h", Retired: []psi.Element{el(27)}}))
	if r, err := s.Retired(ctx, 10); err != nil || !slices.Equal(r, []psi.Element{el(27)}) {
		t.Fatalf("Retired after handing 27 over once = %v, %v, want it once", r, err)
	}
}

// testLinkChanges: Changes counts changed and erased accounts, not new
// ones; a full Keep given the count its job started with keeps every
// staged row while it holds, and checks them against the accounts once
// it has moved.
func testLinkChanges(t *testing.T, s Store) {
	el := testElement
	acct := func(id string, b byte) directory.Account { return withLinkElement(t, id, b) }
	changes := func() int64 {
		t.Helper()
		n, err := s.Changes(ctx)
		noErr(t, "Changes", err)
		return n
	}
	c0 := changes()
	if c0 < 1 {
		t.Fatalf("Changes = %d, want 1 or more", c0)
	}
	put(t, s, acct("a", 1), acct("b", 2))
	if c := changes(); c != c0 {
		t.Fatalf("Changes = %d after new accounts, want %d", c, c0)
	}
	stage := func(job string) {
		t.Helper()
		noErr(t, "StageOwn", s.StageOwn(ctx, job, 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(11)},
			{AccountID: "b", Element: el(2), Value: el(12)}}))
		noErr(t, "StageTheirs", s.StageTheirs(ctx, job, 1, []psi.Element{el(11), el(12)}))
	}
	stage("j")
	noErr(t, "StartStaging", s.StartStaging(ctx, "j"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "j", Epoch: 1, Full: true, Changes: c0}))
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "j", Full: true}, 10); !slices.Equal(m, []string{"a", "b"}) {
		t.Fatalf("Matched = %v, want a and b", m)
	}
	// A run starts; b's number changes before it is kept.
	c1 := changes()
	stage("k")
	put(t, s, acct("b", 3))
	if c := changes(); c <= c1 {
		t.Fatalf("Changes = %d after a changed number, want more than %d", c, c1)
	}
	noErr(t, "StartStaging", s.StartStaging(ctx, "k"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "k", Epoch: 1, Full: true, Changes: c1}))
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "k", Full: true}, 10); !slices.Equal(m, []string{"a"}) {
		t.Fatalf("Matched = %v, want a (b's staged row is of its old number)", m)
	}
	if r, err := s.Retired(ctx, 10); err != nil || !slices.Equal(r, []psi.Element{el(12)}) {
		t.Fatalf("Retired = %v, %v, want b's old value", r, err)
	}
	// Another run; a is erased before it is kept.
	c2 := changes()
	noErr(t, "StageOwn", s.StageOwn(ctx, "l", 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(11)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "l", 1, []psi.Element{el(11)}))
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "a"))
	if c := changes(); c <= c2 {
		t.Fatalf("Changes = %d after an erasure, want more than %d", c, c2)
	}
	noErr(t, "StartStaging", s.StartStaging(ctx, "l"))
	noErr(t, "Keep", s.Keep(ctx, linkjob.Keep{JobID: "l", Epoch: 1, Full: true, Changes: c2}))
	if m, _ := matchedIDs(t, s, linkjob.Keep{JobID: "l", Full: true}, 10); len(m) != 0 {
		t.Fatalf("Matched = %v, want none (a was erased)", m)
	}
	// PutLinks given the count from before an erasure still finds the
	// erased account missing; given the count of now, it links.
	put(t, s, acct("c", 4))
	c3 := changes()
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "b"))
	wantErr(t, "PutLinks for an account erased since", s.PutLinks(ctx, []store.Link{{AccountID: "b", ID: psi.LinkID{2}, Epoch: 1, CreatedAt: t0},
		{AccountID: "c", ID: psi.LinkID{3}, Epoch: 1, CreatedAt: t0}}, c3), storeerr.ErrNotFound)
	if _, err := s.LinkOf(ctx, "c"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("a refused batch wrote a link: %v", err)
	}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "c", ID: psi.LinkID{3}, Epoch: 1, CreatedAt: t0}}, changes()))
	if _, err := s.LinkOf(ctx, "c"); err != nil {
		t.Fatalf("LinkOf c: %v", err)
	}
}

// testElement is a link element or doubly blinded value made of one byte.
func testElement(b byte) psi.Element {
	var e psi.Element
	e[0], e[31] = b, 1
	return e
}

// withLinkElement is an account whose link element is testElement(b).
func withLinkElement(t *testing.T, id string, b byte) directory.Account {
	a := account(t, id)
	a.Pseudonyms.Link = testElement(b)
	return a
}

// matchedIDs returns the accounts Matched hands over for k, sorted, and
// the number of groups it handed them in.
func matchedIDs(t *testing.T, s Store, k linkjob.Keep, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	groups := 0
	noErr(t, "Matched", s.Matched(ctx, k, limit, func(rows []linkjob.Row) error {
		if len(rows) == 0 || len(rows) > limit {
			t.Fatalf("a group of %d rows, limit %d", len(rows), limit)
		}
		groups++
		for _, r := range rows {
			if r.Element == (psi.Element{}) || r.Value == (psi.Element{}) {
				t.Fatalf("a matched row without its element or value: %+v", r)
			}
			ids = append(ids, r.AccountID)
		}
		return nil
	}))
	slices.Sort(ids)
	return ids, groups
}

// testRelink: a full run's links replace the links held, whenever made,
// but for a link held as it is (left so) and one made since the run
// started for an account that holds a kept row and does not match; a link
// whose id another account takes goes first.
func testRelink(t *testing.T, s Store) {
	el := testElement
	acct := func(id string, b byte) directory.Account { return withLinkElement(t, id, b) }
	put(t, s, acct("u", 5), acct("v", 6), acct("w", 4), acct("x", 1), acct("y", 2), acct("z", 3))
	since := t0.Add(time.Hour)
	// x's link is of its old number, which y holds now; z's value does
	// not match; v keeps no row; u's link was made since the run began.
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "x", ID: psi.LinkID{12}, Epoch: 1, CreatedAt: t0},
		{AccountID: "z", ID: psi.LinkID{9}, Epoch: 1, CreatedAt: t0}, {AccountID: "w", ID: psi.LinkID{14}, Epoch: 1, CreatedAt: t0},
		{AccountID: "v", ID: psi.LinkID{7}, Epoch: 1, CreatedAt: since}, {AccountID: "u", ID: psi.LinkID{8}, Epoch: 1, CreatedAt: since}}, 0))
	noErr(t, "StageOwn", s.StageOwn(ctx, "r", 1, []linkjob.Row{{AccountID: "u", Element: el(5), Value: el(15)},
		{AccountID: "w", Element: el(4), Value: el(14)}, {AccountID: "x", Element: el(1), Value: el(11)},
		{AccountID: "y", Element: el(2), Value: el(12)}, {AccountID: "z", Element: el(3), Value: el(13)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "r", 1, []psi.Element{el(12), el(11), el(14)}))
	k := linkjob.Keep{JobID: "r", Epoch: 1, Full: true, Confirmed: t0.Add(30 * time.Minute)}
	noErr(t, "StartStaging", s.StartStaging(ctx, k.JobID))
	noErr(t, "Keep", s.Keep(ctx, k))
	made := t0.Add(2 * time.Hour)
	byValue := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{r.Value[0]}, Epoch: 1, CreatedAt: made}
	}
	if got := relinked(t, s, k, byValue); !slices.Equal(got, []string{"w", "x", "y"}) {
		t.Fatalf("Relink made links for %v, want w, x and y", got)
	}
	want := map[string]store.Link{
		"u": {AccountID: "u", ID: psi.LinkID{8}, Epoch: 1, CreatedAt: since},
		"w": {AccountID: "w", ID: psi.LinkID{14}, Epoch: 1, CreatedAt: t0},
		"x": {AccountID: "x", ID: psi.LinkID{11}, Epoch: 1, CreatedAt: made},
		"y": {AccountID: "y", ID: psi.LinkID{12}, Epoch: 1, CreatedAt: made},
	}
	for _, id := range []string{"u", "v", "w", "x", "y", "z"} {
		l, err := s.LinkOf(ctx, id)
		w, ok := want[id]
		switch {
		case !ok && !errors.Is(err, storeerr.ErrNotFound):
			t.Errorf("%s's link after Relink: %+v, %v, want none", id, l, err)
		case ok && (err != nil || l != w):
			t.Errorf("%s's link after Relink: %+v, %v, want %+v", id, l, err, w)
		}
	}
	if n, err := s.CountLinks(ctx); err != nil || n != int64(len(want)) {
		t.Fatalf("CountLinks after Relink = %d, %v, want %d", n, err, len(want))
	}
	// Run again, the same links: nothing changes.
	relinked(t, s, k, byValue)
	if l, err := s.LinkOf(ctx, "x"); err != nil || l != want["x"] {
		t.Fatalf("x's link after Relink again: %+v, %v", l, err)
	}

	// A run in another link epoch replaces every link: the links are
	// as unique as ever after it.
	noErr(t, "StageOwn", s.StageOwn(ctx, "s", 1, []linkjob.Row{{AccountID: "w", Element: el(4), Value: el(14)},
		{AccountID: "x", Element: el(1), Value: el(11)}}))
	noErr(t, "StageTheirs", s.StageTheirs(ctx, "s", 1, []psi.Element{el(11), el(14)}))
	k = linkjob.Keep{JobID: "s", Epoch: 2, Full: true, Confirmed: t0.Add(3 * time.Hour)}
	noErr(t, "StartStaging", s.StartStaging(ctx, k.JobID))
	noErr(t, "Keep", s.Keep(ctx, k))
	epoch2 := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{r.Value[0], 2}, Epoch: 2, CreatedAt: made}
	}
	relinked(t, s, k, epoch2)
	if n, err := s.CountLinks(ctx); err != nil || n != 2 {
		t.Fatalf("CountLinks after a new epoch = %d, %v, want w's and x's", n, err)
	}
	if l, err := s.LinkOf(ctx, "w"); err != nil || l.ID != (psi.LinkID{14, 2}) || l.Epoch != 2 {
		t.Fatalf("w's link in the new epoch: %+v, %v", l, err)
	}
	taken := []store.Link{{AccountID: "y", ID: psi.LinkID{14, 2}, Epoch: 2, CreatedAt: made}}
	wantErr(t, "PutLinks of an id held", s.PutLinks(ctx, taken, 0), storeerr.ErrConflict)
	noErr(t, "PutLinks over a link held", s.PutLinks(ctx, []store.Link{{AccountID: "w", ID: psi.LinkID{15, 2}, Epoch: 2, CreatedAt: made}}, 0))
	if a, err := s.AccountOf(ctx, psi.LinkID{15, 2}); err != nil || a != "w" {
		t.Fatalf("AccountOf w's new id = %q, %v", a, err)
	}
}

// relinked runs Relink for k with links made by mk and returns the
// accounts it asked links of, sorted; each row it hands mk must have its
// account and value (the element it need not read).
func relinked(t *testing.T, s Store, k linkjob.Keep, mk func(linkjob.Row) store.Link) []string {
	t.Helper()
	var ids []string
	noErr(t, "Relink", s.Relink(ctx, k, func(r linkjob.Row) store.Link {
		if r.AccountID == "" || r.Value == (psi.Element{}) {
			t.Errorf("a matched row without its account or value: %+v", r)
		}
		ids = append(ids, r.AccountID)
		return mk(r)
	}))
	slices.Sort(ids)
	return ids
}

// testAudienceReplace: a replace session leaves, after its last batch,
// only the members its batches added or re-added.
func testAudienceReplace(t *testing.T, s Store) {
	put(t, s, account(t, "a"), account(t, "b"), account(t, "c"), account(t, "d"))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	apply := func(b audience.Batch) {
		t.Helper()
		b.AudienceID = "aud"
		_, err := s.ApplyBatch(ctx, b)
		noErr(t, "ApplyBatch", err)
	}
	members := func() []string {
		m, err := s.Members(ctx, "aud")
		noErr(t, "Members", err)
		return m
	}
	apply(audience.Batch{SessionID: "s1", Seq: 1, Add: []string{"a", "b"}, Last: true, At: t0})
	apply(audience.Batch{SessionID: "r", Seq: 1, Add: []string{"b", "c"}, Replace: true, At: t0.Add(time.Hour)})
	if m := members(); !slices.Equal(m, []string{"a", "b", "c"}) {
		t.Fatalf("members before the replacement's last batch: %v", m)
	}
	apply(audience.Batch{SessionID: "r", Seq: 2, Add: []string{"d"}, Replace: true, Last: true, At: t0.Add(2 * time.Hour)})
	if m := members(); !slices.Equal(m, []string{"b", "c", "d"}) {
		t.Fatalf("members after the replacement: %v, want b, c, d", m)
	}
	ss, err := s.Session(ctx, "aud", "r")
	if err != nil || !ss.StartedAt.Equal(t0.Add(time.Hour)) || !ss.Complete {
		t.Fatalf("replace session: %+v, %v", ss, err)
	}
}

// testLinkedMembers: an audience's members with links, with their country
// and consent; accounts by link id, without the opted out and blocking.
func testLinkedMembers(t *testing.T, s Store) {
	a, b, c, d := account(t, "a"), account(t, "b"), account(t, "c"), account(t, "d")
	a.Consents, a.Country = []store.Consent{{Purpose: "ads", Granted: true}}, "DE"
	c.AdOptOut = true
	d.BlockedBusinesses = []string{"acme"}
	put(t, s, a, b, c, d)
	la, lc, ld := store.Link{AccountID: "a", ID: linkID(t), Epoch: 1, CreatedAt: t0}, store.Link{AccountID: "c", ID: linkID(t), Epoch: 1, CreatedAt: t0},
		store.Link{AccountID: "d", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{la, lc, ld}, 0))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Add: []string{"a", "b", "c"}})
	noErr(t, "ApplyBatch", err)
	got, err := s.LinkedMembers(ctx, "aud", "", 10)
	noErr(t, "LinkedMembers", err)
	want := []audience.LinkedMember{{AccountID: "a", Country: "DE", Consent: true, LinkID: la.ID}, {AccountID: "c", Country: "TR", LinkID: lc.ID}}
	if !slices.Equal(got, want) {
		t.Fatalf("LinkedMembers = %+v, want %+v", got, want)
	}
	if got, _ := s.LinkedMembers(ctx, "aud", "a", 10); len(got) != 1 || got[0].AccountID != "c" {
		t.Fatalf("LinkedMembers after a = %+v", got)
	}
	acc, err := s.LinkedAccounts(ctx, []psi.LinkID{ld.ID, lc.ID, la.ID, linkID(t), la.ID}, "acme", "ads")
	noErr(t, "LinkedAccounts", err)
	if len(acc) != 1 || acc[0] != want[0] {
		t.Fatalf("LinkedAccounts = %+v, want only a (c opted out, d blocked acme)", acc)
	}
	if acc, _ := s.LinkedAccounts(ctx, []psi.LinkID{ld.ID}, "globex", "ads"); len(acc) != 1 || acc[0].AccountID != "d" {
		t.Fatalf("LinkedAccounts for globex = %+v", acc)
	}
}

// testAudienceConcurrentBatches: batches of one audience sent at once all
// apply; the same batch sent twice at once applies once.
func testAudienceConcurrentBatches(t *testing.T, s Store) {
	var ids []string
	for i := range 40 {
		a := account(t, fmt.Sprintf("acct-%02d", i))
		put(t, s, a)
		ids = append(ids, a.ID)
	}
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	var wg sync.WaitGroup
	results := make([]audience.BatchResult, 10)
	errs := make([]error, 10)
	for g := range 10 {
		wg.Go(func() {
			// Batches 1-5, each sent twice at once; overlapping accounts.
			seq := int64(g%5 + 1)
			add := ids[(seq-1)*5 : (seq-1)*5+10]
			results[g], errs[g] = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: seq, Add: add, Received: int(seq)})
		})
	}
	wg.Wait()
	applied := map[int64]int{}
	for g := range 10 {
		noErr(t, "concurrent ApplyBatch", errs[g])
		if results[g].Received != g%5+1 {
			t.Fatalf("batch %d answered %+v", g%5+1, results[g])
		}
		if results[g].Applied {
			applied[int64(g%5+1)]++
		}
	}
	for seq := int64(1); seq <= 5; seq++ {
		if applied[seq] != 1 {
			t.Fatalf("batch %d applied %d times", seq, applied[seq])
		}
	}
	m, _ := s.Members(ctx, "aud")
	if !slices.Equal(m, ids[:30]) {
		t.Fatalf("members = %v", m)
	}
	if ss, _ := s.Session(ctx, "aud", "s"); ss.Batches != 5 {
		t.Fatalf("session counted %d batches", ss.Batches)
	}
}

// testSignalEvents holds the webhook's outbox: written with what Receive
// applies when kept, once, in order, gone with the account.
func testSignalEvents(t *testing.T, s Store) {
	put(t, s, account(t, "b"))
	bl := store.Link{AccountID: "b", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{bl}, 0))
	msg := func(kind, id string) signal.Message {
		return signal.Message{Kind: kind, ID: id, LinkID: bl.ID, Type: "scam", Confidence: 0.9, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	receive := func(ms ...signal.Message) {
		t.Helper()
		if _, err := s.Receive(ctx, ms); err != nil {
			t.Fatal(err)
		}
	}
	receive(msg(signal.KindSignal, "quiet")) // no webhook: no event
	s.KeepEvents(true)
	receive(msg(signal.KindSignal, "e1"), msg(signal.KindSignal, "e1"), msg(signal.KindRevoke, "e1"), msg(signal.KindRevoke, "e1"),
		msg(signal.KindRevoke, "e2"), msg(signal.KindSignal, "e2"), msg(signal.KindSignal, "e3"))
	evs, err := s.PendingEvents(ctx, 10)
	noErr(t, "PendingEvents", err)
	var got []string
	for i, e := range evs {
		got = append(got, e.Name+" "+e.Signal.ID)
		if e.Signal.AccountID != "b" || e.Signal.Direction != signal.Inbound || (i > 0 && e.Seq <= evs[i-1].Seq) {
			t.Fatalf("event %d: %+v", i, e)
		}
	}
	if want := []string{"signal.received e1", "signal.revoked e1", "signal.received e3"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	noErr(t, "MarkEventsSent", s.MarkEventsSent(ctx, []int64{evs[0].Seq}))
	noErr(t, "MarkEventsSent twice", s.MarkEventsSent(ctx, []int64{evs[0].Seq}))
	if evs, _ = s.PendingEvents(ctx, 1); len(evs) != 1 || evs[0].Name != signal.EventRevoked {
		t.Fatalf("after one sent: %+v", evs)
	}
	noErr(t, "EraseAccount", s.EraseAccount(ctx, "b"))
	if evs, _ = s.PendingEvents(ctx, 10); len(evs) != 0 {
		t.Fatalf("events of an erased account: %+v", evs)
	}
	s.KeepEvents(false)
}

// testSizeReleases: the content version moves with every batch applied,
// whether it matched anyone or not, and not with a replayed one; people
// are distinct numbers; a release is kept per audience and goes with it.
func testSizeReleases(t *testing.T, s Store) {
	shared := account(t, "b2")
	b := account(t, "b")
	shared.Pseudonyms.IndexE164 = b.Pseudonyms.IndexE164 // one number, two accounts
	put(t, s, account(t, "a"), b, shared, account(t, "c"))
	noErr(t, "CreateAudience", s.CreateAudience(ctx, audience.Audience{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	_, err := s.SizeContent(ctx, "nope")
	wantErr(t, "SizeContent of no audience", err, storeerr.ErrNotFound)
	c0, err := s.SizeContent(ctx, "aud")
	if err != nil || c0.Version != 0 || c0.People != 0 {
		t.Fatalf("SizeContent before any batch = %+v, %v", c0, err)
	}
	_, err = s.LastRelease(ctx, "aud")
	wantErr(t, "LastRelease before any", err, storeerr.ErrNotFound)

	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Add: []string{"a", "b", "b2"}})
	noErr(t, "ApplyBatch", err)
	c1, err := s.SizeContent(ctx, "aud")
	if err != nil || c1.Version == 0 || c1.People != 2 {
		t.Fatalf("SizeContent of a, b and b2 (b's number) = %+v, %v; want 2 people", c1, err)
	}
	// A replay changes nothing, the version included.
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 1, Add: []string{"c"}})
	noErr(t, "ApplyBatch replay", err)
	if c, _ := s.SizeContent(ctx, "aud"); c != c1 {
		t.Fatalf("a replay changed the content: %+v, was %+v", c, c1)
	}
	// A batch that adds no one still moves the version: whether a release
	// is fresh must not tell who matched.
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: "aud", SessionID: "s", Seq: 2, Match: &audience.Match{
		Hash: &directory.HashMatch{Epoch: 1, Convention: phone.ConventionE164, Indexes: []hashindex.Index{{1}}}}})
	noErr(t, "ApplyBatch matching no one", err)
	c2, _ := s.SizeContent(ctx, "aud")
	if c2.Version == c1.Version || c2.People != 2 {
		t.Fatalf("SizeContent after a batch that matched no one = %+v, was %+v", c2, c1)
	}

	r := audience.Release{AudienceID: "aud", Version: c2.Version, Status: audience.StatusReady, Lower: 100, Upper: 130, Epsilon: 100, At: t0}
	noErr(t, "PutRelease", s.PutRelease(ctx, r))
	got, err := s.LastRelease(ctx, "aud")
	if err != nil || got != r {
		t.Fatalf("LastRelease = %+v, %v; want %+v", got, err, r)
	}
	r2 := audience.Release{AudienceID: "aud", Version: c2.Version, Status: audience.StatusTooSmall, Epsilon: 50, At: t0.Add(time.Hour)}
	noErr(t, "PutRelease again", s.PutRelease(ctx, r2))
	if got, _ := s.LastRelease(ctx, "aud"); got != r2 {
		t.Fatalf("LastRelease after a second = %+v; want %+v", got, r2)
	}
	wantErr(t, "PutRelease of no audience", s.PutRelease(ctx, audience.Release{AudienceID: "nope", Status: audience.StatusReady, Epsilon: 1, At: t0}), storeerr.ErrNotFound)
	noErr(t, "DeleteAudience", s.DeleteAudience(ctx, "acme", "aud"))
	_, err = s.LastRelease(ctx, "aud")
	wantErr(t, "LastRelease of a deleted audience", err, storeerr.ErrNotFound)

	// A mirror's version moves when its session is complete, once,
	// however many batches the session took.
	mirror := audience.MirrorID("messenger", "aud_1")
	noErr(t, "CreateAudience mirror", s.CreateAudience(ctx, audience.Audience{ID: mirror, Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
	for seq, add := range [][]string{{"a"}, {"c"}} {
		_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: mirror, SessionID: "x", Seq: int64(seq + 1), Add: add, Replace: true})
		noErr(t, "ApplyBatch mirror", err)
		if c, _ := s.SizeContent(ctx, mirror); c.Version != 0 {
			t.Fatalf("a mirror's version moved before its session was complete: %+v", c)
		}
	}
	_, err = s.ApplyBatch(ctx, audience.Batch{AudienceID: mirror, SessionID: "x", Seq: 3, Last: true, Replace: true})
	noErr(t, "ApplyBatch mirror last", err)
	if c, _ := s.SizeContent(ctx, mirror); c.Version == 0 || c.People != 2 {
		t.Fatalf("a mirror's content after its session = %+v, want a version and 2 people", c)
	}
}

// testStageReblinded: the values a responder re-blinded are counted per
// job as they are staged, a value again only when its batch's staging
// did not hold it; a batch that would pass the most is neither counted
// nor staged; two answers of one batch at once count its values once;
// a job whose staging was not started is ErrNotFound.
func testStageReblinded(t *testing.T, s Store) {
	ctx, el := context.Background(), testElement
	noErr(t, "StartStaging", s.StartStaging(ctx, "j"))
	stage := func(seq int64, most int64, vals ...psi.Element) linkjob.Count {
		t.Helper()
		c, err := s.StageReblinded(ctx, "j", seq, vals, most)
		noErr(t, "StageReblinded", err)
		return c
	}
	if c := stage(1, 10, el(1), el(2), el(2)); c != (linkjob.Count{Before: 0, Fresh: 2, Staged: true}) {
		t.Fatalf("a first batch: %+v", c)
	}
	// The same batch again costs what it did not hold; another batch
	// with the same values costs them again.
	if c := stage(1, 10, el(2), el(3)); c != (linkjob.Count{Before: 2, Fresh: 1, Staged: true}) {
		t.Fatalf("batch 1 again: %+v", c)
	}
	if c := stage(2, 10, el(2), el(4)); c != (linkjob.Count{Before: 3, Fresh: 2, Staged: true}) {
		t.Fatalf("batch 2: %+v", c)
	}
	// Past the most: neither counted nor staged.
	if c := stage(3, 10, el(5), el(6), el(7), el(8), el(9), el(10)); c.Staged || c.Before != 5 || c.Fresh != 6 {
		t.Fatalf("a batch past the most: %+v", c)
	}
	if got, err := theirBatch(ctx, s, "j", 3); err != nil || len(got) != 0 {
		t.Fatalf("a refused batch was staged: %v, %v", got, err)
	}
	if got, err := theirBatch(ctx, s, "j", 1); err != nil || !slices.Equal(got, []psi.Element{el(2), el(3)}) {
		t.Fatalf("batch 1 = %v, %v", got, err)
	}
	// Two answers of batch 4 at once: its values count once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := s.StageReblinded(ctx, "j", 4, []psi.Element{el(11), el(12)}, 10); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c := stage(5, 10); c.Before != 7 {
		t.Fatalf("after batch 4 answered twice at once: %+v, want 7 counted", c)
	}
	if _, err := s.StageReblinded(ctx, "nobody", 1, []psi.Element{el(1)}, 10); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("StageReblinded of a job not started = %v, want ErrNotFound", err)
	}
}

// theirBatch is the other party's values staged for batch seq, by
// position.
func theirBatch(ctx context.Context, s Store, jobID string, seq int64) ([]psi.Element, error) {
	rows, err := s.Pool().Query(ctx, `SELECT value FROM link_staging_theirs WHERE job_id = $1 AND seq = $2 ORDER BY pos`, jobID, seq)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (psi.Element, error) {
		var b []byte
		err := row.Scan(&b)
		return psi.Element(b), err
	})
}

// messageOf is the relay message that carries sg.
func messageOf(sg signal.Signal, kind string) signal.Message {
	return signal.Message{Kind: kind, ID: sg.ID, LinkID: sg.LinkID, Type: sg.Type, Confidence: sg.Confidence,
		CreatedAt: sg.CreatedAt, ExpiresAt: sg.ExpiresAt}
}

// testSignalsFollowLinks holds flags raised here to the links: one
// waiting for its account's link goes into the outbox with the link once
// there is one (not if revoked or expired meanwhile), and one in the
// outbox whose account loses its link waits again, for the next.
func testSignalsFollowLinks(t *testing.T, s Store) {
	put(t, s, account(t, "a"), account(t, "b"), account(t, "c"), account(t, "d"))
	now := time.Now().UTC().Truncate(time.Microsecond)
	flag := func(id, acct string, lid psi.LinkID, exp time.Time) signal.Signal {
		sg := signal.Signal{ID: id, Direction: signal.Outbound, AccountID: acct, LinkID: lid, Type: "spam", Confidence: 0.9,
			Status: "open", CreatedAt: now, ExpiresAt: exp}
		if lid == (psi.LinkID{}) {
			sg.CrossReason = signal.NotLinkedYet
		}
		noErr(t, "CreateSignal", s.CreateSignal(ctx, sg, lid != (psi.LinkID{})))
		return sg
	}
	outbox := func() map[string]psi.LinkID {
		t.Helper()
		ob, err := s.PendingOutbox(ctx, 100)
		noErr(t, "PendingOutbox", err)
		m := map[string]psi.LinkID{}
		for _, e := range ob {
			m[e.Message.ID+"/"+e.Kind] = e.LinkID
		}
		return m
	}
	link := func(acct string) psi.LinkID {
		l := store.Link{AccountID: acct, ID: linkID(t), Epoch: 1, CreatedAt: now}
		noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{l}, 0))
		return l.ID
	}
	flag("wait-a", "a", psi.LinkID{}, now.Add(time.Hour))
	flag("wait-c", "c", psi.LinkID{}, now.Add(time.Hour))
	flag("wait-d", "d", psi.LinkID{}, now.Add(time.Millisecond))
	noErr(t, "SetStatus", s.SetStatus(ctx, "wait-c", "revoked", false))
	if ob := outbox(); len(ob) != 0 {
		t.Fatalf("waiting flags in the outbox: %v", ob)
	}
	time.Sleep(2 * time.Millisecond) // wait-d expires
	la, lc, ld := link("a"), link("c"), link("d")
	_, _ = lc, ld
	if ob := outbox(); len(ob) != 1 || ob["wait-a/signal"] != la {
		t.Fatalf("after the links: outbox %v, want wait-a with a's link", ob)
	}
	for id, want := range map[string]bool{"wait-a": true, "wait-c": false, "wait-d": false} {
		got, err := s.Signal(ctx, id)
		noErr(t, "Signal", err)
		if got.Crosses != want || (got.CrossReason == signal.NotLinkedYet) == want || (want && got.LinkID != la) {
			t.Fatalf("%s: %+v", id, got)
		}
	}

	// A flag in the outbox whose account loses its link waits again,
	// and goes with the account's next link.
	lb := link("b")
	flag("sent-b", "b", lb, now.Add(time.Hour))
	noErr(t, "DeleteLink", s.DeleteLink(ctx, lb))
	if _, in := outbox()["sent-b/signal"]; in {
		t.Fatal("a flag whose account lost its link is still in the outbox")
	}
	if got, _ := s.Signal(ctx, "sent-b"); got.Crosses || got.CrossReason != signal.NotLinkedYet || got.LinkID != (psi.LinkID{}) {
		t.Fatalf("sent-b after its link went: %+v", got)
	}
	lb2 := link("b")
	if got := outbox()["sent-b/signal"]; got != lb2 {
		t.Fatalf("sent-b goes with %v, want the new link %v", got, lb2)
	}
	// A flag relayed takes its account's link as it is stored, whatever
	// link the caller read before; without one, it waits.
	put(t, s, account(t, "e"))
	le := link("e")
	stale := linkID(t)
	flag("taken-e", "e", stale, now.Add(time.Hour))
	if got := outbox()["taken-e/signal"]; got != le {
		t.Fatalf("taken-e goes with %v, want the account's link %v", got, le)
	}
	put(t, s, account(t, "f"))
	flag("none-f", "f", stale, now.Add(time.Hour))
	if got, _ := s.Signal(ctx, "none-f"); got.Crosses || got.CrossReason != signal.NotLinkedYet || got.LinkID != (psi.LinkID{}) {
		t.Fatalf("a relayed flag on an account without a link: %+v", got)
	}
	if _, in := outbox()["none-f/signal"]; in {
		t.Fatal("a flag without a link is in the outbox")
	}
	// A flag revoked before it was sent, whose account then loses its
	// link: neither it nor its revocation goes.
	noErr(t, "SetStatus", s.SetStatus(ctx, "sent-b", "revoked", true))
	if ob := outbox(); len(ob) != 4 {
		t.Fatalf("outbox before the link goes: %v", ob)
	}
	noErr(t, "DeleteLink", s.DeleteLink(ctx, lb2))
	if ob := outbox(); len(ob) != 2 {
		t.Fatalf("outbox after: %v, want wait-a's and taken-e's flags alone", ob)
	}
}

// testSignalsQuarantine holds a type's daily cap on the open queue: past
// it, received signals are kept in quarantine; other types, and a new
// day, are not held to it.
func testSignalsQuarantine(t *testing.T, s Store) {
	put(t, s, account(t, "q"))
	l := store.Link{AccountID: "q", ID: linkID(t), Epoch: 1, CreatedAt: t0}
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{l}, 0))
	day := t0.Truncate(24 * time.Hour)
	msg := func(id, typ string, at time.Time) signal.Message {
		return signal.Message{Kind: signal.KindSignal, ID: id, LinkID: l.ID, Type: typ, Confidence: 0.9, CreatedAt: t0,
			ExpiresAt: t0.Add(48 * time.Hour), ReceivedAt: at, OpenCap: 2, CapSince: at.Truncate(24 * time.Hour)}
	}
	got, err := s.Receive(ctx, []signal.Message{msg("q1", "spam", day.Add(time.Hour)), msg("q2", "spam", day.Add(2*time.Hour)),
		msg("q3", "spam", day.Add(3*time.Hour)), msg("q4", "scam", day.Add(3*time.Hour)), msg("q3", "spam", day.Add(4*time.Hour))})
	noErr(t, "Receive", err)
	if !slices.Equal(got, []signal.Outcome{signal.Applied, signal.Applied, signal.Quarantined, signal.Applied, signal.Duplicate}) {
		t.Fatalf("outcomes %v", got)
	}
	if sg, _ := s.Signal(ctx, "q3"); sg.Status != "quarantined" {
		t.Fatalf("q3: %+v", sg)
	}
	list, _ := s.ListSignals(ctx, signal.Filter{Direction: signal.Inbound, Status: "open", Limit: 10})
	if len(list) != 3 {
		t.Fatalf("the open queue: %+v", list)
	}
	// A decision on a quarantined signal takes it out; the next day has
	// room again.
	noErr(t, "Decide", s.Decide(ctx, "q3", "dismiss", "ana", "part of a flood", day.Add(5*time.Hour)))
	got, err = s.Receive(ctx, []signal.Message{msg("q5", "spam", day.Add(25*time.Hour))})
	noErr(t, "Receive", err)
	if got[0] != signal.Applied {
		t.Fatalf("the next day: %v", got)
	}
	// Relay requests at once do not pass the cap together.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var ms []signal.Message
			for i := range 5 {
				ms = append(ms, msg(fmt.Sprintf("c%d-%d", g, i), "fake_account", day.Add(30*time.Hour)))
			}
			if _, err := s.Receive(ctx, ms); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var open int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM signals WHERE type = 'fake_account' AND status = 'open'`).Scan(&open); err != nil || open != 2 {
		t.Fatalf("%d fake_account signals opened at once, want the cap of 2: %v", open, err)
	}
}

// testSubjectRelay: an objection and an erasure made at one party (a)
// go through its subject outbox to the other (b), which applies each
// once; the acknowledgement completes the receipt; afterwards neither
// side holds the erased account or its link.
func testSubjectRelay(t *testing.T, a, b Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	put(t, a, account(t, "a1"), account(t, "a2"))
	put(t, b, account(t, "b1"), account(t, "b2"))
	l1 := linkID(t)
	noErr(t, "PutLinks a", a.PutLinks(ctx, []store.Link{{AccountID: "a1", ID: l1, Epoch: 1, CreatedAt: t0}}, 0))
	noErr(t, "PutLinks b", b.PutLinks(ctx, []store.Link{{AccountID: "b1", ID: l1, Epoch: 1, CreatedAt: t0}}, 0))
	// At b: a mirror of one of a's audiences and an audience of b's own,
	// b1 in both; a signal from a about b1, decided (its outcome queued),
	// and one of b's own about b1, relayed.
	mirror := audience.MirrorID("a", "aud_a")
	for _, id := range []string{mirror, "aud_b"} {
		noErr(t, "CreateAudience", b.CreateAudience(ctx, audience.Audience{ID: id, Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0}))
		_, err := b.ApplyBatch(ctx, audience.Batch{AudienceID: id, SessionID: "s", Seq: 1, Add: []string{"b1", "b2"}})
		noErr(t, "ApplyBatch", err)
	}
	out, err := b.Receive(ctx, []store.Message{{Kind: store.KindSignal, ID: "in1", LinkID: l1, Type: "spam", Confidence: 0.9,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), ReceivedAt: now}})
	if err != nil || out[0] != store.OutcomeApplied {
		t.Fatalf("Receive: %v, %v", out, err)
	}
	noErr(t, "Decide", b.Decide(ctx, "in1", "disable", "rev", "why", now))
	noErr(t, "CreateSignal", b.CreateSignal(ctx, signal.Signal{ID: "out1", Direction: signal.Outbound, AccountID: "b1", Type: "spam",
		Confidence: 0.9, Status: "open", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, true))

	// An objection at a: relayed for the linked account, not for the other.
	r1, err := a.Object(ctx, store.SubjectRequest{ID: "sr_1", AccountID: "a1", Purpose: "ads", At: now})
	noErr(t, "Object", err)
	r2, err := a.Object(ctx, store.SubjectRequest{ID: "sr_2", AccountID: "a2", Purpose: "ads", At: now})
	noErr(t, "Object", err)
	if !r1.Relayed || r2.Relayed {
		t.Fatalf("relayed: linked %v, unlinked %v", r1.Relayed, r2.Relayed)
	}
	msgs, err := a.PendingSubjects(ctx, 10)
	noErr(t, "PendingSubjects", err)
	if len(msgs) != 1 || msgs[0].ID != "sr_1" || msgs[0].Kind != store.KindObjection || msgs[0].Purpose != "ads" || msgs[0].LinkID != l1 || !msgs[0].At.Equal(now) {
		t.Fatalf("PendingSubjects = %+v", msgs)
	}
	noErr(t, "MarkSubjectsAttempted", a.MarkSubjectsAttempted(ctx, []int64{msgs[0].Seq}))

	// b applies it once: b1 leaves the mirror, not b's own audience, and
	// no later mirror takes it.
	at := now.Add(time.Second)
	acks, err := b.ReceiveSubjects(ctx, msgs, at)
	noErr(t, "ReceiveSubjects", err)
	if len(acks) != 1 || acks[0].Outcome != store.SubjectApplied || !acks[0].At.Equal(at) {
		t.Fatalf("acks = %+v", acks)
	}
	if m, _ := b.Members(ctx, mirror); !slices.Equal(m, []string{"b2"}) {
		t.Fatalf("mirror after the objection: %v", m)
	}
	if m, _ := b.Members(ctx, "aud_b"); !slices.Equal(m, []string{"b1", "b2"}) {
		t.Fatalf("b's own audience after the objection: %v", m)
	}
	if acc, _ := b.LinkedAccounts(ctx, []psi.LinkID{l1}, "acme", "ads"); len(acc) != 0 {
		t.Fatalf("a mirror would take the objector: %+v", acc)
	}
	if acc, _ := b.LinkedAccounts(ctx, []psi.LinkID{l1}, "acme", "safety"); len(acc) != 1 {
		t.Fatalf("the objection to ads holds for another purpose: %+v", acc)
	}
	again, err := b.ReceiveSubjects(ctx, msgs, at.Add(time.Minute))
	if err != nil || again[0].Outcome != store.SubjectDuplicate || !again[0].At.Equal(at) {
		t.Fatalf("the objection again: %+v, %v", again, err)
	}
	h, err := b.HeldFor(ctx, "b1", at)
	noErr(t, "HeldFor", err)
	if len(h.Requests) != 1 || !h.Requests[0].Peer || h.Requests[0].ID != "sr_1" {
		t.Fatalf("b1's receipts: %+v", h.Requests)
	}
	if h.AdOptOut {
		t.Fatal("the other party's objection opted b1 out of b's own ads")
	}
	// Nor does b's next import of b1.
	b1, err := b.Account(ctx, "b1")
	noErr(t, "Account", err)
	b1.BlockedBusinesses, b1.UpdatedAt = []string{"globex"}, at
	put(t, b, b1)
	if h, _ := b.HeldFor(ctx, "b1", at); h.AdOptOut {
		t.Fatal("the other party's objection opted b1 out of b's own ads at b's next import")
	}
	// A request whose id is one of b's own receipts is refused, alone.
	own, err := b.Object(ctx, store.SubjectRequest{ID: "sr_own", AccountID: "b2", Purpose: "safety", At: at})
	noErr(t, "Object", err)
	forged := []store.SubjectMessage{{ID: own.ID, Kind: store.KindErasure, LinkID: l1, At: at}, {ID: "sr_other", Kind: store.KindObjection, Purpose: "ads", LinkID: l1, At: at}}
	acks2, err := b.ReceiveSubjects(ctx, forged, at)
	if err != nil || len(acks2) != 2 || acks2[0].Outcome != store.SubjectRefused || acks2[1].Outcome != store.SubjectApplied {
		t.Fatalf("a request with one of b's own ids: %+v, %v", acks2, err)
	}
	if r, err := b.SubjectRequest(ctx, own.ID); err != nil || r.Peer || r.AccountID != "b2" {
		t.Fatalf("b's own receipt after the forged request: %+v, %v", r, err)
	}
	if _, err := b.LinkOf(ctx, "b1"); err != nil {
		t.Fatalf("the refused erasure dropped b1's link: %v", err)
	}

	// a records the acknowledgement; the outbox is empty.
	rs, err := a.AcknowledgeSubjects(ctx, []int64{msgs[0].Seq}, acks)
	noErr(t, "AcknowledgeSubjects", err)
	if len(rs) != 1 || rs[0].ID != "sr_1" || !rs[0].AcknowledgedAt.Equal(at) || rs[0].PeerOutcome != store.SubjectApplied {
		t.Fatalf("acknowledged = %+v", rs)
	}
	if p, _ := a.PendingSubjects(ctx, 10); len(p) != 0 {
		t.Fatalf("outbox after the acknowledgement: %+v", p)
	}
	if rs, err := a.AcknowledgeSubjects(ctx, []int64{msgs[0].Seq}, acks); err != nil || len(rs) != 0 {
		t.Fatalf("acknowledged twice: %+v, %v", rs, err)
	}

	// An erasure at a: gone there at once, its receipt and the earlier
	// one name no account; the link waits in the outbox alone.
	er, err := a.Erase(ctx, store.SubjectRequest{ID: "sr_3", AccountID: "a1", At: now})
	noErr(t, "Erase", err)
	if er.AccountID != "" || !er.Relayed || er.Kind != store.KindErasure {
		t.Fatalf("erasure receipt = %+v", er)
	}
	wantErr(t, "Erase again", func() error {
		_, err := a.Erase(ctx, store.SubjectRequest{ID: "sr_4", AccountID: "a1", At: now})
		return err
	}(), storeerr.ErrNotFound)
	if r, err := a.SubjectRequest(ctx, "sr_1"); err != nil || r.AccountID != "" || !r.AcknowledgedAt.Equal(at) {
		t.Fatalf("the objection's receipt after the erasure: %+v, %v", r, err)
	}
	wantErr(t, "SubjectRequest sr_4", func() error { _, err := a.SubjectRequest(ctx, "sr_4"); return err }(), storeerr.ErrNotFound)
	msgs, err = a.PendingSubjects(ctx, 10)
	noErr(t, "PendingSubjects", err)
	if len(msgs) != 1 || msgs[0].Kind != store.KindErasure || msgs[0].LinkID != l1 || msgs[0].Purpose != "" {
		t.Fatalf("PendingSubjects = %+v", msgs)
	}
	// b drops its side; an erasure of a link b never had is acknowledged
	// as unlinked.
	other := msgs[0]
	other.ID, other.LinkID = "sr_9", linkID(t)
	acks, err = b.ReceiveSubjects(ctx, []store.SubjectMessage{msgs[0], other}, at)
	noErr(t, "ReceiveSubjects", err)
	if acks[0].Outcome != store.SubjectApplied || acks[1].Outcome != store.SubjectUnlinked {
		t.Fatalf("acks = %+v", acks)
	}
	if _, err := b.LinkOf(ctx, "b1"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("b1's link after the erasure: %v", err)
	}
	wantErr(t, "the erased account's signal", func() error { _, err := b.Signal(ctx, "in1"); return err }(), storeerr.ErrNotFound)
	if l, _ := b.ListSignals(ctx, store.SignalFilter{Direction: signal.Inbound, Limit: 10}); len(l) != 0 {
		t.Fatalf("inbound signals shown after the erasure: %+v", l)
	}
	if sg, err := b.Signal(ctx, "out1"); err != nil || sg.LinkID != (psi.LinkID{}) {
		t.Fatalf("b's own signal on b1: %+v, %v", sg, err)
	}
	if ob, _ := b.PendingOutbox(ctx, 10); len(ob) != 0 {
		t.Fatalf("b's signal outbox after the erasure: %+v", ob)
	}
	if m, _ := b.Members(ctx, mirror); !slices.Equal(m, []string{"b2"}) {
		t.Fatalf("mirror after the erasure: %v", m)
	}
	if m, _ := b.Members(ctx, "aud_b"); !slices.Equal(m, []string{"b1", "b2"}) {
		t.Fatalf("b's own audience after the erasure: %v", m)
	}
	for _, st := range []Store{a, b} {
		var n int
		noErr(t, "counting", st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM links WHERE link_id = $1) + (SELECT count(*) FROM signals WHERE link_id = $1)
			+ (SELECT count(*) FROM subject_outbox WHERE link_id = $1) + (SELECT count(*) FROM subject_requests WHERE account_id = 'a1')`, l1[:]).Scan(&n))
		if st == a {
			n-- // the erasure's own message, until acknowledged
		}
		if n != 0 {
			t.Fatalf("%d rows still name the erased account or its link", n)
		}
	}
}

// testConsentLedger: imports add an entry only when the directory's
// consent changed; an objection withdraws; the latest entry is the
// consent, which matches in the countries that need it honour.
func testConsentLedger(t *testing.T, s Store) {
	a, b := account(t, "a"), account(t, "b")
	a.Consents = []store.Consent{{Purpose: "ads", Granted: true, Notice: "v1"}}
	put(t, s, a, b)
	history := func(want ...string) []store.ConsentEntry {
		t.Helper()
		h, err := s.HeldFor(ctx, "a", t0)
		noErr(t, "HeldFor", err)
		var got []string
		for _, e := range h.Consents {
			got = append(got, fmt.Sprintf("%s %t %s %s", e.Source, e.Granted, e.Notice, e.At.Sub(t0)))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("ledger (latest first) = %q, want %q", got, want)
		}
		return h.Consents
	}
	history("directory true v1 0s")
	// The same again, at a later import, adds nothing.
	a.UpdatedAt = t0.Add(time.Hour)
	put(t, s, a)
	history("directory true v1 0s")
	// An objection withdraws; the unchanged directory does not grant again.
	_, err := s.Object(ctx, store.SubjectRequest{ID: "sr_c", AccountID: "a", Purpose: "ads", At: t0.Add(2 * time.Hour)})
	noErr(t, "Object", err)
	a.UpdatedAt = t0.Add(3 * time.Hour)
	put(t, s, a)
	if h := history("objection false  2h0m0s", "directory true v1 0s"); h[0].RequestID != "sr_c" {
		t.Fatalf("the objection's entry names request %q", h[0].RequestID)
	}
	// A grant dated later (a new notice) is the consent; one dated earlier
	// is history only.
	a.Consents = []store.Consent{{Purpose: "ads", Granted: true, Notice: "v2", At: t0.Add(4 * time.Hour)}}
	put(t, s, a)
	a.Consents = []store.Consent{{Purpose: "ads", Granted: false, Notice: "v0", At: t0.Add(-time.Hour)}}
	put(t, s, a)
	history("directory true v2 4h0m0s", "objection false  2h0m0s", "directory true v1 0s", "directory false v0 -1h0m0s")
	got, err := s.Account(ctx, "a")
	noErr(t, "Account", err)
	if !slices.Equal(got.Consents, []store.Consent{{Purpose: "ads", Granted: true, Notice: "v2", At: t0.Add(4 * time.Hour)}}) {
		t.Fatalf("Account(a).Consents = %+v", got.Consents)
	}
	// Where the purpose needs consent, only granted accounts match; b has
	// no entry.
	match := func(countries []string) []string {
		t.Helper()
		ids, err := s.MatchHashes(ctx, directory.HashMatch{Epoch: 1, Convention: phone.ConventionE164,
			Indexes: []hashindex.Index{a.Pseudonyms.IndexE164, b.Pseudonyms.IndexE164}, Consent: directory.ConsentRule{Purpose: "ads", Countries: countries}})
		noErr(t, "MatchHashes", err)
		slices.Sort(ids)
		return ids
	}
	if got := match(nil); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("no country needs consent: matched %v", got)
	}
	if got := match([]string{"DE", "TR"}); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("TR needs consent: matched %v, want a alone", got)
	}
	if _, err := s.Object(ctx, store.SubjectRequest{ID: "sr_d", AccountID: "a", Purpose: "ads", At: t0.Add(5 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := match([]string{"TR"}); len(got) != 0 {
		t.Fatalf("after a withdrawal, matched %v", got)
	}
	if got := match(nil); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("a withdrawal counts where consent is not needed too: matched %v", got)
	}
	// A withdrawal the directory brings takes the account out of the
	// audiences of its purpose at once, and of no other purpose's.
	c := account(t, "c")
	c.Consents = []store.Consent{{Purpose: "ads", Granted: true}}
	put(t, s, c)
	for _, au := range []audience.Audience{{ID: "ca", Tenant: "acme", Name: "n", Purpose: "ads", CreatedAt: t0},
		{ID: "cs", Tenant: "acme", Name: "n", Purpose: "safety", CreatedAt: t0}} {
		noErr(t, "CreateAudience", s.CreateAudience(ctx, au))
		_, err := s.ApplyBatch(ctx, audience.Batch{AudienceID: au.ID, SessionID: "s", Seq: 1, Add: []string{"b", "c"}})
		noErr(t, "ApplyBatch", err)
	}
	c.Consents[0].Granted, c.UpdatedAt = false, t0.Add(time.Hour)
	put(t, s, c)
	if m, _ := s.Members(ctx, "ca"); !slices.Equal(m, []string{"b"}) {
		t.Fatalf("ads audience after c withdrew: %v", m)
	}
	if m, _ := s.Members(ctx, "cs"); !slices.Equal(m, []string{"b", "c"}) {
		t.Fatalf("safety audience after c withdrew from ads: %v", m)
	}
	// Erasure takes the ledger with the account.
	_, err = s.Erase(ctx, store.SubjectRequest{ID: "sr_e", AccountID: "a", At: t0.Add(6 * time.Hour)})
	noErr(t, "Erase", err)
	var n int
	noErr(t, "count", s.Pool().QueryRow(ctx, `SELECT count(*) FROM consents WHERE account_id = 'a'`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d ledger entries of the erased account remain", n)
	}
}

// testLinkHeld: an account whose link the other party erased during a
// run is not linked again by that run, full or incremental; the first run
// begun after the erasure forgets it.
func testLinkHeld(t *testing.T, s Store) {
	el := testElement
	put(t, s, withLinkElement(t, "a", 1), withLinkElement(t, "b", 2))
	noErr(t, "PutLinks", s.PutLinks(ctx, []store.Link{{AccountID: "a", ID: psi.LinkID{21}, Epoch: 1, CreatedAt: t0},
		{AccountID: "b", ID: psi.LinkID{22}, Epoch: 1, CreatedAt: t0}}, 0))
	stage := func(job string, began time.Time, full bool) linkjob.Keep {
		t.Helper()
		noErr(t, "StageOwn", s.StageOwn(ctx, job, 1, []linkjob.Row{{AccountID: "a", Element: el(1), Value: el(11)},
			{AccountID: "b", Element: el(2), Value: el(12)}}))
		noErr(t, "StageTheirs", s.StageTheirs(ctx, job, 1, []psi.Element{el(11), el(12)}))
		k := linkjob.Keep{JobID: job, Epoch: 1, Full: full, Confirmed: began}
		noErr(t, "StartStaging", s.StartStaging(ctx, job))
		return k
	}
	byValue := func(r linkjob.Row) store.Link {
		return store.Link{AccountID: r.AccountID, ID: psi.LinkID{r.Value[0]}, Epoch: 1, CreatedAt: t0.Add(3 * time.Hour)}
	}
	k := stage("r", t0.Add(30*time.Minute), true)
	// The other party's erasure of a's counterpart arrives mid-run.
	acks, err := s.ReceiveSubjects(ctx, []store.SubjectMessage{{ID: "sr_x", Kind: store.KindErasure, LinkID: psi.LinkID{21}, At: t0.Add(time.Hour)}}, t0.Add(time.Hour))
	if err != nil || len(acks) != 1 || acks[0].Outcome != store.SubjectApplied {
		t.Fatalf("ReceiveSubjects = %+v, %v", acks, err)
	}
	noErr(t, "Keep", s.Keep(ctx, k))
	if got := relinked(t, s, k, byValue); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("the run under way linked %v, want b alone", got)
	}
	if _, err := s.LinkOf(ctx, "a"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("a is linked again by the run that began before the erasure: %v", err)
	}
	// An incremental run begun before the erasure does not link it either.
	ki := stage("i", t0.Add(45*time.Minute), false)
	ki.Base = "r"
	noErr(t, "Keep", s.Keep(ctx, ki))
	var got []string
	noErr(t, "Matched", s.Matched(ctx, ki, 10, func(rows []linkjob.Row) error {
		for _, r := range rows {
			got = append(got, r.AccountID)
		}
		return nil
	}))
	if slices.Contains(got, "a") {
		t.Fatalf("the incremental run under way matched %v", got)
	}
	// A run begun after: the hold is forgotten.
	k = stage("s", t0.Add(2*time.Hour), true)
	noErr(t, "Keep", s.Keep(ctx, k))
	if got := relinked(t, s, k, byValue); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("a run begun after the erasure linked %v", got)
	}
	var n int
	noErr(t, "count", s.Pool().QueryRow(ctx, `SELECT count(*) FROM link_held`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d accounts still held after a run begun after their erasure", n)
	}
}
