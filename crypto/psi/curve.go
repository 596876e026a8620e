package psi

import (
	"crypto"
	_ "crypto/sha512" // expand_message_xmd's hash
	"crypto/subtle"
	"math/big"

	"github.com/cloudflare/circl/expander"
	fp "github.com/cloudflare/circl/math/fp25519"
)

// This file is RFC 9380's hash to curve25519 (section 6.7.1, Elligator 2,
// in the straight-line form of appendix G.2.1), for the suites
// curve25519_XMD:SHA-512_ELL2_RO_ (HashToCurve) and _NU_ (EncodeToCurve).
// The two mapped points are added, and the cofactor cleared, on the
// birationally equivalent twisted Edwards curve edwards25519 (RFC 7748
// section 4.1, RFC 9380 appendix G.2.2) with its complete addition law
// (RFC 8032 section 5.1.4), so that no input takes an exceptional path.
// Every step runs in constant time: the input may be a phone number.

// Point is an affine point of curve25519: the little-endian encodings of
// its coordinates u and v (RFC 7748). The identity has no affine form and
// is the all-zero Point.
type Point struct {
	U, V [32]byte
}

// HashToCurve is RFC 9380's hash_to_curve with the suite
// curve25519_XMD:SHA-512_ELL2_RO_ and domain separation tag dst.
func HashToCurve(msg, dst []byte) Point {
	p := hashToEdwards(msg, dst)
	return p.montgomery()
}

// EncodeToCurve is RFC 9380's encode_to_curve with the suite
// curve25519_XMD:SHA-512_ELL2_NU_: not uniform, one map instead of two.
func EncodeToCurve(msg, dst []byte) Point {
	var u [1]fp.Elt
	hashToField(msg, dst, u[:])
	p := mapToEdwards(&u[0])
	p.clearCofactor()
	return p.montgomery()
}

// hashToU is HashToCurve's u-coordinate alone: what a link element needs.
func hashToU(msg, dst []byte) [32]byte {
	p := hashToEdwards(msg, dst)
	return p.uOnly()
}

// hashToEdwards is hash_to_curve up to the result's coordinates: two
// field elements, each mapped, the sum cleared of the cofactor.
func hashToEdwards(msg, dst []byte) edwards {
	var u [2]fp.Elt
	hashToField(msg, dst, u[:])
	p := mapToEdwards(&u[0])
	q := mapToEdwards(&u[1])
	p.add(&p, &q)
	p.clearCofactor()
	return p
}

// fieldL is RFC 9380's L for p = 2^255-19: ceil((255 + 128) / 8).
const fieldL = 48

// hashToField is RFC 9380 section 5.2's hash_to_field with
// expand_message_xmd over SHA-512 (circl's expander), len(out) elements.
func hashToField(msg, dst []byte, out []fp.Elt) {
	b := expander.NewExpanderMD(crypto.SHA512, dst).Expand(msg, uint(fieldL*len(out)))
	for i := range out {
		reduce48(&out[i], b[i*fieldL:(i+1)*fieldL])
	}
}

// reduce48 sets z to the 48-byte big-endian integer be modulo p: with lo
// its low 256 bits and hi the rest, lo + 38*hi, since 2^256 = 38 mod p.
func reduce48(z *fp.Elt, be []byte) {
	var lo, hi fp.Elt
	for i := range 32 {
		lo[i] = be[fieldL-1-i]
	}
	for i := range 16 {
		hi[i] = be[15-i]
	}
	fp.Mul(&hi, &hi, &c38)
	fp.Add(z, &lo, &hi)
	fp.Modp(z)
}

// eq returns 1 if a = b mod p, else 0, in constant time.
func eq(a, b *fp.Elt) uint {
	var d fp.Elt
	fp.Sub(&d, a, b)
	fp.Modp(&d)
	var zero fp.Elt
	return uint(subtle.ConstantTimeCompare(d[:], zero[:]))
}

// sgn0 is RFC 9380's sgn0 for a prime field: the parity of x.
func sgn0(x *fp.Elt) uint {
	y := *x
	fp.Modp(&y)
	return uint(y[0] & 1)
}

// pow22523 sets z = x^((p-5)/8) = x^(2^252-3).
func pow22523(z, x *fp.Elt) {
	var t0, t1, t2, t3, t4 fp.Elt
	fp.Sqr(&t0, x)             // x^2
	fp.Sqr(&t1, &t0)           // x^4
	fp.Sqr(&t1, &t1)           // x^8
	fp.Mul(&t1, &t1, x)        // x^9
	fp.Mul(&t0, &t0, &t1)      // x^11
	fp.Sqr(&t0, &t0)           // x^22
	fp.Mul(&t0, &t0, &t1)      // x^(2^5-1)
	sqrMul(&t1, &t0, 5, &t0)   // x^(2^10-1)
	sqrMul(&t2, &t1, 10, &t1)  // x^(2^20-1)
	sqrMul(&t3, &t2, 20, &t2)  // x^(2^40-1)
	sqrMul(&t3, &t3, 10, &t1)  // x^(2^50-1)
	sqrMul(&t4, &t3, 50, &t3)  // x^(2^100-1)
	sqrMul(&t2, &t4, 100, &t4) // x^(2^200-1)
	sqrMul(&t2, &t2, 50, &t3)  // x^(2^250-1)
	sqrMul(&t2, &t2, 2, x)     // x^(2^252-3)
	*z = t2
}

