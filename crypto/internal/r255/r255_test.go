package r255

import (
	"errors"
	"testing"

	"github.com/cloudflare/circl/group"

	"github.com/linkd/linkd/crypto/internal/r255/r255test"
)

func TestDecodeRefusesRFC9496Invalid(t *testing.T) {
	bad := r255test.InvalidEncodings()
	if len(bad) != 29 {
		t.Fatalf("%d invalid encodings loaded, want RFC 9496's 29", len(bad))
	}
	for i, b := range bad {
		if _, err := Decode(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("encoding %d: %v", i, err)
		}
	}
	if _, err := Decode(r255test.Identity()); !errors.Is(err, ErrIdentity) {
		t.Errorf("identity: %v", err)
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := Decode(make([]byte, n)); !errors.Is(err, ErrLength) {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	g, _ := group.Ristretto255.Generator().MarshalBinary()
	if e, err := Decode(g); err != nil || !e.IsEqual(group.Ristretto255.Generator()) {
		t.Errorf("generator: %v", err)
	}
	g[31] |= 0x80 // the unused top bit must be zero
	if _, err := Decode(g); !errors.Is(err, ErrEncoding) {
		t.Errorf("generator with top bit: %v", err)
	}
}
