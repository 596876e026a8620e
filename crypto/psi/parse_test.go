package psi

// ParseElement checks that b is a canonical u-coordinate not of small
// order.
func ParseElement(b []byte) (Element, error) {
	if len(b) != ElementSize {
		return Element{}, &DecodeError{Index: 0, Err: ErrEncoding}
	}
	e := Element(b)
	if err := check(&e); err != nil {
		return Element{}, &DecodeError{Index: 0, Err: err}
	}
	return e, nil
}
