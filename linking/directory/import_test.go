package directory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/linkd/linkd/crypto/hashindex"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/internal/pgtest"
	"github.com/linkd/linkd/internal/synth"
	"github.com/linkd/linkd/linking/directory"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/phone"
	"github.com/linkd/linkd/store/storeerr"
)

func deriver(t testing.TB) *pseudonym.Deriver {
	t.Helper()
	r, err := keys.NewRing("social", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := pseudonym.NewDeriver(r, 1)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// csvFile writes people as a directory CSV, with the given extra lines
// inserted after the given row numbers.
func csvFile(people []synth.Person, bad map[int]string) string {
	var b strings.Builder
	b.WriteString("account_id,phone,country,ad_opt_out,blocked_businesses\n")
	for i, p := range people {
		fmt.Fprintf(&b, "acc-%05d,%s,%s,%v,\n", i, p.National, p.Country, i%10 == 0)
		if line, ok := bad[i]; ok {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func runImport(t *testing.T, im *directory.Importer, file string) (directory.Stats, []string) {
	t.Helper()
	var reports []string
	st, err := im.Import(context.Background(), strings.NewReader(file), func(e *directory.RowError) {
		reports = append(reports, e.Error())
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, reports
}

func TestImport(t *testing.T) {
	people := synth.People(7, 300)
	file := csvFile(people, map[int]string{
		10:  "bad-1,0932 123 45 67,TR,false,",
		150: "bad-2,12,US,false,",
		151: "bad-3,0532 123 45 67,XX,false,",
		299: "bad-4,0532 123 45 67,TR,perhaps,",
	})
	s := pgtest.Store(t)
	d := deriver(t)
	im := &directory.Importer{Store: s, Deriver: d, BatchSize: 64}
	st, reports := runImport(t, im, file)
	if st.Rows != 304 || st.Imported != 300 || st.Invalid != 4 {
		t.Fatalf("stats = %+v", st)
	}
	want := []string{
		"line 13: phone: not a valid number: no such range is allocated in its country (TR)",
		"line 154: phone: too short (US)",
		"line 156: country: not an ISO 3166 country code with a numbering plan",
		"line 305: ad_opt_out: want true or false",
	}
	if !slices.Equal(reports, want) {
		t.Fatalf("reports =\n%s", strings.Join(reports, "\n"))
	}
	for _, id := range []string{"bad-1", "bad-2", "bad-3", "bad-4"} {
		if _, err := s.Account(context.Background(), id); !errors.Is(err, storeerr.ErrNotFound) {
			t.Fatalf("bad row %s was stored", id)
		}
	}
	// Every good row is found by an advertiser's upload of its hash.
	h := d.IndexKey().NewHasher()
	var idx []hashindex.Index
	for _, p := range people {
		n, _ := phone.Normalize(p.E164, "")
		dg := n.Hash(phone.SchemaSHA256)
		idx = append(idx, h.Sum(&dg.Sum))
	}
	got, err := s.MatchHashes(context.Background(), directory.HashMatch{Epoch: 1, Convention: phone.ConventionDigits, Indexes: idx})
	if err != nil || len(got) != 300 {
		t.Fatalf("MatchHashes found %d, %v", len(got), err)
	}
	a, _ := s.Account(context.Background(), "acc-00010")
	if !a.AdOptOut || a.Country != people[10].Country {
		t.Fatalf("acc-00010 = %+v", a)
	}
}

// snapshot is a store's directory content, for comparing end states.
func snapshot(t *testing.T, s directory.Store, n int) []directory.Account {
	t.Helper()
	var out []directory.Account
	for i := range n {
		a, err := s.Account(context.Background(), fmt.Sprintf("acc-%05d", i))
		if err != nil {
			t.Fatalf("acc-%05d: %v", i, err)
		}
		a.UpdatedAt = time.Time{}
		out = append(out, a)
	}
	return out
}

func TestReimportAndChangedNumber(t *testing.T) {
	people := synth.People(8, 100)
	s := pgtest.Store(t)
	d := deriver(t)
	im := &directory.Importer{Store: s, Deriver: d, BatchSize: 32}
	runImport(t, im, csvFile(people, nil))
	first := snapshot(t, s, 100)
	runImport(t, im, csvFile(people, nil))
	if !slices.EqualFunc(first, snapshot(t, s, 100), accountsEqual) {
		t.Fatal("re-import changed the directory")
	}
	// acc-00005 changes its number to acc-00006's old one's neighbour.
	moved := slices.Clone(people)
	moved[5] = synth.People(9, 1)[0]
	runImport(t, im, csvFile(moved, nil))
	if n, _ := s.CountAccounts(context.Background()); n != 100 {
		t.Fatalf("%d accounts", n)
	}
	h := d.IndexKey().NewHasher()
	old, _ := phone.Normalize(people[5].E164, "")
	dg := old.Hash(phone.SchemaE164SHA256)
	got, _ := s.MatchHashes(context.Background(), directory.HashMatch{Epoch: 1, Convention: phone.ConventionE164, Indexes: []hashindex.Index{h.Sum(&dg.Sum)}})
	if len(got) != 0 {
		t.Fatalf("the old number still finds %v", got)
	}
}

func accountsEqual(a, b directory.Account) bool {
	return a.ID == b.ID && a.Country == b.Country && a.AdOptOut == b.AdOptOut &&
		slices.Equal(a.BlockedBusinesses, b.BlockedBusinesses) && a.Epoch == b.Epoch && a.Pseudonyms == b.Pseudonyms
}

// failingStore fails the n-th PutAccounts, as a database that goes away
// part way would.
type failingStore struct {
	directory.Store
	calls, failAt int
}

func (f *failingStore) PutAccounts(ctx context.Context, as []directory.Account) error {
	f.calls++
	if f.calls == f.failAt {
		return errors.New("connection reset")
	}
	return f.Store.PutAccounts(ctx, as)
}

// An import interrupted at any batch, run again, ends where an
// uninterrupted one does.
func TestInterruptedImportResumes(t *testing.T) {
	people := synth.People(10, 200)
	file := csvFile(people, map[int]string{50: "bad,1,US,false,"})
	d := deriver(t)
	clean := pgtest.Store(t)
	runImport(t, &directory.Importer{Store: clean, Deriver: d, BatchSize: 16}, file)
	want := snapshot(t, clean, 200)
	for failAt := 1; failAt <= 13; failAt += 3 {
		s := pgtest.Store(t)
		fs := &failingStore{Store: s, failAt: failAt}
		_, err := (&directory.Importer{Store: fs, Deriver: d, BatchSize: 16}).Import(context.Background(), strings.NewReader(file), func(*directory.RowError) {})
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("failAt %d: %v", failAt, err)
		}
		runImport(t, &directory.Importer{Store: s, Deriver: d, BatchSize: 16}, file)
		if !slices.EqualFunc(want, snapshot(t, s, 200), accountsEqual) {
			t.Fatalf("failAt %d: the resumed import differs", failAt)
		}
	}
}

func TestImportRefusesNonDirectory(t *testing.T) {
	im := &directory.Importer{Store: pgtest.Store(t), Deriver: deriver(t)}
	for _, in := range []string{"", "0532 123 45 67\n0532 123 45 68\n"} {
		_, err := im.Import(context.Background(), bytes.NewReader([]byte(in)), func(*directory.RowError) {})
		if !errors.Is(err, directory.ErrFormat) {
			t.Errorf("%q: %v", in, err)
		}
		if strings.Contains(fmt.Sprint(err), "0532") {
			t.Errorf("the error repeats a number: %v", err)
		}
	}
}

// An account id that appears twice in one import is a bad row the second
// time, whether the first is in the same batch or an earlier one; it is
// stored once, as its first line says, and counted once. Importing the
// file again is no duplicate of the first import.
func TestImportRefusesARepeatedAccountID(t *testing.T) {
	people := synth.People(41, 40)
	d := deriver(t)
	s := pgtest.Store(t)
	other := people[39]
	file := csvFile(people[:30], map[int]string{
		2:  fmt.Sprintf("acc-%05d,%s,%s,false,", 1, other.National, other.Country),  // same batch as line 3
		25: fmt.Sprintf("acc-%05d,%s,%s,false,", 3, other.National, other.Country),  // batches after line 5
		27: fmt.Sprintf("acc-%05d,%s,%s,false,", 27, other.National, other.Country), // its own line follows
	})
	im := &directory.Importer{Store: s, Deriver: d, BatchSize: 8}
	for range 2 {
		st, reports := runImport(t, im, file)
		want := []string{"line 5: account_id: the same as on line 3", "line 29: account_id: the same as on line 6",
			"line 32: account_id: the same as on line 31"}
		if st.Rows != 33 || st.Imported != 30 || st.Invalid != 3 || !slices.Equal(reports, want) {
			t.Fatalf("stats %+v, reports %q, want %q", st, reports, want)
		}
		if n, _ := s.CountAccounts(context.Background()); n != 30 {
			t.Fatalf("%d accounts stored, want 30", n)
		}
		a, err := s.Account(context.Background(), "acc-00001")
		if err != nil || a.Country != people[1].Country {
			t.Fatalf("acc-00001 = %+v, %v: the first line should have won", a, err)
		}
	}
}
