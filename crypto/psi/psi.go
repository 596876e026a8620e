// Package psi holds the primitives of linkd's two-party Diffie-Hellman
// private set intersection over X25519 (RFC 7748), with hash to curve25519
// per RFC 9380 (suite curve25519_XMD:SHA-512_ELL2_RO_).
//
// Each party P holds a secret clamped scalar k_P (its link key for the
// epoch) and a set of E.164 strings. With H the hash to curve and k*e the
// X25519 function of scalar k and u-coordinate e:
//
//	messenger (k_m, set M)                  social (k_s, set S)
//	------------------------------------------------------------------
//	a_x = k_m*H(x), x in M                  b_y = k_s*H(y), y in S
//	               a_x (shuffled) --------->
//	                                        aa_x = k_s*a_x, same order
//	               <--------- aa_x
//	               <--------- b_y (shuffled)
//	bb_y = k_m*b_y, same order
//	               bb_y ----------------->
//	x in M matches if k_m*k_s*H(x) is among both sides' doubly blinded
//	values; link id = LinkID(k_m*k_s*H(x), linking epoch), the same on
//	both sides and computable by neither alone.
//
// Security: semi-honest parties, DDH in the random-oracle model, in the
// subgroup of prime order l = 2^252 + 27742317777372353535851937790883648493
// of curve25519. Each party learns which of its own rows match, their link
// ids, and the other's set size; a non-matching doubly blinded value is a
// pseudorandom group element to it. The argument for this group, with what
// a peer that deviates can and cannot do, is in the file security.go.
//
// Warning: the link key must come from the party's key ring (HKDF of its
// master secret per epoch), never be reused across protocols, and never be
// logged; Key prints as "[redacted]". The OPRF that advertisers' clients
// run (package oprf) stays on ristretto255: this group is linkd's own,
// between the two parties, and named by Group when a run opens.
package psi

import (
	"crypto"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/expander"

	"github.com/linkd/linkd/crypto/internal/parallel"
)

// Group names the link group: the curve, the hash to it and the
// encoding. Both parties of a run must use the same one.
const Group = "x25519-ell2"

// DST is the domain separation tag of linkd's hash to curve: RFC 9380's
// curve25519_XMD:SHA-512_ELL2_RO_ under an application tag of its own.
const DST = "linkd-v2-psi-curve25519_XMD:SHA-512_ELL2_RO_"

const keyDST = "linkd-v2-psi-link-key"

// ElementSize is the size of an encoded element.
const ElementSize = x25519.Size

// Element is an encoded group element, a point's u-coordinate in
// little-endian (RFC 7748): a singly or doubly blinded value. Elements
// are public protocol messages.
type Element [ElementSize]byte

// Key is a party's secret blinding scalar for one linking epoch, clamped
// as RFC 7748 section 5 clamps X25519 scalars.
// The scalar is behind a pointer, so that fmt, which cannot call Format
// on a key held in an unexported field, prints an address, never it.
type Key struct {
	k *x25519.Key
}

// ErrNoKey is returned by NewKey for a seed of the wrong size.
var ErrNoKey = errors.New("psi: a key seed is 32 bytes")

// NewKey derives a scalar from a 32-byte seed: expand_message_xmd with
// SHA-512 (RFC 9380 section 5.3.1) under the package's key tag, clamped.
// A clamped scalar is never zero, nor zero modulo the group order.
func NewKey(seed []byte) (Key, error) {
	if len(seed) != 32 {
		return Key{}, ErrNoKey
	}
	k := Key{k: new(x25519.Key)}
	copy(k.k[:], expander.NewExpanderMD(crypto.SHA512, []byte(keyDST)).Expand(seed, x25519.Size))
	k.k[0] &= 248
	k.k[31] = k.k[31]&127 | 64
	return k, nil
}

// Format implements fmt.Formatter: a key prints as "[redacted]".
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Equal reports whether two keys are the same scalar, in constant time.
func (k Key) Equal(o Key) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// HashToGroup maps an input (the E.164 string) to a group element: the
// u-coordinate of HashToCurve(input, DST), a point of the prime-order
// subgroup.
func HashToGroup(input []byte) Element {
	return hashToU(input, []byte(DST))
}

// mul is k*e, false if the result is the all-zero u-coordinate (e of small
// order, which the callers refuse before).
func (k Key) mul(e *Element) (Element, bool) {
	var out x25519.Key
	ok := x25519.Shared(&out, k.k, (*x25519.Key)(e))
	return Element(out), ok && out != x25519.Key{}
}

