package pseudonym

import (
	"testing"
	"time"

	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/crypto/oprf"
	"github.com/linkd/linkd/phone"
)

func ring(t *testing.T, party string) *keys.Ring {
	t.Helper()
	r, err := keys.NewRing(party, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// An advertiser's upload in any schema finds the account's index, and a
// private-mode client's OPRF output equals the stored one.
func TestPseudonymsMatchUploads(t *testing.T) {
	d, err := NewDeriver(ring(t, "social"), 1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := phone.Normalize("0532 123 45 67", "TR")
	if err != nil {
		t.Fatal(err)
	}
	set, err := d.Derive(n)
	if err != nil {
		t.Fatal(err)
	}
	h := d.IndexKey().NewHasher()
	for _, s := range phone.HashSchemas {
		up, err := phone.ParseHash(s, n.Hash(s).Encode(s))
		if err != nil {
			t.Fatal(err)
		}
		want := set.IndexE164
		if up.Convention == phone.ConventionDigits {
			want = set.IndexDigits
		}
		if got := h.Sum(&up.Sum); got != want {
			t.Errorf("%s upload does not find the account's index", s)
		}
	}
	if set.IndexDigits == set.IndexE164 {
		t.Error("the two conventions share an index")
	}

	c, err := oprf.NewClient(d.OPRF().PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b, blinded, err := c.Blind([][]byte{[]byte(n.E164())})
	if err != nil {
		t.Fatal(err)
	}
	ev, proof, err := d.OPRF().Evaluate(blinded)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Finalize(b, ev, proof)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[0]) != string(set.OPRF[:]) {
		t.Error("a private upload's output differs from the stored OPRF index")
	}
}

func TestEpochsAndPartiesSeparate(t *testing.T) {
	r := ring(t, "social")
	if _, err := r.Rotate(time.Now()); err != nil {
		t.Fatal(err)
	}
	d1, _ := NewDeriver(r, 1)
	d2, _ := NewDeriver(r, 2)
	m, _ := NewDeriver(ring(t, "messenger"), 1)
	n := phone.Number("+905321234567")
	a, _ := d1.Derive(n)
	b, _ := d2.Derive(n)
	c, _ := m.Derive(n)
	if a.IndexDigits == b.IndexDigits || a.OPRF == b.OPRF || a.Link == b.Link {
		t.Error("an epoch rotation kept a pseudonym")
	}
	if a.IndexDigits == c.IndexDigits || a.Link == c.Link {
		t.Error("two parties share a pseudonym")
	}
	// The link elements of both parties meet after re-blinding.
	ma, err := d1.LinkKey().Reblind(c.Link)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := m.LinkKey().Reblind(a.Link)
	if err != nil {
		t.Fatal(err)
	}
	if ma != sa {
		t.Error("doubly blinded elements differ")
	}
	if _, err := NewDeriver(r, 3); err == nil {
		t.Error("unknown epoch accepted")
	}
}

func TestDeriveBatchEqualsDerive(t *testing.T) {
	d, _ := NewDeriver(ring(t, "social"), 1)
	ns := []phone.Number{"+905321234567", "+448444124653", "+12025550143"}
	for range 20 {
		ns = append(ns, ns[len(ns)%3])
	}
	all, err := d.DeriveBatch(ns)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range ns {
		one, _ := d.Derive(n)
		if one != all[i] {
			t.Fatalf("batch entry %d differs", i)
		}
	}
}
