package linkjob

import (
	"encoding/base64"

	"github.com/linkd/linkd/crypto/psi"
)

// EncodeElements writes elements in their wire form: standard base64 of
// each 32-byte encoding.
func EncodeElements(els []psi.Element) []string {
	out := make([]string, len(els))
	for i := range els {
		out[i] = base64.StdEncoding.EncodeToString(els[i][:])
	}
	return out
}

// DecodeElements reads elements from their wire form; the group
// checks (canonical, not of small order) are the receiver's.
func DecodeElements(in []string) ([]psi.Element, error) {
	out := make([]psi.Element, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil || len(b) != psi.ElementSize {
			return nil, protocolError("element %d: not %d bytes of standard base64", i, psi.ElementSize)
		}
		copy(out[i][:], b)
	}
	return out, nil
}
