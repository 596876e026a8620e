package pseudonym

import "github.com/linkd/linkd/phone"

// Derive computes the pseudonyms of one number.
func (d *Deriver) Derive(n phone.Number) (Set, error) {
	s, err := d.DeriveBatch([]phone.Number{n})
	if err != nil {
		return Set{}, err
	}
	return s[0], nil
}
