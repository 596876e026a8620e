// Package psi holds the primitives of linkd's two-party ECDH private set
// intersection over ristretto255 (RFC 9496), with hash to group per RFC 9380.
//
// Each party P holds a secret scalar k_P (its link key for the epoch) and a
// set of E.164 strings. With H the hash to group:
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
// Security: semi-honest parties, DDH in the random-oracle model. Each party
// learns which of its own rows match, their link ids, and the other's set
// size; a non-matching doubly blinded value is a pseudorandom group element
// to it. Elements received from a peer are decoded strictly (RFC 9496) and
// the identity is refused, so a peer cannot make a party multiply a point
// outside the group or one that reveals its key.
//
// Warning: the link key must come from the party's key ring (HKDF of its
// master secret per epoch), never be reused across protocols, and never be
// logged; Key prints as "[redacted]".
package psi

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/cloudflare/circl/group"

	"github.com/linkd/linkd/crypto/internal/parallel"
	"github.com/linkd/linkd/crypto/internal/r255"
)

// DST is the domain separation tag of linkd's hash to group: RFC 9380's
// hash_to_ristretto255 (expand_message_xmd with SHA-512, then the RFC 9496
// one-way map) under an application tag of its own.
const DST = "linkd-v1-psi-ristretto255_XMD:SHA-512_R255MAP_RO_"

const keyDST = "linkd-v1-psi-link-key"

var grp = group.Ristretto255

// ElementSize is the size of an encoded element.
const ElementSize = r255.Size

// Element is an encoded group element: a singly or doubly blinded value.
// Elements are public protocol messages.
type Element [ElementSize]byte

// Key is a party's secret blinding scalar for one linking epoch.
type Key struct {
	k group.Scalar
}

// ErrNoKey is returned by NewKey for a seed of the wrong size.
var ErrNoKey = errors.New("psi: a key seed is 32 bytes")

// NewKey derives a non-zero scalar from a 32-byte seed (RFC 9380
// hash_to_field under the package's key tag).
func NewKey(seed []byte) (Key, error) {
	if len(seed) != 32 {
		return Key{}, ErrNoKey
	}
	k := grp.HashToScalar(seed, []byte(keyDST))
	if k.IsZero() {
		// Probability 2^-252; refuse rather than use a key that blinds nothing.
		return Key{}, errors.New("psi: derived key is zero")
	}
	return Key{k: k}, nil
}

// Format implements fmt.Formatter: a key prints as "[redacted]".
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Equal reports whether two keys are the same scalar, in constant time.
func (k Key) Equal(o Key) bool {
	if k.k == nil || o.k == nil {
		return k.k == nil && o.k == nil
	}
	return k.k.IsEqual(o.k)
}

// HashToGroup maps an input (the E.164 string) to a group element.
func HashToGroup(input []byte) group.Element {
	return hashToGroup(input, []byte(DST))
}

func hashToGroup(input, dst []byte) group.Element {
	return grp.HashToElement(input, dst)
}

func encode(e group.Element) Element {
	var out Element
	b, err := e.MarshalBinaryCompress()
	if err != nil || len(b) != ElementSize {
		// ristretto255 encodes every element in 32 bytes; anything else is a
		// broken invariant in the group code, not bad input.
		panic("psi: ristretto255 element encoding failed")
	}
	copy(out[:], b)
	return out
}

// Blind returns k*H(input).
func (k Key) Blind(input []byte) Element {
	return encode(grp.NewElement().Mul(HashToGroup(input), k.k))
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

// DecodeError is a received element that is refused.
type DecodeError struct {
	Index int
	Err   error // r255.ErrLength, ErrEncoding or ErrIdentity
}

func (e *DecodeError) Error() string {
	return "psi: element " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// CheckElements checks, on all cores, that each of els is the canonical
// encoding of a group element other than the identity: for a batch of
// values received from the peer that are compared, not computed on. The
// error is a *DecodeError naming the first that is not.
func CheckElements(els []Element) error {
	errs := make([]error, len(els))
	parallel.For(len(els), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if _, err := r255.Decode(els[i][:]); err != nil {
				errs[i] = &DecodeError{Index: i, Err: err}
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Reblind returns k*e for an element received from the peer.
func (k Key) Reblind(e Element) (Element, error) {
	p, err := r255.Decode(e[:])
	if err != nil {
		return Element{}, &DecodeError{Index: 0, Err: err}
	}
	return encode(grp.NewElement().Mul(p, k.k)), nil
}

// ReblindBatch re-blinds every element on all cores, in order. One bad
// element refuses the batch: the error names the first one.
func (k Key) ReblindBatch(in []Element) ([]Element, error) {
	out := make([]Element, len(in))
	errs := make([]error, len(in))
	parallel.For(len(in), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			p, err := r255.Decode(in[i][:])
			if err != nil {
				errs[i] = &DecodeError{Index: i, Err: err}
				continue
			}
			out[i] = encode(grp.NewElement().Mul(p, k.k))
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
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
