package psi

import "github.com/linkd/linkd/crypto/internal/r255"

// ParseElement checks that b is the canonical encoding of a group element
// other than the identity.
func ParseElement(b []byte) (Element, error) {
	if _, err := r255.Decode(b); err != nil {
		return Element{}, &DecodeError{Index: 0, Err: err}
	}
	return Element(b), nil
}
