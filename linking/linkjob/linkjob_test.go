package linkjob_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
)

// partyStore is everything a party's linking uses.
type partyStore interface {
	directory.Store
	linkjob.Links
	linkjob.Staging
	linkjob.Jobs
	access.Usage
}

// side is one party with its directory in a store.
type side struct {
	st partyStore
	p  *linkjob.Party
	d  *pseudonym.Deriver
}

// newSide is a party on a store of its own with people in its directory.
func newSide(t testing.TB, name string, people []synth.Person, batch int) *side {
	t.Helper()
	return newSideOn(t, pgtest.Store(t), name, people, batch)
}

func newSideOn(t testing.TB, st partyStore, name string, people []synth.Person, batch int) *side {
	t.Helper()
	r, err := keys.NewRing(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out\n")
	for _, p := range people {
		fmt.Fprintf(&b, "%s-%s,%s,%s,false\n", name, p.E164[1:], p.E164, p.Country)
	}
	im := &directory.Importer{Store: st, Deriver: d}
	if _, err := im.Import(context.Background(), strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
	return &side{st: st, d: d, p: &linkjob.Party{Directory: st, Links: st, Staging: st, Jobs: st, Key: d.LinkKey(), KeyEpoch: d.Epoch, BatchSize: batch, Usage: st}}
}

// world makes two directories sharing overlap of n people each.
func world(t *testing.T, n int, overlap float64, batch int) (a, b *side, common map[string]bool) {
	t.Helper()
	k := int(float64(n) * overlap)
	people := synth.People(uint64(n)*7+uint64(k), 2*n-k)
	a = newSide(t, "social", people[:n], batch)
	b = newSide(t, "messenger", people[n-k:], batch)
	common = map[string]bool{}
	for _, p := range people[n-k : n] {
		common[p.E164[1:]] = true
	}
	return a, b, common
}

// links returns the link id of each linked number, by the number's digits
// (the test knows them from the account ids).
func (s *side) links(t *testing.T, name string, people map[string]bool, all []string) map[string]psi.LinkID {
	t.Helper()
	out := map[string]psi.LinkID{}
	for _, digits := range all {
		l, err := s.st.LinkOf(context.Background(), name+"-"+digits)
		if err == nil {
			out[digits] = l.ID
		}
	}
	return out
}

func check(t *testing.T, a, b *side, common map[string]bool, res linkjob.Result, n int) {
	t.Helper()
	var all []string
	for _, id := range allIDs(a) {
		all = append(all, strings.TrimPrefix(id, "social-"))
	}
	for _, id := range allIDs(b) {
		all = append(all, strings.TrimPrefix(id, "messenger-"))
	}
	la, lb := a.links(t, "social", common, all), b.links(t, "messenger", common, all)
	if len(la) != len(common) || len(lb) != len(common) || res.Matched != int64(len(common)) {
		t.Fatalf("links: %d and %d, matched %d, want %d", len(la), len(lb), res.Matched, len(common))
	}
	for d := range common {
		if la[d] == (psi.LinkID{}) || la[d] != lb[d] {
			t.Fatalf("the two parties do not agree on a common person's link id")
		}
	}
	if res.OwnSize != int64(n) || res.PeerSize != int64(n) {
		t.Fatalf("sizes %+v, want %d each", res, n)
	}
}

func allIDs(s *side) []string {
	var out []string
	after := ""
	for {
		els, _ := s.st.LinkElements(context.Background(), 1, after, 1000)
		if len(els) == 0 {
			return out
		}
		for _, e := range els {
			out = append(out, e.AccountID)
		}
		after = els[len(els)-1].AccountID
	}
}

func TestLinksAreTheIntersection(t *testing.T) {
	for _, overlap := range []float64{0, 0.01, 0.5, 1} {
		t.Run(fmt.Sprint(overlap), func(t *testing.T) {
			const n = 300
			a, b, common := world(t, n, overlap, 64)
			res, err := a.p.Run(context.Background(), linkjob.Responder{P: b.p}, "job-1", 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, n)
			// Run again: the same links.
			before := a.links(t, "social", common, keysOf(common))
			res, err = a.p.Run(context.Background(), linkjob.Responder{P: b.p}, "job-2", 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, n)
			after := a.links(t, "social", common, keysOf(common))
			for d := range before {
				if before[d] != after[d] {
					t.Fatal("a second run changed a link id")
				}
			}
		})
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// flaky is a peer that fails once after a given number of calls, as if
// either process were killed there.
type flaky struct {
	linkjob.Peer
	mu            sync.Mutex
	calls, failAt int
	fired         bool
}

var errKilled = errors.New("killed")

func (f *flaky) tick() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls == f.failAt && !f.fired {
		f.fired = true
		return errKilled
	}
	return nil
}

func (f *flaky) Open(ctx context.Context, o linkjob.Open) (linkjob.Opened, error) {
	if err := f.tick(); err != nil {
		return linkjob.Opened{}, err
	}
	return f.Peer.Open(ctx, o)
}

func (f *flaky) Reblind(ctx context.Context, j string, seq int64, e []psi.Element) ([]psi.Element, error) {
	if err := f.tick(); err != nil {
		return nil, err
	}
	out, err := f.Peer.Reblind(ctx, j, seq, e)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.calls == f.failAt-1 && f.failAt%2 == 0 && !f.fired {
		f.fired = true
		return nil, errKilled // applied by the peer, the answer lost
	}
	return out, err
}

func (f *flaky) Elements(ctx context.Context, j string, seq int64) ([]psi.Element, bool, error) {
	if err := f.tick(); err != nil {
		return nil, false, err
	}
	return f.Peer.Elements(ctx, j, seq)
}

func (f *flaky) Reblinded(ctx context.Context, j string, seq int64, v []psi.Element) error {
	if err := f.tick(); err != nil {
		return err
	}
	return f.Peer.Reblinded(ctx, j, seq, v)
}

func (f *flaky) Finish(ctx context.Context, j string) (linkjob.Result, error) {
	if err := f.tick(); err != nil {
		return linkjob.Result{}, err
	}
	return f.Peer.Finish(ctx, j)
}

// A job stopped at a random point and run again ends with the links of an
// uninterrupted run, 20 times.
func TestInterruptedRunsResume(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		failAt := 1 + r.IntN(20)
		t.Run(fmt.Sprintf("run %d, stopped at call %d", i, failAt), func(t *testing.T) {
			t.Parallel()
			a, b, common := world(t, 200, 0.5, 32)
			f := &flaky{Peer: linkjob.Responder{P: b.p}, failAt: failAt}
			job := fmt.Sprintf("job-%d", i)
			_, err := a.p.Run(context.Background(), f, job, 1)
			if err == nil && f.fired {
				t.Fatal("the failure was not reported")
			}
			res, err := a.p.Run(context.Background(), f, job, 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, 200)
		})
	}
}

func TestMalformedPeerMessages(t *testing.T) {
	ctx := context.Background()
	_, b, _ := world(t, 50, 0.5, 16)
	resp := linkjob.Responder{P: b.p}
	if _, err := resp.Open(ctx, linkjob.Open{JobID: "j", Epoch: 1, Group: psi.Group, Size: 50, BatchSize: 16}); err != nil {
		t.Fatal(err)
	}
	var identity psi.Element
	bad := psi.Element{}
	for i := range bad {
		bad[i] = 0xff
	}
	ge := psi.HashToGroup([]byte("x"))
	for name, err := range map[string]error{
		"identity element":       errOf(resp.Reblind(ctx, "j", 1, []psi.Element{ge, identity})),
		"non-canonical element":  errOf(resp.Reblind(ctx, "j", 1, []psi.Element{bad})),
		"too many elements":      errOf(resp.Reblind(ctx, "j", 1, make([]psi.Element, 17))),
		"batch 0":                errOf(resp.Reblind(ctx, "j", 0, []psi.Element{ge})),
		"another job":            errOf(resp.Reblind(ctx, "other", 1, []psi.Element{ge})),
		"out of order":           errOf2(resp.Elements(ctx, "j", 3)),
		"unserved values":        resp.Reblinded(ctx, "j", 2, []psi.Element{ge}),
		"reopen with other size": errOf(resp.Open(ctx, linkjob.Open{JobID: "j", Epoch: 1, Group: psi.Group, Size: 51, BatchSize: 16})),
		"identity retired": errOf(resp.Open(ctx, linkjob.Open{JobID: "r1", Epoch: 1, Group: psi.Group, Size: 50, BatchSize: 16, Base: "b",
			Retired: linkjob.EncodeElements([]psi.Element{identity})})),
		"non-canonical retired": errOf(resp.Open(ctx, linkjob.Open{JobID: "r2", Epoch: 1, Group: psi.Group, Size: 50, BatchSize: 16, Base: "b",
			Retired: linkjob.EncodeElements([]psi.Element{bad})})),
		"retired not base64": errOf(resp.Open(ctx, linkjob.Open{JobID: "r3", Epoch: 1, Group: psi.Group, Size: 50, BatchSize: 16, Base: "b",
			Retired: []string{"!"}})),
		"too many retired": errOf(resp.Open(ctx, linkjob.Open{JobID: "r4", Epoch: 1, Group: psi.Group, Size: 50, BatchSize: 16, Base: "b",
			Retired: linkjob.EncodeElements(make([]psi.Element, linkjob.MaxRetired+1))})),
	} {
		if !errors.Is(err, linkjob.ErrProtocol) {
			t.Errorf("%s: %v, want a protocol error", name, err)
		}
	}
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		if _, err := b.st.Job(ctx, id); err == nil {
			t.Fatalf("a refused open left job %s behind", id)
		}
	}
	els, _, err := resp.Elements(ctx, "j", 1)
	if err != nil || len(els) != 16 {
		t.Fatalf("batch 1: %d, %v", len(els), err)
	}
	again, _, _ := resp.Elements(ctx, "j", 1)
	for i := range els {
		if els[i] != again[i] {
			t.Fatal("a retried batch came back in another order")
		}
	}
	if err := resp.Reblinded(ctx, "j", 1, els[:15]); !errors.Is(err, linkjob.ErrProtocol) {
		t.Fatalf("a short answer: %v", err)
	}
	if err := resp.Reblinded(ctx, "j", 1, append(els[:15:15], identity)); !errors.Is(err, linkjob.ErrProtocol) {
		t.Fatalf("an identity value: %v", err)
	}
}

// spoiling is a peer that answers one batch with a value that is not a
// point of the group.
type spoiling struct {
	linkjob.Peer
	at  int64
	bad psi.Element
}

func (s *spoiling) Reblind(ctx context.Context, j string, seq int64, e []psi.Element) ([]psi.Element, error) {
	out, err := s.Peer.Reblind(ctx, j, seq, e)
	if err == nil && seq == s.at && len(out) > 3 {
		out[3] = s.bad
	}
	return out, err
}

// The values the peer returns are checked like everything else it sends:
// an identity or an encoding of no point refuses the run, and nothing of
// the batch is kept (the job run again against the honest peer links
// exactly the common people).
func TestMalformedPeerValues(t *testing.T) {
	ctx := context.Background()
	var bad psi.Element
	for i := range bad {
		bad[i] = 0xff
	}
	for name, el := range map[string]psi.Element{"identity": {}, "not a point": bad} {
		t.Run(name, func(t *testing.T) {
			a, b, common := world(t, 100, 0.5, 16)
			honest := linkjob.Responder{P: b.p}
			_, err := a.p.Run(ctx, &spoiling{Peer: honest, at: 2, bad: el}, "j", 1)
			if !errors.Is(err, linkjob.ErrProtocol) {
				t.Fatalf("a spoiled value: %v, want a protocol error", err)
			}
			if n, _ := a.st.CountLinks(ctx); n != 0 {
				t.Fatalf("%d links after a refused run", n)
			}
			res, err := a.p.Run(ctx, honest, "j", 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, 100)
		})
	}
}

func errOf[T any](_ T, err error) error { return err }

func errOf2[T, U any](_ T, _ U, err error) error { return err }

// A larger run, stopped once at several points and resumed.
func TestLargerRunsResume(t *testing.T) {
	for _, failAt := range []int{0, 5, 12} {
		t.Run(fmt.Sprintf("stopped at call %d", failAt), func(t *testing.T) {
			a, b, common := world(t, 1000, 0.3, 128)
			f := &flaky{Peer: linkjob.Responder{P: b.p}, failAt: failAt}
			if _, err := a.p.Run(context.Background(), f, "pg-job", 1); err != nil && !errors.Is(err, errKilled) {
				t.Fatal(err)
			}
			res, err := a.p.Run(context.Background(), f, "pg-job", 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, 1000)
		})
	}
}

// A crash of PostgreSQL empties a run's staging (it is unlogged): the
// run, resumed, is refused by the party that lost it, whichever it is,
// and links nothing; a new run links as an uninterrupted one does.
func TestStagingLostInACrash(t *testing.T) {
	ctx := context.Background()
	for _, lost := range []string{"initiator", "responder"} {
		t.Run(lost, func(t *testing.T) {
			a, b, common := world(t, 300, 0.5, 32)
			f := &flaky{Peer: linkjob.Responder{P: b.p}, failAt: 8}
			if _, err := a.p.Run(ctx, f, "crashed", 1); !errors.Is(err, errKilled) {
				t.Fatalf("first attempt: %v, want it stopped", err)
			}
			crashed := a
			if lost == "responder" {
				crashed = b
			}
			pgtest.Crash(t, crashed.st.(*store.Store).Pool())
			_, err := a.p.Run(ctx, f, "crashed", 1)
			if !errors.Is(err, linkjob.ErrLost) || !strings.Contains(err.Error(), "job crashed") {
				t.Fatalf("resumed after the %s's crash: %v, want ErrLost naming the job", lost, err)
			}
			for _, s := range []*side{a, b} {
				if n, err := s.st.CountLinks(ctx); err != nil || n != 0 {
					t.Fatalf("links after the refused run: %d, %v", n, err)
				}
			}
			res, err := a.p.Run(ctx, f, "afresh", 1)
			if err != nil {
				t.Fatal(err)
			}
			check(t, a, b, common, res, 300)
		})
	}
}

// A number that left one directory loses its link on both sides at the
// next run.
func TestLeavingLosesTheLinkOnBothSides(t *testing.T) {
	ctx := context.Background()
	a, b, common := world(t, 100, 0.5, 16)
	if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "first", 1); err != nil {
		t.Fatal(err)
	}
	var gone string
	for d := range common {
		gone = d
		break
	}
	if err := b.st.EraseAccount(ctx, "messenger-"+gone); err != nil {
		t.Fatal(err)
	}
	delete(common, gone)
	res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "second", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Matched != int64(len(common)) {
		t.Fatalf("matched %d, want %d", res.Matched, len(common))
	}
	if _, err := a.st.LinkOf(ctx, "social-"+gone); err == nil {
		t.Fatal("the party that kept the number kept its link")
	}
	for _, s := range []*side{a, b} {
		if n, _ := s.st.CountLinks(ctx); n != int64(len(common)) {
			t.Fatalf("%d links, want %d", n, len(common))
		}
	}
}