// sqrMul sets z = x^(2^n) * y; z may alias x but not y.
func sqrMul(z, x *fp.Elt, n int, y *fp.Elt) {
	fp.Sqr(z, x)
	for range n - 1 {
		fp.Sqr(z, z)
	}
	fp.Mul(z, z, y)
}

// Constants, computed once from their definitions.
var (
	c38      = elt(big.NewInt(38))
	one      = elt(big.NewInt(1))
	curveJ   = elt(big.NewInt(486662)) // curve25519's A
	sqrtM1   fp.Elt                    // sqrt(-1)
	twoC1    fp.Elt                    // 2^((p+3)/8)
	sqrtMA   fp.Elt                    // sqrt(-486664), sgn0 = 0 (RFC 9380 G.2.2)
	edwards2 fp.Elt                    // 2d, d = -121665/121666
)

func init() {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	sqrt := func(x *big.Int) *big.Int {
		r := new(big.Int).ModSqrt(new(big.Int).Mod(x, p), p)
		if r.Bit(0) == 1 {
			r.Sub(p, r)
		}
		return r
	}
	sqrtM1 = elt(sqrt(big.NewInt(-1)))
	sqrtMA = elt(sqrt(big.NewInt(-486664)))
	c1 := new(big.Int).Rsh(new(big.Int).Add(p, big.NewInt(3)), 3)
	twoC1 = elt(new(big.Int).Exp(big.NewInt(2), c1, p))
	d := new(big.Int).Mul(big.NewInt(-121665), new(big.Int).ModInverse(big.NewInt(121666), p))
	edwards2 = elt(new(big.Int).Mod(new(big.Int).Lsh(d, 1), p))
}

// elt is the field element of a non-negative integer below p.
func elt(x *big.Int) fp.Elt {
	var e fp.Elt
	x.FillBytes(e[:])
	for i, j := 0, len(e)-1; i < j; i, j = i+1, j-1 {
		e[i], e[j] = e[j], e[i]
	}
	return e
}

// ell2 is RFC 9380 appendix G.2.1's map_to_curve_elligator2_curve25519:
// the point (xn/xd, y) of curve25519.
func ell2(u *fp.Elt) (xn, xd, y fp.Elt) {
	var tv1, tv2, tv3, x1n, gxd, gx1, y11, y12, y1, x2n, y21, y22, gx2, y2 fp.Elt
	fp.Sqr(&tv1, u)
	fp.Add(&tv1, &tv1, &tv1) // 2u^2
	fp.Add(&xd, &tv1, &one)  // never 0: -1 is a square, 2u^2 is not
	fp.Neg(&x1n, &curveJ)
	fp.Sqr(&tv2, &xd)
	fp.Mul(&gxd, &tv2, &xd)
	fp.Mul(&gx1, &curveJ, &tv1)
	fp.Mul(&gx1, &gx1, &x1n)
	fp.Add(&gx1, &gx1, &tv2)
	fp.Mul(&gx1, &gx1, &x1n) // g(x1) = gx1/gxd
	fp.Sqr(&tv3, &gxd)
	fp.Sqr(&tv2, &tv3)       // gxd^4
	fp.Mul(&tv3, &tv3, &gxd) // gxd^3
	fp.Mul(&tv3, &tv3, &gx1)
	fp.Mul(&tv2, &tv2, &tv3) // gx1*gxd^7
	pow22523(&y11, &tv2)
	fp.Mul(&y11, &y11, &tv3)
	fp.Mul(&y12, &y11, &sqrtM1)
	fp.Sqr(&tv2, &y11)
	fp.Mul(&tv2, &tv2, &gxd)
	y1 = y12
	fp.Cmov(&y1, &y11, eq(&tv2, &gx1)) // the square root of g(x1), if any
	fp.Mul(&x2n, &x1n, &tv1)           // x2 = 2u^2 * x1
	fp.Mul(&y21, &y11, u)
	fp.Mul(&y21, &y21, &twoC1)
	fp.Mul(&y22, &y21, &sqrtM1)
	fp.Mul(&gx2, &gx1, &tv1)
	fp.Sqr(&tv2, &y21)
	fp.Mul(&tv2, &tv2, &gxd)
	y2 = y22
	fp.Cmov(&y2, &y21, eq(&tv2, &gx2)) // the square root of g(x2), if any
	fp.Sqr(&tv2, &y1)
	fp.Mul(&tv2, &tv2, &gxd)
	e3 := eq(&tv2, &gx1)
	xn = x2n
	fp.Cmov(&xn, &x1n, e3)
	y = y2
	fp.Cmov(&y, &y1, e3)
	var neg fp.Elt
	fp.Neg(&neg, &y)
	fp.Cmov(&y, &neg, e3^sgn0(&y))
	return xn, xd, y
}

