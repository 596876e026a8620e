package psi

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"slices"
	"testing"

	fp "github.com/cloudflare/circl/math/fp25519"
)

type curveVectors struct {
	Suites []struct {
		Suite   string
		DST     string
		Vectors []struct {
			Msg string
			PX  string `json:"P.x"`
			PY  string `json:"P.y"`
			U   []string
			Q   [][2]string
		}
	}
}

// be is the big-endian hex of a little-endian field encoding, as RFC 9380
// prints its vectors.
func be(le []byte) string {
	b := slices.Clone(le)
	slices.Reverse(b)
	return hex.EncodeToString(b)
}

func eltHex(x fp.Elt) string {
	var b [32]byte
	_ = fp.ToBytes(b[:], &x)
	return be(b[:])
}

// TestCurveVectors checks every intermediate value of RFC 9380's vectors
// for curve25519_XMD:SHA-512_ELL2_RO_ and _NU_: the field elements u, the
// mapped points Q, and the result P through HashToCurve, EncodeToCurve and
// the u-coordinate a link element is made from.
func TestCurveVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc9380_curve25519.json")
	if err != nil {
		t.Fatal(err)
	}
	var v curveVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Suites) != 2 {
		t.Fatalf("%d suites in the vectors, want 2", len(v.Suites))
	}
	for _, s := range v.Suites {
		ro := s.Suite == "curve25519_XMD:SHA-512_ELL2_RO_"
		if len(s.Vectors) != 5 {
			t.Fatalf("%s: %d vectors, want 5", s.Suite, len(s.Vectors))
		}
		for _, tc := range s.Vectors {
			name := s.Suite + " " + tc.Msg[:min(len(tc.Msg), 8)]
			dst, msg := []byte(s.DST), []byte(tc.Msg)
			u := make([]fp.Elt, len(tc.U))
			hashToField(msg, dst, u)
			for i := range u {
				if got := eltHex(u[i]); got != tc.U[i] {
					t.Errorf("%s: u[%d] = %s, want %s", name, i, got, tc.U[i])
				}
				xn, xd, y := ell2(&u[i])
				fp.Inv(&xd, &xd)
				fp.Mul(&xn, &xn, &xd)
				if got := eltHex(xn); got != tc.Q[i][0] {
					t.Errorf("%s: Q%d.x = %s, want %s", name, i, got, tc.Q[i][0])
				}
				if got := eltHex(y); got != tc.Q[i][1] {
					t.Errorf("%s: Q%d.y = %s, want %s", name, i, got, tc.Q[i][1])
				}
			}
			var p Point
			if ro {
				p = HashToCurve(msg, dst)
				if u := hashToU(msg, dst); u != p.U {
					t.Errorf("%s: hashToU = %x, HashToCurve's u %x", name, u, p.U)
				}
			} else {
				p = EncodeToCurve(msg, dst)
			}
			if got := be(p.U[:]); got != tc.PX {
				t.Errorf("%s: P.x = %s, want %s", name, got, tc.PX)
			}
			if got := be(p.V[:]); got != tc.PY {
				t.Errorf("%s: P.y = %s, want %s", name, got, tc.PY)
			}
		}
	}
}

var fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

// FuzzReduce48 checks the reduction of hash_to_field's 48-byte integers
// against math/big, for any 48 bytes.
func FuzzReduce48(f *testing.F) {
	f.Add(make([]byte, 48))
	f.Add(slices.Repeat([]byte{0xff}, 48))
	f.Add(append(make([]byte, 16), fieldP.Bytes()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != fieldL {
			return
		}
		var z fp.Elt
		reduce48(&z, b)
		want := new(big.Int).Mod(new(big.Int).SetBytes(b), fieldP)
		if got := eltHex(z); got != hex.EncodeToString(want.FillBytes(make([]byte, 32))) {
			t.Fatalf("reduce48(%x) = %s, want %x", b, got, want)
		}
	})
}

// TestPow22523 checks the addition chain against math/big.
func TestPow22523(t *testing.T) {
	e := new(big.Int).Rsh(new(big.Int).Sub(fieldP, big.NewInt(5)), 3)
	for _, x := range []int64{0, 1, 2, 3, 486662, 1 << 40} {
		var z fp.Elt
		in := elt(big.NewInt(x))
		pow22523(&z, &in)
		want := new(big.Int).Exp(big.NewInt(x), e, fieldP)
		if got := eltHex(z); got != hex.EncodeToString(want.FillBytes(make([]byte, 32))) {
			t.Errorf("%d^((p-5)/8) = %s, want %x", x, got, want)
		}
	}
}
