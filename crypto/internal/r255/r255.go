// Package r255 decodes ristretto255 elements strictly, the one way every
// element received from outside linkd is read.
package r255

import (
	"errors"

	"github.com/cloudflare/circl/group"
)

// Size is the length of an encoded element.
const Size = 32

// Why an encoding is refused. The texts are safe to show a caller: they
// describe the encoding, never its bytes.
var (
	ErrLength   = errors.New("want 32 bytes")
	ErrEncoding = errors.New("not a canonical ristretto255 encoding")
	ErrIdentity = errors.New("the identity element")
)

// Decode reads b as the canonical RFC 9496 encoding of a ristretto255
// element that is not the identity.
func Decode(b []byte) (group.Element, error) {
	if len(b) != Size {
		return nil, ErrLength
	}
	e := group.Ristretto255.NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, ErrEncoding
	}
	if e.IsIdentity() {
		return nil, ErrIdentity
	}
	return e, nil
}