// directory is what a test knows of one side: each account's number.
type directory_ map[string]string

// put imports accounts with their numbers (international, with the
// record's country) into the side's directory.
func (s *side) put(t *testing.T, accounts map[string]string, country map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out\n")
	for id, e164 := range accounts {
		fmt.Fprintf(&b, "%s,%s,%s,false\n", id, e164, country[e164])
	}
	im := &directory.Importer{Store: s.st, Deriver: s.d}
	if _, err := im.Import(context.Background(), strings.NewReader(b.String()), func(re *directory.RowError) { t.Fatal(re) }); err != nil {
		t.Fatal(err)
	}
}

// linksOf returns each linked account's link id.
func linksOf(t *testing.T, s *side, d directory_) map[string]psi.LinkID {
	t.Helper()
	out := map[string]psi.LinkID{}
	for id := range d {
		l, err := s.st.LinkOf(context.Background(), id)
		if err == nil {
			out[id] = l.ID
		}
	}
	return out
}

// checkTruth checks that the links are the intersection of the two
// directories' numbers, with one id per common number on both sides; a
// number held by more than one account on either side links none.
func checkTruth(t *testing.T, a, b *side, da, db directory_) map[string]psi.LinkID {
	t.Helper()
	byNumber := map[string]string{}
	for id, n := range db {
		byNumber[n] = id
	}
	ha, hb := holders(da), holders(db)
	la, lb := linksOf(t, a, da), linksOf(t, b, db)
	common := 0
	for id, n := range da {
		other := byNumber[n]
		if ha[n] != 1 || hb[n] != 1 {
			if _, linked := la[id]; linked {
				t.Fatalf("%s has a link, with its number held by %d accounts of its side and %d of the other", id, ha[n], hb[n])
			}
			continue
		}
		common++
		if la[id] == (psi.LinkID{}) || la[id] != lb[other] {
			t.Fatalf("%s and %s share a number: links %x and %x", id, other, la[id], lb[other])
		}
	}
	if len(la) != common || len(lb) != common {
		t.Fatalf("links: %d and %d, want %d", len(la), len(lb), common)
	}
	return la
}