// edwards is a point of edwards25519 in extended coordinates (X:Y:Z:T),
// x = X/Z, y = Y/Z, xy = T/Z.
type edwards struct {
	X, Y, Z, T fp.Elt
}

// mapToEdwards maps u to curve25519 (ell2) and that point to edwards25519
// by RFC 7748's rational map, as RFC 9380 appendix G.2.2 does: the
// point (0, 0), which the map does not cover, becomes the identity.
func mapToEdwards(u *fp.Elt) edwards {
	xMn, xMd, yM := ell2(u)
	var xn, xd, yn, yd, tv fp.Elt
	fp.Mul(&xn, &xMn, &sqrtMA)
	xd = yM
	fp.Mul(&xd, &xd, &xMd)
	fp.Sub(&yn, &xMn, &xMd)
	fp.Add(&yd, &xMn, &xMd)
	fp.Mul(&tv, &xd, &yd)
	var zero fp.Elt
	e := eq(&tv, &zero)
	fp.Cmov(&xn, &zero, e)
	fp.Cmov(&xd, &one, e)
	fp.Cmov(&yn, &one, e)
	fp.Cmov(&yd, &one, e)
	// Here yMd = 1, so xn/xd = sqrt(-486664) * (xMn/xMd) / yM.
	var p edwards
	fp.Mul(&p.X, &xn, &yd)
	fp.Mul(&p.Y, &yn, &xd)
	fp.Mul(&p.Z, &xd, &yd)
	fp.Mul(&p.T, &xn, &yn)
	return p
}

// add sets p = a + b with the complete formulas for a = -1 (RFC 8032
// section 5.1.4); a, b and p may alias.
func (p *edwards) add(a, b *edwards) {
	var A, B, C, D, E, F, G, H, t fp.Elt
	fp.Sub(&A, &a.Y, &a.X)
	fp.Sub(&t, &b.Y, &b.X)
	fp.Mul(&A, &A, &t)
	fp.Add(&B, &a.Y, &a.X)
	fp.Add(&t, &b.Y, &b.X)
	fp.Mul(&B, &B, &t)
	fp.Mul(&C, &a.T, &b.T)
	fp.Mul(&C, &C, &edwards2)
	fp.Mul(&D, &a.Z, &b.Z)
	fp.Add(&D, &D, &D)
	fp.Sub(&E, &B, &A)
	fp.Sub(&F, &D, &C)
	fp.Add(&G, &D, &C)
	fp.Add(&H, &B, &A)
	fp.Mul(&p.X, &E, &F)
	fp.Mul(&p.Y, &G, &H)
	fp.Mul(&p.T, &E, &H)
	fp.Mul(&p.Z, &F, &G)
}

// clearCofactor multiplies p by curve25519's cofactor, 8 (RFC 9380
// section 7: h_eff = 8).
func (p *edwards) clearCofactor() {
	for range 3 {
		p.add(p, p)
	}
}

// montgomery returns p on curve25519, by RFC 7748's map u = (1+y)/(1-y),
// v = sqrt(-486664)*u/x: one inversion for both coordinates.
func (p *edwards) montgomery() Point {
	var n, d, inv, u, v fp.Elt
	fp.Add(&n, &p.Z, &p.Y) // u = n/(Z-Y), v = sqrt(-486664)*n*Z/((Z-Y)*X)
	fp.Sub(&d, &p.Z, &p.Y)
	fp.Mul(&d, &d, &p.X)
	fp.Inv(&inv, &d) // 0 for the identity (and the 2-torsion), whose Point is zero
	fp.Mul(&u, &n, &p.X)
	fp.Mul(&u, &u, &inv)
	fp.Mul(&v, &n, &p.Z)
	fp.Mul(&v, &v, &sqrtMA)
	fp.Mul(&v, &v, &inv)
	var out Point
	_ = fp.ToBytes(out.U[:], &u)
	_ = fp.ToBytes(out.V[:], &v)
	return out
}

// uOnly returns p's u-coordinate on curve25519, (Z+Y)/(Z-Y): 0 for the
// identity.
func (p *edwards) uOnly() [32]byte {
	var n, d, u fp.Elt
	fp.Add(&n, &p.Z, &p.Y)
	fp.Sub(&d, &p.Z, &p.Y)
	fp.Inv(&d, &d)
	fp.Mul(&u, &n, &d)
	var out [32]byte
	_ = fp.ToBytes(out[:], &u)
	return out
}
