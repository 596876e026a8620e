package psi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/cloudflare/circl/dh/x25519"
	fp "github.com/cloudflare/circl/math/fp25519"
	xhkdf "golang.org/x/crypto/hkdf"
)

func randomKey(t testing.TB) Key {
	t.Helper()
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// numbers returns n distinct E.164-shaped strings from rng, the first
// `shared` of them taken from common.
func numbers(rng *mrand.Rand, n int, common []string, shared int, seen map[string]bool) []string {
	out := append([]string{}, common[:shared]...)
	for len(out) < n {
		s := fmt.Sprintf("+9053%08d", rng.IntN(100_000_000))
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func inputs(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// run plays the protocol of the package documentation between two parties
// and returns, for each side, the link id of each of its matched rows.
func run(t *testing.T, km, ks Key, m, s []string, epoch uint32) (map[string]LinkID, map[string]LinkID) {
	t.Helper()
	a := km.BlindBatch(inputs(m)) // messenger -> social
	aa, err := ks.ReblindBatch(a) // social -> messenger, same order
	if err != nil {
		t.Fatal(err)
	}
	b := ks.BlindBatch(inputs(s)) // social -> messenger
	bb, err := km.ReblindBatch(b) // messenger -> social, same order
	if err != nil {
		t.Fatal(err)
	}
	// Both sides now hold both lists of doubly blinded values.
	side := func(own []string, ownDouble, otherDouble []Element) map[string]LinkID {
		other := map[Element]bool{}
		for _, e := range otherDouble {
			other[e] = true
		}
		got := map[string]LinkID{}
		for i, e := range ownDouble {
			if other[e] {
				got[own[i]] = DeriveLinkID(e, epoch)
			}
		}
		return got
	}
	return side(m, aa, bb), side(s, bb, aa)
}

// TestIntersectionProperty: two parties with random sets and random keys
// find exactly the intersection and derive the same link id for each member.
func TestIntersectionProperty(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for trial, tc := range []struct{ nm, ns, shared int }{
		{50, 70, 0}, {100, 100, 1}, {120, 80, 40}, {64, 64, 64}, {1, 200, 1}, {0, 10, 0},
	} {
		seen := map[string]bool{}
		common := numbers(rng, tc.shared, nil, 0, seen)
		m := numbers(rng, tc.nm, common, tc.shared, seen)
		s := numbers(rng, tc.ns, common, tc.shared, seen)
		km, ks := randomKey(t), randomKey(t)
		gotM, gotS := run(t, km, ks, m, s, uint32(trial+1))
		if len(gotM) != tc.shared || len(gotS) != tc.shared {
			t.Fatalf("trial %d: matched %d and %d, want %d", trial, len(gotM), len(gotS), tc.shared)
		}
		ids := map[LinkID]bool{}
		for _, x := range common {
			im, okm := gotM[x]
			is, oks := gotS[x]
			if !okm || !oks {
				t.Fatalf("trial %d: a common number did not match on both sides", trial)
			}
			if im != is {
				t.Fatalf("trial %d: sides disagree on a link id", trial)
			}
			if ids[im] {
				t.Fatalf("trial %d: two people share a link id", trial)
			}
			ids[im] = true
		}
		// New keys give new link ids for the same people.
		km2, ks2 := randomKey(t), randomKey(t)
		again, _ := run(t, km2, ks2, m, s, uint32(trial+1))
		for x, id := range again {
			if gotM[x] == id {
				t.Fatalf("trial %d: link id survived a change of keys", trial)
			}
		}
	}
}

func TestBlindCommutes(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	in := []byte("+905321234567")
	a, err := k2.Reblind(k1.Blind(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k1.Reblind(k2.Blind(in))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("k2*k1*H(x) != k1*k2*H(x)")
	}
	first, second := k1.Blind(in), k1.Blind(in)
	if k1.Blind(in) == k2.Blind(in) || first != second {
		t.Fatal("Blind is not a deterministic function of the key")
	}
	if k1.Blind(in) == k1.Blind([]byte("+905321234568")) {
		t.Fatal("two inputs blind alike")
	}
}

// HashToGroup is the u-coordinate of RFC 9380's hash to curve25519 (whose
// vectors TestCurveVectors checks) under the package's DST.
func TestHashToGroup(t *testing.T) {
	for _, in := range []string{"", "+905321234567", "+12025550123"} {
		if got, want := HashToGroup([]byte(in)), HashToCurve([]byte(in), []byte(DST)).U; got != Element(want) {
			t.Errorf("HashToGroup(%q) = %x, want %x", in, got, want)
		}
	}
	if HashToGroup([]byte("+905321234567")) == HashToGroup([]byte("+905321234568")) {
		t.Fatal("two inputs hash alike")
	}
}

// badElements are values a peer may send that are refused: the
// non-canonical encodings and the small-order points.
func badElements() map[string]Element {
	le := func(n *big.Int) Element { return Element(elt(n)) }
	two255 := new(big.Int).Lsh(big.NewInt(1), 255)
	bad := map[string]Element{
		"p":             leBytes(fieldP),
		"p+1":           leBytes(new(big.Int).Add(fieldP, big.NewInt(1))),
		"2^255-1":       leBytes(new(big.Int).Sub(two255, big.NewInt(1))),
		"top bit set":   withTop(HashToGroup([]byte("+905321234567"))),
		"zero":          {},
		"one":           le(big.NewInt(1)),
		"p-1 (twist)":   le(new(big.Int).Sub(fieldP, big.NewInt(1))),
		"order 8 first": smallOrder[2],
		"order 8 other": smallOrder[3],
	}
	return bad
}

func leBytes(n *big.Int) Element {
	var e Element
	b := n.FillBytes(make([]byte, 32))
	for i := range e {
		e[i] = b[31-i]
	}
	return e
}

func withTop(e Element) Element {
	e[31] |= 0x80
	return e
}

func TestReblindRefusesBadElements(t *testing.T) {
	k := randomKey(t)
	good := k.Blind([]byte("+905321234567"))
	for name, e := range badElements() {
		if _, err := k.Reblind(e); err == nil {
			t.Errorf("%s accepted", name)
		}
		out, err := k.ReblindBatch([]Element{good, good, e, good})
		var de *DecodeError
		if !errors.As(err, &de) || de.Index != 2 || out != nil {
			t.Errorf("batch with %s: %v", name, err)
		}
		if _, err := ParseElement(e[:]); err == nil {
			t.Errorf("ParseElement accepted %s", name)
		}
		many := make([]Element, 40)
		for j := range many {
			many[j] = good
		}
		many[33] = e
		if err := CheckElements(many); !errors.As(err, &de) || de.Index != 33 {
			t.Errorf("CheckElements with %s at 33: %v", name, err)
		}
	}
	if _, err := k.Reblind(Element{}); !errors.Is(err, ErrSmallOrder) {
		t.Errorf("zero: %v", err)
	}
	if _, err := k.Reblind(leBytes(fieldP)); !errors.Is(err, ErrEncoding) {
		t.Errorf("p: %v", err)
	}
	if err := CheckElements([]Element{good, good, good}); err != nil {
		t.Errorf("CheckElements refused good elements: %v", err)
	}
	if _, err := ParseElement(good[:31]); !errors.Is(err, ErrEncoding) {
		t.Errorf("short: %v", err)
	}
	// The largest canonical value is accepted (it is on the twist).
	top := leBytes(new(big.Int).Sub(fieldP, big.NewInt(2)))
	if _, err := ParseElement(top[:]); err != nil {
		t.Errorf("p-2 refused: %v", err)
	}
}

// TestSmallOrder: each listed value is of small order (any key takes it
// to zero, which circl's X25519 reports), and its double is a point of
// smaller order, down to the identity; the list holds every one: u of
// order 8 doubles to 1, 1 and p-1 double to 0.
func TestSmallOrder(t *testing.T) {
	k := randomKey(t)
	for i, e := range smallOrder {
		var out x25519.Key
		if x25519.Shared(&out, k.k, (*x25519.Key)(&e)) || out != (x25519.Key{}) {
			t.Errorf("smallOrder[%d] = %x: k times it is %x", i, e, out)
		}
	}
	// u(2P) = (u^2-1)^2 / (4u(u^2+Au+1)) on curve25519 and its twist.
	double := func(u *big.Int) *big.Int {
		u2 := new(big.Int).Mul(u, u)
		n := new(big.Int).Sub(u2, big.NewInt(1))
		n.Mul(n, n)
		d := new(big.Int).Add(u2, new(big.Int).Mul(big.NewInt(486662), u))
		d.Add(d, big.NewInt(1)).Mul(d, u).Mul(d, big.NewInt(4)).Mod(d, fieldP)
		if d.Sign() == 0 {
			return big.NewInt(0) // the identity
		}
		return n.Mul(n, d.ModInverse(d, fieldP)).Mod(n, fieldP)
	}
	toInt := func(e Element) *big.Int {
		b := make([]byte, 32)
		for i := range b {
			b[i] = e[31-i]
		}
		return new(big.Int).SetBytes(b)
	}
	for i, want := range []int64{-1, 0, 1, 1, 0} { // -1: the identity
		d := double(toInt(smallOrder[i]))
		if want == -1 {
			continue // u = 0 doubles to the identity, which has no u
		}
		if d.Cmp(big.NewInt(want)) != 0 {
			t.Errorf("smallOrder[%d] doubles to u = %v, want %d", i, d, want)
		}
	}
}

// TestSmallComponentVanishes: a deviating peer that adds a point of small
// order T to an element gets back exactly what the element alone gives,
// so it can tag nothing and learns nothing of the key modulo 8.
func TestSmallComponentVanishes(t *testing.T) {
	k := randomKey(t)
	var u [2]fp.Elt
	hashToField([]byte("+905321234567"), []byte(DST), u[:])
	p := mapToEdwards(&u[0])
	q := mapToEdwards(&u[1])
	p.add(&p, &q)
	p.clearCofactor() // H(x), of order l
	// l times a point not cleared of its cofactor is a point of small
	// order: the multiples of it that one of the maps gives are the T.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	plain := Element(p.montgomery().U)
	a, err := k.Reblind(plain)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Element]bool{}
	for i := range 8 {
		var v [1]fp.Elt
		hashToField(fmt.Appendf(nil, "torsion %d", i), []byte(DST), v[:])
		base := mapToEdwards(&v[0])
		var tor edwards
		fp.SetOne(&tor.Y)
		fp.SetOne(&tor.Z)
		for i := l.BitLen() - 1; i >= 0; i-- {
			tor.add(&tor, &tor)
			if l.Bit(i) == 1 {
				tor.add(&tor, &base)
			}
		}
		pt := p
		for range 8 {
			pt.add(&pt, &tor) // P + jT
			tagged := Element(pt.montgomery().U)
			seen[tagged] = true
			b, err := k.Reblind(tagged)
			if err != nil {
				t.Fatal(err)
			}
			if a != b {
				t.Fatalf("k*(P+T) != k*P for a T of small order")
			}
		}
	}
	if len(seen) < 4 {
		t.Fatalf("%d distinct P+T, want at least 4 (up to sign)", len(seen))
	}
}

func TestLinkID(t *testing.T) {
	k1, k2 := randomKey(t), randomKey(t)
	d, _ := k2.Reblind(k1.Blind([]byte("+905321234567")))
	id := DeriveLinkID(d, 7)
	if DeriveLinkID(d, 7) != id || DeriveLinkID(d, 8) == id {
		t.Fatal("link id not a function of element and epoch")
	}
	want := make([]byte, LinkIDSize)
	if _, err := io.ReadFull(xhkdf.New(sha256.New, d[:], []byte("linkd link id v1"), []byte("epoch\x00\x00\x00\x07")), want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(id[:], want) {
		t.Fatal("link id is not the documented HKDF output")
	}
	back, err := ParseLinkID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseLinkID(String) = %v, %v", back, err)
	}
	for _, s := range []string{"", "zz", strings.Repeat("g", 32), id.String() + "00"} {
		if _, err := ParseLinkID(s); err == nil {
			t.Errorf("ParseLinkID(%q) accepted", s)
		}
	}
}

func TestKey(t *testing.T) {
	if _, err := NewKey(make([]byte, 31)); !errors.Is(err, ErrNoKey) {
		t.Fatal(err)
	}
	seed := bytes.Repeat([]byte{1}, 32)
	a, _ := NewKey(seed)
	b, _ := NewKey(seed)
	if !a.Equal(b) || a.Equal(randomKey(t)) {
		t.Fatal("NewKey is not a function of the seed")
	}
	kb := a.k[:]
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if got := fmt.Sprintf(verb, a); got != "[redacted]" || strings.Contains(got, hex.EncodeToString(kb)[:8]) {
			t.Errorf("Sprintf(%q) = %q", verb, got)
		}
	}
	// In an unexported field fmt cannot call Format: the key must still
	// not show, as bytes or as numbers, under the verbs that print a
	// pointer (a verb wrong for a pointer, such as %s, prints what it
	// points to: no log line formats a key's holder so).
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%d"} {
		held := struct{ link Key }{a}
		got := fmt.Sprintf(verb, held)
		if strings.Contains(got, hex.EncodeToString(kb)[:8]) || strings.Contains(got, fmt.Sprint(kb[1:4])[1:8]) {
			t.Errorf("Sprintf(%q) of a struct holding a key = %q", verb, got)
		}
	}
}

// FuzzReblind: any bytes from a peer are re-blinded or refused, never a
// panic; an accepted element is canonical, not of small order, and its
// re-blinding is circl's X25519 of it.
func FuzzReblind(f *testing.F) {
	k := randomKey(f)
	good := k.Blind([]byte("+905321234567"))
	f.Add(good[:])
	for _, e := range badElements() {
		f.Add(e[:])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseElement(data)
		if err != nil {
			return
		}
		if data[31]&0x80 != 0 || !canonical(&e) {
			t.Fatal("accepted a non-canonical encoding")
		}
		got, err := k.Reblind(e)
		if err != nil {
			t.Fatal(err)
		}
		var want x25519.Key
		if !x25519.Shared(&want, k.k, (*x25519.Key)(&e)) || Element(want) != got {
			t.Fatal("re-blinding is not X25519")
		}
	})
}