// holders counts the accounts of d that hold each number.
func holders(d directory_) map[string]int {
	m := map[string]int{}
	for _, n := range d {
		m[n]++
	}
	return m
}

// testIncremental changes both directories at random over several runs
// (new accounts, changed numbers, erasures, some of them making or
// breaking matches, some giving a number to a second account of the same
// side or taking it from one), each run built on the last, one of them interrupted
// and resumed, and checks after each that the links are the intersection
// and that only the changed accounts were sent; a full run at the end
// gives the same link ids.
func testIncremental(t *testing.T, n int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(n), 9))
	pool := synth.People(uint64(n)*13, 20*n)
	country := countries(pool)
	next := 0
	fresh := func() string { next++; return pool[next-1].E164 }
	a, b := newSide(t, "social", nil, 16), newSide(t, "messenger", nil, 16)
	da, db := directory_{}, directory_{}
	for i := range n {
		da[fmt.Sprintf("s-%04d", i)] = fresh()
	}
	for i := range n {
		if i < n/2 {
			db[fmt.Sprintf("m-%04d", i)] = da[fmt.Sprintf("s-%04d", i)]
		} else {
			db[fmt.Sprintf("m-%04d", i)] = fresh()
		}
	}
	a.put(t, da, country)
	b.put(t, db, country)
	res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "first", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Incremental || res.Sent != int64(n) {
		t.Fatalf("the first run: %+v, want a full run sending %d", res, n)
	}
	checkTruth(t, a, b, da, db)
	used := func(d directory_, number string) bool {
		for _, m := range d {
			if m == number {
				return true
			}
		}
		return false
	}
	// change makes k changes to one side and returns how many accounts
	// it will send (new or changed, still there).
	change := func(s *side, d, other directory_, prefix string, k int) int {
		ids := slices.Sorted(maps.Keys(d))
		put := map[string]string{}
		for range k {
			number := fresh()
			switch r.IntN(4) {
			case 0, 1: // one of the other side's numbers
				for _, m := range other {
					if !used(d, m) {
						number = m
						break
					}
				}
			case 2: // a number this side holds: two accounts, one number
				if m := d[ids[r.IntN(len(ids))]]; m != "" {
					number = m
				}
			}
			switch r.IntN(3) {
			case 0: // a new account
				id := fmt.Sprintf("%s-%04d", prefix, len(pool)+next)
				d[id], put[id] = number, number
			case 1: // a changed number
				id := ids[r.IntN(len(ids))]
				if m, ok := d[id]; ok && m != number {
					d[id], put[id] = number, number
				}
			case 2: // an erasure
				id := ids[r.IntN(len(ids))]
				if _, ok := d[id]; ok {
					if err := s.st.EraseAccount(ctx, id); err != nil {
						t.Fatal(err)
					}
					delete(d, id)
					delete(put, id)
				}
			}
		}
		s.put(t, put, country)
		return len(put)
	}
	for round := range 4 {
		sentA := change(a, da, db, "s", n/10)
		sentB := change(b, db, da, "m", n/10)
		var peer linkjob.Peer = linkjob.Responder{P: b.p}
		job := fmt.Sprintf("inc-%d", round)
		if round == 2 {
			f := &flaky{Peer: peer, failAt: 2 + r.IntN(4)}
			if _, err := a.p.Run(ctx, f, job, 1); err == nil && f.fired {
				t.Fatal("the failure was not reported")
			}
			peer = f
		}
		res, err := a.p.Run(ctx, peer, job, 1)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if !res.Incremental || res.Sent != int64(sentA) || res.Received != int64(sentB) {
			t.Fatalf("round %d: %+v, want an incremental run sending %d and receiving %d", round, res, sentA, sentB)
		}
		if res.OwnSize != int64(len(da)) || res.PeerSize != int64(len(db)) {
			t.Fatalf("round %d: sizes %+v, want %d and %d", round, res, len(da), len(db))
		}
		checkTruth(t, a, b, da, db)
	}
	before := checkTruth(t, a, b, da, db)
	res, err = a.p.RunFull(ctx, linkjob.Responder{P: b.p}, "full", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Incremental || res.Sent != int64(len(da)) {
		t.Fatalf("the full run: %+v", res)
	}
	if after := checkTruth(t, a, b, da, db); !maps.Equal(before, after) {
		t.Fatal("a full run gave other links than the incremental runs before it")
	}
	// Nothing changed: a run sends nothing.
	if res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "idle", 1); err != nil || !res.Incremental || res.Sent != 0 || res.Received != 0 {
		t.Fatalf("a run with nothing changed: %+v, %v", res, err)
	}
}