// Blind returns k*H(input).
func (k Key) Blind(input []byte) Element {
	h := HashToGroup(input)
	// H(input) is the identity, and k*H(input) zero, with probability
	// 2^-252; a peer refuses that value like any other of small order.
	out, _ := k.mul(&h)
	return out
}

// BlindBatch blinds every input on all cores.
func (k Key) BlindBatch(inputs [][]byte) []Element {
	out := make([]Element, len(inputs))
	parallel.For(len(inputs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = k.Blind(inputs[i])
		}
	})
	return out
}

// Errors of received elements.
var (
	// ErrEncoding is a value that is not a canonical u-coordinate: one of
	// 2^255-19 or more, or with the top bit set.
	ErrEncoding = errors.New("psi: not a canonical curve25519 u-coordinate")
	// ErrSmallOrder is the u-coordinate of a point of small order, whose
	// multiple by any key is zero.
	ErrSmallOrder = errors.New("psi: a point of small order")
)

// DecodeError is a received element that is refused.
type DecodeError struct {
	Index int
	Err   error // ErrEncoding or ErrSmallOrder
}

func (e *DecodeError) Error() string {
	return "psi: element " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// check refuses e unless it is a canonical u-coordinate of a point of
// neither curve25519 nor its twist of small order (see security.go).
func check(e *Element) error {
	if !canonical(e) {
		return ErrEncoding
	}
	for i := range smallOrder {
		if *e == smallOrder[i] {
			return ErrSmallOrder
		}
	}
	return nil
}

// CheckElements checks that each of els is a canonical
// u-coordinate not of small order: for a batch of values received from
// the peer that are compared, not computed on. The error is a
// *DecodeError naming the first that is not.
func CheckElements(els []Element) error {
	for i := range els {
		if err := check(&els[i]); err != nil {
			return &DecodeError{Index: i, Err: err}
		}
	}
	return nil
}

// Reblind returns k*e for an element received from the peer.
func (k Key) Reblind(e Element) (Element, error) {
	if err := check(&e); err != nil {
		return Element{}, &DecodeError{Index: 0, Err: err}
	}
	out, ok := k.mul(&e)
	if !ok {
		return Element{}, &DecodeError{Index: 0, Err: ErrSmallOrder}
	}
	return out, nil
}

// ReblindBatch re-blinds every element on all cores, in order. One bad
// element refuses the batch: the error names the first one.
func (k Key) ReblindBatch(in []Element) ([]Element, error) {
	if err := CheckElements(in); err != nil {
		return nil, err
	}
	out := make([]Element, len(in))
	bad := make([]bool, len(in))
	parallel.For(len(in), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var ok bool
			out[i], ok = k.mul(&in[i])
			bad[i] = !ok
		}
	})
	for i, b := range bad {
		if b {
			return nil, &DecodeError{Index: i, Err: ErrSmallOrder}
		}
	}
	return out, nil
}

// LinkIDSize is the size of a link id: 128 bits, so that among billions of
// links a collision has probability below 2^-64.
const LinkIDSize = 16

// LinkID is the opaque id both parties derive for a person on both services.
type LinkID [LinkIDSize]byte

// String returns the link id in hex.
func (id LinkID) String() string { return hex.EncodeToString(id[:]) }

// ParseLinkID reads a link id written by String.
func ParseLinkID(s string) (LinkID, error) {
	var id LinkID
	if len(s) != 2*LinkIDSize {
		return LinkID{}, fmt.Errorf("psi: a link id is %d hex characters", 2*LinkIDSize)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return LinkID{}, fmt.Errorf("psi: a link id is %d hex characters", 2*LinkIDSize)
	}
	return id, nil
}

const linkSalt = "linkd link id v1"

// DeriveLinkID derives the link id of a doubly blinded element in a linking
// epoch: HKDF-SHA256 (RFC 5869) with the element as input keying material,
// a fixed salt, and the epoch as info.
func DeriveLinkID(double Element, epoch uint32) LinkID {
	var info [len("epoch") + 4]byte
	copy(info[:], "epoch")
	binary.BigEndian.PutUint32(info[len("epoch"):], epoch)
	out, err := hkdf.Key(sha256.New, double[:], []byte(linkSalt), string(info[:]), LinkIDSize)
	if err != nil {
		panic("psi: HKDF of 16 bytes failed: " + err.Error())
	}
	return LinkID(out)
}
