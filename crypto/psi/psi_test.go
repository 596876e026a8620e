package psi

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/cloudflare/circl/group"
	xhkdf "golang.org/x/crypto/hkdf"

	"github.com/linkd/linkd/crypto/internal/r255"
	"github.com/linkd/linkd/crypto/internal/r255/r255test"
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

// The hash to group is RFC 9380 hash_to_ristretto255 as circl implements
// it; check it through this package on the RFC 9497 vectors, where
// BlindedElement = blind * HashToGroup(input) under the OPRF's DST.
func TestHashToGroupRFC9497(t *testing.T) {
	data, err := os.ReadFile("../oprf/testdata/rfc9497-ristretto255-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var sets []struct {
		Vectors []struct {
			Input, Blind, BlindedElement []string
		}
	}
	if err := json.Unmarshal(data, &sets); err != nil {
		t.Fatal(err)
	}
	dst := []byte("HashToGroup-OPRFV1-\x01-ristretto255-SHA512")
	n := 0
	for _, set := range sets {
		for _, v := range set.Vectors {
			for i := range v.Input {
				in, _ := hex.DecodeString(v.Input[i])
				bl, _ := hex.DecodeString(v.Blind[i])
				r := group.Ristretto255.NewScalar()
				if err := r.UnmarshalBinary(bl); err != nil {
					t.Fatal(err)
				}
				got := encode(group.Ristretto255.NewElement().Mul(hashToGroup(in, dst), r))
				if hex.EncodeToString(got[:]) != v.BlindedElement[i] {
					t.Fatalf("blinded element %x, want %s", got, v.BlindedElement[i])
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no vectors")
	}
}

func TestReblindRefusesBadElements(t *testing.T) {
	k := randomKey(t)
	good := k.Blind([]byte("+905321234567"))
	bad := append(r255test.InvalidEncodings(), r255test.Identity())
	for i, b := range bad {
		e := Element(b)
		if _, err := k.Reblind(e); err == nil {
			t.Errorf("encoding %d accepted", i)
		}
		out, err := k.ReblindBatch([]Element{good, good, e, good})
		var de *DecodeError
		if !errors.As(err, &de) || de.Index != 2 || out != nil {
			t.Errorf("batch with encoding %d: %v", i, err)
		}
		if _, err := ParseElement(b); err == nil {
			t.Errorf("ParseElement accepted encoding %d", i)
		}
		many := make([]Element, 40)
		for j := range many {
			many[j] = good
		}
		many[33] = e
		if err := CheckElements(many); !errors.As(err, &de) || de.Index != 33 {
			t.Errorf("CheckElements with encoding %d at 33: %v", i, err)
		}
	}
	if _, err := k.Reblind(Element(r255test.Identity())); !errors.Is(err, r255.ErrIdentity) {
		t.Errorf("identity: %v", err)
	}
	if err := CheckElements([]Element{good, good, good}); err != nil {
		t.Errorf("CheckElements refused good elements: %v", err)
	}
	if _, err := ParseElement(good[:31]); !errors.Is(err, r255.ErrLength) {
		t.Errorf("short: %v", err)
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
	kb, _ := a.k.MarshalBinary()
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%s"} {
		if got := fmt.Sprintf(verb, a); got != "[redacted]" || strings.Contains(got, hex.EncodeToString(kb)[:8]) {
			t.Errorf("Sprintf(%q) = %q", verb, got)
		}
	}
}

// FuzzReblind: any 32 bytes from a peer are re-blinded or refused, never a
// panic; an accepted element was a canonical encoding.
func FuzzReblind(f *testing.F) {
	k := randomKey(f)
	good := k.Blind([]byte("+905321234567"))
	f.Add(good[:])
	for _, b := range r255test.InvalidEncodings()[:4] {
		f.Add(b)
	}
	f.Add(r255test.Identity())
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseElement(data)
		if err != nil {
			return
		}
		p := group.Ristretto255.NewElement()
		if err := p.UnmarshalBinary(data); err != nil {
			t.Fatal("ParseElement accepted what circl refuses")
		}
		re, _ := p.MarshalBinary()
		if !bytes.Equal(re, data) {
			t.Fatal("accepted a non-canonical encoding")
		}
		if _, err := k.Reblind(e); err != nil {
			t.Fatal(err)
		}
	})
}