func TestIncrementalRunsEqualFullRuns(t *testing.T) { testIncremental(t, 200) }

// A run builds on the last only if both parties kept the same one.
func TestIncrementalNeedsTheSameKeptRun(t *testing.T) {
	ctx := context.Background()
	a, b, common := world(t, 100, 0.5, 16)
	c, _, _ := world(t, 100, 0.5, 16)
	if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "ab", 1); err != nil {
		t.Fatal(err)
	}
	// c linked with b since: b keeps another run than a.
	if _, err := c.p.Run(ctx, linkjob.Responder{P: b.p}, "cb", 1); err != nil {
		t.Fatal(err)
	}
	res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "ab-2", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Incremental || res.Sent != 100 {
		t.Fatalf("%+v, want a full run", res)
	}
	check(t, a, b, common, res, 100)
	// An incremental job stopped before its end, then another run done:
	// the stopped job is superseded on both sides, its staging gone;
	// resumed, it is refused, and changes nothing.
	extra := map[string]string{"social-extra": synth.People(77, 1)[0].E164}
	a.put(t, extra, map[string]string{extra["social-extra"]: synth.People(77, 1)[0].Country})
	f := &flaky{Peer: linkjob.Responder{P: b.p}, failAt: 3}
	if _, err := a.p.Run(ctx, f, "stopped", 1); !errors.Is(err, errKilled) {
		t.Fatalf("the stopped run: %v", err)
	}
	if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "later", 1); err != nil {
		t.Fatal(err)
	}
	before, _ := a.st.CountLinks(ctx)
	for _, s := range []*side{a, b} {
		if rows, _ := s.st.OwnBatch(ctx, "stopped", 1); len(rows) != 0 {
			t.Fatal("the superseded job's staging was left")
		}
		if j, err := s.st.Job(ctx, "stopped"); err != nil || j.State != store.JobSuperseded {
			t.Fatalf("the stopped job after a later run: %s, %v, want superseded", j.State, err)
		}
	}
	if _, err := a.p.Run(ctx, f, "stopped", 1); !errors.Is(err, linkjob.ErrSuperseded) {
		t.Fatalf("resuming a job older than the last kept run: %v", err)
	}
	if after, _ := a.st.CountLinks(ctx); after != before {
		t.Fatalf("the superseded job changed the links: %d, then %d", before, after)
	}
	if j, _ := a.st.Job(ctx, "stopped"); j.State != store.JobSuperseded {
		t.Fatalf("the superseded job, resumed, is %s", j.State)
	}
	// Another link epoch: full.
	if res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "ab-3", 2); err != nil || res.Incremental {
		t.Fatalf("a new epoch: %+v, %v", res, err)
	}
}

