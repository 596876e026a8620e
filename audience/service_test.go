package audience_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storeerr"
)

type world struct {
	svc    *audience.Service
	st     *store.Store
	d      *pseudonym.Deriver
	people []synth.Person
	// eligible[i]: person i may be in acme's audiences (not opted out,
	// has not blocked acme).
	eligible []bool
}

// newWorld imports 300 people: every 10th opted out of ads, every 7th has
// blocked acme.
func newWorld(t *testing.T) *world {
	t.Helper()
	r, err := keys.NewRing("social", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: pgtest.Store(t), d: d, people: synth.People(7, 300)}
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,blocked_businesses\n")
	for i, p := range w.people {
		blocked := ""
		if i%7 == 0 {
			blocked = "acme"
		}
		fmt.Fprintf(&b, "acct-%03d,%s,%s,%v,%s\n", i, p.E164, p.Country, i%10 == 0, blocked)
		w.eligible = append(w.eligible, i%10 != 0 && i%7 != 0)
	}
	im := &directory.Importer{Store: w.st, Deriver: d}
	if _, err := im.Import(context.Background(), strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	w.svc = &audience.Service{Store: w.st, Index: d.IndexKey(), Epoch: d.Epoch, Budget: w.st}
	for _, a := range []audience.Audience{{ID: "aud", Tenant: "acme", Name: "n", Purpose: "ads"}, {ID: "theirs", Tenant: "globex", Name: "n", Purpose: "ads"}} {
		if err := w.st.CreateAudience(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// want returns the account ids of people[from:to] that acme may reach.
func (w *world) want(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		if w.eligible[i] {
			out = append(out, fmt.Sprintf("acct-%03d", i))
		}
	}
	return out
}

func TestUploadMatchesAndExcludes(t *testing.T) {
	ctx := context.Background()
	for _, s := range phone.HashSchemas {
		t.Run(string(s), func(t *testing.T) {
			w := newWorld(t)
			data := synth.Hashes(w.people[:200], s)
			// Numbers that are no user's, and three malformed entries.
			data = append(data, synth.Hashes(synth.People(99, 50), s)...)
			data = slices.Insert(data, 5, "not a hash")
			data = slices.Insert(data, 17, strings.Repeat("z", 64))
			data = append(data, "")
			u := audience.Upload{Tenant: "acme", AudienceID: "aud", Schema: string(s), Data: data, SessionID: "s1", BatchSeq: 1}
			res, err := w.svc.Upload(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Received != 253 || res.Invalid != 3 || len(res.InvalidSamples) != 3 || res.InvalidSamples[0].Index != 5 ||
				res.InvalidSamples[1].Index != 17 || res.InvalidSamples[2].Index != 252 || res.Replayed {
				t.Fatalf("result %+v", res)
			}
			for _, sm := range res.InvalidSamples {
				if strings.Contains(sm.Reason, "not a hash") || strings.Contains(sm.Reason, "zzzz") {
					t.Fatalf("a sample repeats its entry: %q", sm.Reason)
				}
			}
			m, _ := w.st.Members(ctx, "aud")
			if !slices.Equal(m, w.want(0, 200)) {
				t.Fatalf("members: %d, want %d", len(m), len(w.want(0, 200)))
			}
			// A retry of the same batch changes nothing and answers the same.
			u.Data = synth.Hashes(w.people[200:], s)
			again, err := w.svc.Upload(ctx, u)
			if err != nil || !again.Replayed || again.Received != 253 || again.Invalid != 3 {
				t.Fatalf("replay: %+v, %v", again, err)
			}
			if m2, _ := w.st.Members(ctx, "aud"); !slices.Equal(m2, m) {
				t.Fatal("a replayed batch changed the members")
			}
			// Removal, as the last batch of another session.
			rm := audience.Upload{Tenant: "acme", AudienceID: "aud", Schema: string(s), Data: synth.Hashes(w.people[:100], s),
				SessionID: "s2", BatchSeq: 1, Last: true, Remove: true}
			if _, err := w.svc.Upload(ctx, rm); err != nil {
				t.Fatal(err)
			}
			if m, _ = w.st.Members(ctx, "aud"); !slices.Equal(m, w.want(100, 200)) {
				t.Fatalf("after removal: %d members, want %d", len(m), len(w.want(100, 200)))
			}
			rm.BatchSeq = 2
			if _, err := w.svc.Upload(ctx, rm); !errors.Is(err, audience.ErrSessionComplete) {
				t.Fatalf("a batch after the last: %v", err)
			}
		})
	}
}

func TestUploadOPRF(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var data []string
	for _, p := range w.people[:150] {
		out, err := w.d.OPRF().FullEvaluate([]byte(p.E164))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, hex.EncodeToString(out))
	}
	data = append(data, strings.Repeat("ab", 63))
	res, err := w.svc.Upload(ctx, audience.Upload{Tenant: "acme", AudienceID: "aud", Schema: audience.SchemaOPRF, Data: data, SessionID: "p", BatchSeq: 1})
	if err != nil || res.Invalid != 1 || res.InvalidSamples[0].Index != 150 {
		t.Fatalf("%+v, %v", res, err)
	}
	if m, _ := w.st.Members(ctx, "aud"); !slices.Equal(m, w.want(0, 150)) {
		t.Fatalf("members: %d, want %d", len(m), len(w.want(0, 150)))
	}
}

var errLimit = errors.New("the limit is reached")

func TestUploadRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	good := audience.Upload{Tenant: "acme", AudienceID: "aud", Schema: string(phone.SchemaSHA256), Data: synth.Hashes(w.people[:3], phone.SchemaSHA256), SessionID: "s", BatchSeq: 1}
	for name, tc := range map[string]struct {
		edit func(u *audience.Upload)
		want error
		msg  string
	}{
		"unknown schema":      {func(u *audience.Upload) { u.Schema = "EMAIL_SHA256" }, audience.ErrBadUpload, "payload.schema"},
		"no session":          {func(u *audience.Upload) { u.SessionID = "" }, audience.ErrBadUpload, "session_id"},
		"batch_seq 0":         {func(u *audience.Upload) { u.BatchSeq = 0 }, audience.ErrBadUpload, "batch_seq"},
		"no data":             {func(u *audience.Upload) { u.Data = nil }, audience.ErrBadUpload, "at least one"},
		"too many":            {func(u *audience.Upload) { u.Data = make([]string, audience.MaxBatch+1) }, audience.ErrBadUpload, "at most 10000"},
		"long session":        {func(u *audience.Upload) { u.SessionID = strings.Repeat("s", 101) }, audience.ErrBadUpload, "session_id"},
		"another tenant's":    {func(u *audience.Upload) { u.AudienceID = "theirs" }, storeerr.ErrNotFound, ""},
		"an unknown audience": {func(u *audience.Upload) { u.AudienceID = "nope" }, storeerr.ErrNotFound, ""},
		"over the limit":      {func(u *audience.Upload) { u.Charge = func(int) error { return errLimit } }, errLimit, ""},
	} {
		u := good
		charged := 0
		u.Charge = func(n int) error { charged += n; return nil }
		tc.edit(&u)
		_, err := w.svc.Upload(ctx, u)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", name, err)
		}
		// Nothing is charged for a batch refused for what it is.
		if charged != 0 {
			t.Errorf("%s: %d entries charged", name, charged)
		}
		var inv *audience.InvalidError
		if errors.Is(err, audience.ErrBadUpload) && (!errors.As(err, &inv) || inv.Details["field"] == nil) {
			t.Errorf("%s: %v does not name its field", name, err)
		}
	}
	for _, id := range []string{"aud", "theirs"} {
		if m, _ := w.st.Members(ctx, id); len(m) != 0 {
			t.Fatalf("a refused upload changed %s", id)
		}
	}
	if _, err := w.st.Session(ctx, "aud", "s"); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatal("a refused upload opened a session")
	}
	// A valid batch is charged its entries, once.
	u := good
	charged := 0
	u.Charge = func(n int) error { charged += n; return nil }
	if _, err := w.svc.Upload(ctx, u); err != nil || charged != len(u.Data) {
		t.Fatalf("charged %d of %d: %v", charged, len(u.Data), err)
	}
}

