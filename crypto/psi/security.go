package psi

import "math/big"

// Why X25519 serves the link protocol, and what a peer that deviates from
// it can do.
//
// The group. curve25519 has 8*l points, l = 2^252 + 2774231777737235353585
// 1937790883648493 prime; H (HashToCurve, RFC 9380) clears the cofactor,
// so H(x) lies in the subgroup G of order l, where DDH is believed hard
// (about 2^126 work for discrete logarithms). X25519 computes u(k*P) from
// u(P) alone (RFC 7748's ladder), and u(P) = u(-P): an element is a point
// up to sign, which changes nothing below because scalar multiplication
// commutes with negation and H is a random oracle (H(x) = -H(y) for x != y
// has probability 2^-252).
//
// Commutativity. A key is a clamped scalar: 2^254 + 8*r, r < 2^251 (RFC
// 7748 section 5), the same integer each time it is used, since clamping
// a clamped value changes nothing. The ladder multiplies by that integer,
// so k_s*(k_m*H(x)) = (k_s*k_m)*H(x) = k_m*(k_s*H(x)): both parties reach
// the same doubly blinded value in either order. A key is never 0 modulo
// l, so it never maps a point of G to the identity: it lies between 2^254
// and 2^255, where the multiples of l are 4l to 7l, and none of those is a
// multiple of 8 (l is odd), as k is.
//
// Values a deviating peer sends. The peer controls every value it sends
// (singly blinded values to re-blind, doubly blinded values to compare).
// A party refuses a non-canonical encoding (a u of p or more, or with the
// top bit set, which RFC 7748 would silently mask) and the u-coordinates
// of the small-order points of the curve and of its twist (smallOrder),
// and refuses a re-blinding whose result is zero.
//   - Small-order components: a point P + T, T of order 2, 4 or 8, is
//     multiplied by k, a multiple of 8, to k*P: the component vanishes, so
//     the answer says nothing of k mod 8 (always 0) and cannot tag a
//     value. The pure small-order points are refused outright, so no
//     re-blinding is the all-zero value of RFC 7748's warning.
//   - Twist points: a u that is not on curve25519 is on its quadratic
//     twist, whose order is 4*l', l' a 253-bit prime. k times such a point
//     is computed by the same ladder and lands in the twist's subgroup of
//     order l' (the factor 4 is cleared by k's factor 8). Recovering k
//     from it is a discrete logarithm in a group of order about 2^253:
//     curve25519 was chosen to be twist-secure for this reason. The
//     answer is one static Diffie-Hellman value per element sent, which
//     a peer gets on the curve too by sending any point: the twist gives
//     it nothing the protocol does not. A peer may send a result back
//     in a later batch or run and get k^2*Q, k^3*Q, ...: the
//     repeated-exponent attacks on static Diffie-Hellman (Brown-Gallant,
//     Cheon) then gain about sqrt(d) for a divisor d of l-1 (or l'-1)
//     no larger than the re-blindings the peer is allowed (the party
//     key's daily budget): a few bits of the key's 126, as on any group
//     DH-PSI runs on, ristretto255 included.
//   - Membership in G is not checked (it would cost a second scalar
//     multiplication per value): a value outside G can only be a value
//     the honest party re-blinds into a set no honest value of its own is
//     in, so it matches nothing; what a deviating peer learns from a
//     match it provokes with a value it chose is what it learns by
//     sending H(x) for a guessed x, the inherent oracle of DH-PSI that
//     the set-size limits of a run bound (see DESIGN.md, leakage).
//
// The leakage of a run is therefore what it is on ristretto255: the set
// sizes, and to each party which of its own rows match.

// smallOrder are the canonical u-coordinates of the points of small
// order: on curve25519, 0 (order 2), 1 (order 4) and the two of order 8;
// on its twist, p-1 (order 4; 0 is the twist's order-2 point as well).
var smallOrder [5]Element

func init() {
	for i, s := range []string{
		"0",
		"1",
		"325606250916557431795983626356110631294008115727848805560023387167927233504",
		"39382357235489614581723060781553021112529911719440698176882885853963445705823",
		"57896044618658097711785492504343953926634992332820282019728792003956564819948",
	} {
		n, _ := new(big.Int).SetString(s, 10)
		e := elt(n)
		smallOrder[i] = Element(e)
	}
}

// canonical reports whether e encodes an integer below p = 2^255-19 (so
// its top bit is clear). Elements are public: this need not be constant
// time.
func canonical(e *Element) bool {
	if e[31] < 0x7f {
		return true
	}
	if e[31] > 0x7f {
		return false
	}
	for i := 30; i >= 1; i-- {
		if e[i] != 0xff {
			return true
		}
	}
	return e[0] < 0xed
}