// On a database whose collation does not order account ids byte by byte
// (ICU's English here, which sets case and punctuation aside), each batch
// still starts where the one before ended in the store's own order: no
// account is skipped or sent twice, and the links are the intersection.
func TestLinkUnderAnotherCollation(t *testing.T) {
	collated := func() partyStore {
		st := pgtest.Store(t)
		for _, q := range []string{
			`ALTER TABLE accounts ALTER COLUMN id TYPE text COLLATE "en-x-icu"`,
			`ALTER TABLE link_staging_own ALTER COLUMN account_id TYPE text COLLATE "en-x-icu"`,
		} {
			if _, err := st.Pool().Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return st
	}
	pool := synth.People(41, 90)
	country := countries(pool)
	// Ids whose byte order and English order differ: "A-1" < "a-1" <
	// "a1" < "a_1" < "ab1" by bytes, not so in English.
	forms := []string{"a-%d", "A-%d", "a%d", "a_%d", "ab%d", "Ab-%d"}
	da, db := directory_{}, directory_{}
	for i := range 60 {
		da[fmt.Sprintf(forms[i%len(forms)], i)] = pool[i].E164
		db[fmt.Sprintf(forms[(i+1)%len(forms)], i)] = pool[30+i].E164
	}
	a, b := newSideOn(t, collated(), "social", nil, 4), newSideOn(t, collated(), "messenger", nil, 4)
	a.put(t, da, country)
	b.put(t, db, country)
	res, err := a.p.Run(context.Background(), linkjob.Responder{P: b.p}, "collated", 1)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 60 || res.Received != 60 {
		t.Fatalf("sent %d and received %d, want 60 each", res.Sent, res.Received)
	}
	checkTruth(t, a, b, da, db)
}

// countries is each person's country, by number.
func countries(people []synth.Person) map[string]string {
	m := map[string]string{}
	for _, p := range people {
		m[p.E164] = p.Country
	}
	return m
}

// pair makes two parties in batches of 8 holding the same 40 numbers (of
// n people made from seed), the initiator's ids aStep apart ("a000",
// ...), the responder's bStep apart ("b000", ...); it returns the
// parties, their directories, the people and their countries.
func pair(t *testing.T, seed uint64, n, aStep, bStep int) (a, b *side, da, db directory_, people []synth.Person, country map[string]string) {
	t.Helper()
	people = synth.People(seed, n)
	country = countries(people)
	da, db = directory_{}, directory_{}
	for i := range 40 {
		da[fmt.Sprintf("a%03d", aStep*i)] = people[i].E164
		db[fmt.Sprintf("b%03d", bStep*i)] = people[i].E164
	}
	a, b = newSide(t, "social", nil, 8), newSide(t, "messenger", nil, 8)
	a.put(t, da, country)
	b.put(t, db, country)
	return a, b, da, db, people, country
}

// holdBack is a peer whose re-blinding of batch 2 fails once, as if the
// process were killed, but only after batch until came back: the
// initiator is stopped with later batches re-blinded by the peer and an
// earlier one not.
type holdBack struct {
	linkjob.Peer
	until    int64
	released chan struct{}
	once     sync.Once
	fired    bool
}

func (h *holdBack) Reblind(ctx context.Context, j string, seq int64, e []psi.Element) ([]psi.Element, error) {
	if seq == 2 && !h.fired {
		<-h.released
		h.fired = true
		return nil, errKilled
	}
	out, err := h.Peer.Reblind(ctx, j, seq, e)
	if seq == h.until {
		h.once.Do(func() { close(h.released) })
	}
	return out, err
}

// A job stopped with batch 2 not back and later ones re-blinded by the
// peer, resumed after the directory changed (an account of batch 2
// erased, new ones imported among batch 2's, or the last 17 accounts
// erased), sends the batches the stopped attempt staged (all five: the
// run reads ahead) again as they were, so that the peer re-blinds
// nothing new; the result says accounts changed when some did, and the
// next run links exactly the intersection, the same on both sides.
func TestResumeAfterTheDirectoryChanged(t *testing.T) {
	for _, c := range []struct {
		name  string
		until int64
	}{{"erased", 3}, {"imported", 3}, {"erased at the end", 4}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			a, b, da, db, people, country := pair(t, 5, 60, 10, 1)
			h := &holdBack{Peer: linkjob.Responder{P: b.p}, until: c.until, released: make(chan struct{})}
			if _, err := a.p.Run(ctx, h, "resumed", 1); !errors.Is(err, errKilled) {
				t.Fatalf("the stopped run: %v", err)
			}
			// Batch 2 held a080 to a150.
			switch c.name {
			case "erased":
				if err := a.st.EraseAccount(ctx, "a100"); err != nil {
					t.Fatal(err)
				}
				delete(da, "a100")
			case "imported":
				extra := directory_{}
				for i := range 3 {
					extra[fmt.Sprintf("a%03d", 101+i)] = people[40+i].E164
				}
				a.put(t, extra, country)
				maps.Copy(da, extra)
			default:
				for i := 23; i < 40; i++ {
					id := fmt.Sprintf("a%03d", 10*i)
					if err := a.st.EraseAccount(ctx, id); err != nil {
						t.Fatal(err)
					}
					delete(da, id)
				}
			}
			res, err := a.p.Run(ctx, h, "resumed", 1)
			if err != nil {
				t.Fatalf("resumed: %v", err)
			}
			if res.Sent != 40 || res.Changed != (c.name != "imported") {
				t.Fatalf("resumed: sent %d, changed %v; want the 40 staged, changed if accounts were erased", res.Sent, res.Changed)
			}
			if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "next", 1); err != nil {
				t.Fatalf("the next run: %v", err)
			}
			checkTruth(t, a, b, da, db)
		})
	}
}