// Size releases: empty before any batch; a fresh release spends from the
// tenant's budget and is answered again while the content stays; any batch
// (matched or not) makes the next answer fresh; a spent budget repeats the
// last release, stale, or says budget_spent, until the day renews; the
// budget is the tenant's across audiences.
func TestSizeReleases(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	w.svc.Now = func() time.Time { return now }
	p := audience.SizePolicy{PerRelease: 300, PerDay: 1000} // three fresh releases a day
	decided := 0
	allow := func(lower int64) (bool, error) { decided++; return lower >= 100, nil }
	if err := w.st.CreateAudience(ctx, audience.Audience{ID: "aud2", Tenant: "acme", Name: "n", Purpose: "ads"}); err != nil {
		t.Fatal(err)
	}
	size := func(id string) audience.SizeAnswer {
		t.Helper()
		a, err := w.svc.Size(ctx, "acme", id, p, allow)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	seq := int64(0)
	upload := func(id string, people []synth.Person) {
		t.Helper()
		seq++
		_, err := w.svc.Upload(ctx, audience.Upload{Tenant: "acme", AudienceID: id, Schema: string(phone.SchemaSHA256),
			Data: synth.Hashes(people, phone.SchemaSHA256), SessionID: fmt.Sprint("s", seq), BatchSeq: 1})
		if err != nil {
			t.Fatal(err)
		}
	}
	if a := size("aud"); a.Status != audience.StatusEmpty || a.Fresh || a.Remaining != 1000 || decided != 0 {
		t.Fatalf("before any upload: %+v", a)
	}
	if _, err := w.svc.Size(ctx, "globex", "aud", p, allow); !errors.Is(err, storeerr.ErrNotFound) {
		t.Fatalf("another tenant's audience: %v", err)
	}
	upload("aud", w.people[:250])
	first := size("aud")
	if !first.Fresh || first.Status != audience.StatusReady || first.Remaining != 700 || decided != 1 || !first.RenewsAt.Equal(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first release: %+v", first)
	}
	if again := size("aud"); again.Fresh || again.Release != first.Release || again.Remaining != 700 || decided != 1 {
		t.Fatalf("the same content asked again: %+v, want %+v", again, first)
	}
	// A batch of no one's numbers still changes the content's version.
	upload("aud", synth.People(99, 3))
	if second := size("aud"); !second.Fresh || second.Remaining != 400 {
		t.Fatalf("after a batch that matched no one: %+v", second)
	}
	upload("aud2", w.people[:150])
	if a := size("aud2"); !a.Fresh || a.Remaining != 100 {
		t.Fatalf("another audience of the tenant: %+v", a)
	}
	// The budget is spent: the last release again, stale.
	last, _ := w.st.LastRelease(ctx, "aud")
	upload("aud", w.people[:10])
	if a := size("aud"); a.Fresh || !a.Stale || a.Release != last || a.Remaining != 100 {
		t.Fatalf("spent budget: %+v, want the last release %+v", a, last)
	}
	if err := w.st.CreateAudience(ctx, audience.Audience{ID: "aud3", Tenant: "acme", Name: "n", Purpose: "ads"}); err != nil {
		t.Fatal(err)
	}
	upload("aud3", w.people[:150])
	if a := size("aud3"); a.Status != audience.StatusBudgetSpent || !a.Stale || a.Lower != 0 {
		t.Fatalf("spent budget, no release yet: %+v", a)
	}
	// The next day the budget is whole again.
	now = now.Add(24 * time.Hour)
	if a := size("aud"); !a.Fresh || a.Remaining != 700 || a.Version == last.Version {
		t.Fatalf("the next day: %+v", a)
	}
}

// Where the catalogue rests the audience's purpose on consent (the EU
// and the UK for ads), only people whose latest consent is granted match;
// elsewhere, everyone but those who withdrew it.
func TestUploadHonoursConsent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	cat := policies.Default().Catalogue
	// Every third person granted consent, every fifth withdrew it.
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,blocked_businesses,ads_consent,ads_consent_notice\n")
	var want []string
	for i, p := range w.people {
		c := ""
		switch {
		case i%3 == 0:
			c = "granted"
		case i%5 == 0:
			c = "withdrawn"
		}
		blocked := ""
		if i%7 == 0 {
			blocked = "acme"
		}
		fmt.Fprintf(&b, "acct-%03d,%s,%s,%v,%s,%s,%s\n", i, p.E164, p.Country, i%10 == 0, blocked, c, map[bool]string{true: "v2"}[c != ""])
		if w.eligible[i] && (c == "granted" || c == "" && !cat.NeedsConsent("ads", p.Country)) {
			want = append(want, fmt.Sprintf("acct-%03d", i))
		}
	}
	im := &directory.Importer{Store: w.st, Deriver: w.d}
	if _, err := im.Import(ctx, strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	needs := 0
	for _, p := range w.people {
		if cat.NeedsConsent("ads", p.Country) {
			needs++
		}
	}
	if needs == 0 || needs == len(w.people) {
		t.Fatalf("%d of %d people live where ads need consent: the test proves nothing", needs, len(w.people))
	}
	u := audience.Upload{Tenant: "acme", AudienceID: "aud", Schema: string(phone.SchemaE164SHA256), Data: synth.Hashes(w.people, phone.SchemaE164SHA256),
		SessionID: "s1", BatchSeq: 1, Last: true, Catalogue: cat}
	if _, err := w.svc.Upload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if m, _ := w.st.Members(ctx, "aud"); !slices.Equal(m, want) {
		t.Fatalf("members: %d, want %d", len(m), len(want))
	}
}