// A job stopped and resumed after the initiator's directory grew past
// what the job declared (its set, 1% and one batch) fails, saying so,
// rather than sending more than the peer was told to expect; the next
// run, declaring the new size, links exactly the intersection.
func TestResumeAfterTheDirectoryGrewPastTheDeclared(t *testing.T) {
	ctx := context.Background()
	people := synth.People(5, 60)
	country := countries(people)
	da, db := directory_{}, directory_{}
	for i := range 40 {
		da[fmt.Sprintf("a%03d", 10*i)] = people[i].E164
		db[fmt.Sprintf("b%03d", i)] = people[i].E164
	}
	// Batches of 2: the stopped attempt has staged a few of its twenty.
	a, b := newSide(t, "social", nil, 2), newSide(t, "messenger", nil, 2)
	a.put(t, da, country)
	b.put(t, db, country)
	h := &holdBack{Peer: linkjob.Responder{P: b.p}, until: 3, released: make(chan struct{})}
	if _, err := a.p.Run(ctx, h, "resumed", 1); !errors.Is(err, errKilled) {
		t.Fatalf("the stopped run: %v", err)
	}
	// 40 accounts declared 42; 10 more, after them, make 50.
	extra := directory_{}
	for i := range 10 {
		extra[fmt.Sprintf("a9%02d", i)] = people[40+i].E164
	}
	a.put(t, extra, country)
	maps.Copy(da, extra)
	if _, err := a.p.Run(ctx, h, "resumed", 1); !errors.Is(err, linkjob.ErrGrew) {
		t.Fatalf("resumed after the directory grew by a quarter: %v, want ErrGrew", err)
	}
	if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "next", 1); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	checkTruth(t, a, b, da, db)
}

// stopServing is a peer that fails once when batch at of the responder's
// own is asked for, as if the responder were stopped there.
type stopServing struct {
	linkjob.Peer
	at    int64
	fired bool
}

func (s *stopServing) Elements(ctx context.Context, j string, seq int64) ([]psi.Element, bool, error) {
	if seq == s.at && !s.fired {
		s.fired = true
		return nil, false, errKilled
	}
	return s.Peer.Elements(ctx, j, seq)
}

// The responder stopped after serving two of its batches, both
// directories changed before the job is resumed (on the responder's side
// an account of a served batch erased, one of a batch not served yet
// erased, new accounts imported after the last one; on the initiator's,
// new accounts after its batches were all sent): the resumed run ends,
// saying the directories changed, and the next run links exactly the
// intersection of the directories, the same on both sides.
func TestResumeAfterTheRespondersDirectoryChanged(t *testing.T) {
	ctx := context.Background()
	a, b, da, db, people, country := pair(t, 6, 50, 1, 10)
	f := &stopServing{Peer: linkjob.Responder{P: b.p}, at: 3}
	if _, err := a.p.Run(ctx, f, "resumed", 1); !errors.Is(err, errKilled) {
		t.Fatalf("the stopped run: %v", err)
	}
	// Served: b000-b070 and b080-b150; not yet: the rest.
	for _, id := range []string{"b030", "b250"} {
		if err := b.st.EraseAccount(ctx, id); err != nil {
			t.Fatal(err)
		}
		delete(db, id)
	}
	extra := directory_{}
	for i := range 5 {
		extra[fmt.Sprintf("b9%02d", i)] = people[40+i].E164
		if i < 3 {
			da[fmt.Sprintf("a9%02d", i)] = people[40+i].E164
		}
	}
	b.put(t, extra, country)
	maps.Copy(db, extra)
	a.put(t, directory_{"a900": da["a900"], "a901": da["a901"], "a902": da["a902"]}, country)
	if res, err := a.p.Run(ctx, f, "resumed", 1); err != nil || !res.Changed {
		t.Fatalf("resumed: %+v, %v", res, err)
	}
	if _, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "next", 1); err != nil {
		t.Fatalf("the next run: %v", err)
	}
	checkTruth(t, a, b, da, db)
}

// changeMid is a peer that runs do once in the middle of the exchange:
// after the initiator's batch 1 came back re-blinded (sent), or when the
// responder's batch 3 is asked for (its batch 1 served before).
type changeMid struct {
	linkjob.Peer
	mu     sync.Mutex
	do     func()
	onSent bool
}

func (c *changeMid) once() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.do != nil {
		c.do()
		c.do = nil
	}
}

func (c *changeMid) Reblind(ctx context.Context, j string, seq int64, e []psi.Element) ([]psi.Element, error) {
	out, err := c.Peer.Reblind(ctx, j, seq, e)
	if seq == 1 && c.onSent {
		c.once()
	}
	return out, err
}

func (c *changeMid) Elements(ctx context.Context, j string, seq int64) ([]psi.Element, bool, error) {
	if seq == 3 && !c.onSent {
		c.once()
	}
	return c.Peer.Elements(ctx, j, seq)
}

// overstating is a peer that says it holds one link more than it does.
type overstating struct{ linkjob.Peer }

func (o overstating) Finish(ctx context.Context, j string) (linkjob.Result, error) {
	res, err := o.Peer.Finish(ctx, j)
	res.Matched++
	return res, err
}

// An account erased during a run, on either side, after its element was
// sent: the run ends (it is not a protocol error), says the directories
// changed, and the other party holds the one link more until the next
// run, which reconciles the two. Without a change, parties that disagree
// on their links fail the run.
func TestChangesDuringARun(t *testing.T) {
	ctx := context.Background()
	for _, erased := range []string{"a003", "b030"} {
		t.Run(erased, func(t *testing.T) {
			a, b, da, db, _, _ := pair(t, 6, 50, 1, 10)
			st := a.st
			if erased[0] == 'b' {
				st = b.st
			}
			f := &changeMid{Peer: linkjob.Responder{P: b.p}, onSent: erased[0] == 'a', do: func() {
				if err := st.EraseAccount(ctx, erased); err != nil {
					t.Error(err)
				}
			}}
			res, err := a.p.Run(ctx, f, "changed", 1)
			if err != nil {
				t.Fatalf("the run with an erasure in it: %v", err)
			}
			if !res.Changed || res.Matched+res.PeerMatched != 79 {
				t.Fatalf("%+v: want the change said, and 39 links on one side and 40 on the other", res)
			}
			delete(da, erased)
			delete(db, erased)
			res, err = a.p.Run(ctx, linkjob.Responder{P: b.p}, "next", 1)
			if err != nil || res.Changed || res.Matched != 39 || res.PeerMatched != 39 {
				t.Fatalf("the next run: %+v, %v", res, err)
			}
			checkTruth(t, a, b, da, db)
		})
	}
	a, b, _ := world(t, 60, 0.5, 16)
	if _, err := a.p.Run(ctx, overstating{linkjob.Responder{P: b.p}}, "lied", 1); !errors.Is(err, linkjob.ErrProtocol) {
		t.Fatalf("a peer that holds another count of links, nothing changed: %v", err)
	}
}

// greedy is a responder that serves, after its own elements, as many
// more of its choosing as the initiator takes, in full batches that never
// say they are the last (or, with empty, empty batches that never say
// so): it wants the initiator's key as an oracle. reblinded counts the
// elements of its choosing the initiator re-blinded.
type greedy struct {
	linkjob.Peer
	empty     bool
	from      int64 // the first batch with elements of its choosing
	served    int
	reblinded int
}

func (g *greedy) Elements(ctx context.Context, j string, seq int64) ([]psi.Element, bool, error) {
	var out []psi.Element
	if g.from == 0 {
		els, last, err := g.Peer.Elements(ctx, j, seq)
		if err != nil || !last {
			return els, last, err
		}
		g.from, out = seq, els
	}
	if g.empty && seq > g.from {
		return nil, false, nil
	}
	for len(out) < 16 {
		out = append(out, psi.HashToGroup(fmt.Appendf(nil, "+1202555%04d", g.served)))
		g.served++
	}
	return out, false, nil
}

func (g *greedy) Reblinded(ctx context.Context, j string, seq int64, v []psi.Element) error {
	if g.from != 0 && seq >= g.from {
		g.reblinded += len(v)
		return nil
	}
	return g.Peer.Reblinded(ctx, j, seq, v)
}

// The initiator re-blinds no more of the peer's elements than the set the
// peer declared allows (its set, 1% and one batch), and takes no short
// batch but the last: a responder that goes on serving is refused, and
// the run fails.
func TestInitiatorIsBounded(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty %v", empty), func(t *testing.T) {
			a, b, _ := world(t, 50, 0.5, 16)
			g := &greedy{Peer: linkjob.Responder{P: b.p}, empty: empty}
			_, err := a.p.Run(context.Background(), g, "greedy", 1)
			if !errors.Is(err, linkjob.ErrProtocol) {
				t.Fatalf("the run: %v, want a protocol error", err)
			}
			// 50 elements declared, 66 allowed: 50 of its own and 16
			// of its choosing at most (14 fill its last batch).
			if g.reblinded > 16 {
				t.Fatalf("the initiator re-blinded %d elements of the peer's choosing past its set, want at most 16", g.reblinded)
			}
			want := "more than the 66 elements its set of 50 allows"
			if empty {
				want = "has 0 elements: want 16"
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("the refusal: %v, want %q", err, want)
			}
		})
	}
}

// Each link error has a code, and the code with the other side's message
// comes back as the same error value, whatever the message says.
func TestErrorCodes(t *testing.T) {
	for _, e := range []error{linkjob.ErrProtocol, linkjob.ErrLost, linkjob.ErrEnded, linkjob.ErrSuperseded, linkjob.ErrStale, linkjob.ErrGrew} {
		code := linkjob.Code(fmt.Errorf("wrapped: %w", e))
		if code == "" {
			t.Fatalf("%v has no code", e)
		}
		back := linkjob.FromCode(code, "anything at all")
		if !errors.Is(back, e) || !strings.Contains(back.Error(), "the peer says: anything at all") {
			t.Errorf("%s came back as %v", code, back)
		}
	}
	if linkjob.Code(errKilled) != "" || linkjob.FromCode("internal", "x") != nil || linkjob.FromCode("not_configured", "x") != nil {
		t.Error("an error that is not a link error has a code, or a code that is not one maps to one")
	}
}

// olderPeer answers an open as a linkd before link groups were named
// (ristretto255): without a link group.
type olderPeer struct{ linkjob.Peer }

func (o olderPeer) Open(ctx context.Context, op linkjob.Open) (linkjob.Opened, error) {
	got, err := o.Peer.Open(ctx, op)
	got.Group = ""
	return got, err
}

// TestLinkGroup: a run between parties of different link groups is
// refused on either side with an error that names both groups, and so is
// a run while a directory holds link elements of the older group, until
// the directory is imported again; nothing is linked meanwhile.
func TestLinkGroup(t *testing.T) {
	ctx := context.Background()
	a, b, common := world(t, 40, 0.5, 16)
	resp := linkjob.Responder{P: b.p}
	for _, g := range []string{"", "ristretto255"} {
		_, err := resp.Open(ctx, linkjob.Open{JobID: "g" + g, Epoch: 2, Group: g, Size: 40, BatchSize: 16})
		if !errors.Is(err, linkjob.ErrGroup) || !strings.Contains(err.Error(), "ristretto255") || !strings.Contains(err.Error(), psi.Group) {
			t.Fatalf("open of link group %q: %v", g, err)
		}
		if _, err := b.st.Job(ctx, "g"+g); err == nil {
			t.Fatalf("the refused open of link group %q left a job", g)
		}
	}
	if _, err := a.p.Run(ctx, olderPeer{resp}, "older-peer", 2); !errors.Is(err, linkjob.ErrGroup) {
		t.Fatalf("run against a peer of another link group: %v", err)
	}
	// A responder of epoch 2 opens no job of another epoch (whose kept
	// sets could be ristretto255's).
	_, err := linkjob.Responder{P: b.p, Epoch: 2}.Open(ctx, linkjob.Open{JobID: "e1", Epoch: 1, Group: psi.Group, Size: 40, BatchSize: 16})
	if !errors.Is(err, linkjob.ErrProtocol) || !strings.Contains(err.Error(), "epoch 1") {
		t.Fatalf("open of link epoch 1 at a responder of epoch 2: %v", err)
	}
	// Elements an older linkd stored: the initiator's refuses at once,
	// the responder's refuses the open.
	for _, s := range []*side{a, b} {
		if _, err := s.st.(*store.Store).Pool().Exec(ctx, `UPDATE accounts SET link_group = 'ristretto255' WHERE id IN (SELECT id FROM accounts ORDER BY id LIMIT 3)`); err != nil {
			t.Fatal(err)
		}
		_, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "older-elements", 2)
		if !errors.Is(err, linkjob.ErrGroup) {
			t.Fatalf("run with older elements: %v", err)
		}
		// This party is told how many, the other only that there are.
		if own := s == a; strings.Contains(err.Error(), "3 accounts") != own || (own && !strings.Contains(err.Error(), "directory import")) {
			t.Fatalf("run with older elements at the %s: %v", map[bool]string{true: "initiator", false: "responder"}[own], err)
		}
		if n := len(a.links(t, "social", common, keysOf(common))) + len(b.links(t, "messenger", common, keysOf(common))); n != 0 {
			t.Fatalf("%d links made by a refused run", n)
		}
		if _, err := s.st.(*store.Store).Pool().Exec(ctx, `UPDATE accounts SET link_group = $1`, psi.Group); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.p.Run(ctx, linkjob.Responder{P: b.p}, "same-group", 2)
	if err != nil {
		t.Fatal(err)
	}
	check(t, a, b, common, res, 40)
}
