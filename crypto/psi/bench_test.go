package psi

import (
	"crypto/sha512"
	"fmt"
	"testing"

	"github.com/cloudflare/circl/dh/x25519"
	"github.com/cloudflare/circl/group"
	gtank "github.com/gtank/ristretto255"

	"github.com/linkd/linkd/crypto/internal/parallel"
)

const benchBatch = 1000

// benchInputs is a batch of benchBatch distinct numbers.
func benchInputs() [][]byte {
	in := make([][]byte, benchBatch)
	for i := range in {
		in[i] = fmt.Appendf(nil, "+9053%08d", i)
	}
	return in
}

// reportPerElement reports the time of one element of a batch.
func reportPerElement(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/element")
}

// BenchmarkBlind: hash to curve plus one X25519 multiplication, this
// package beside the same circl calls.
func BenchmarkBlind(b *testing.B) {
	k := randomKey(b)
	in := []byte("+905321234567")
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			_ = k.Blind(in)
		}
	})
	b.Run("circl", func(b *testing.B) {
		dst := []byte(DST)
		for b.Loop() {
			u := x25519.Key(HashToCurve(in, dst).U)
			var out x25519.Key
			x25519.Shared(&out, k.k, &u)
		}
	})
}

// BenchmarkReblind: the checks of a peer's element and one X25519
// multiplication, beside circl's dh/x25519 alone, the ristretto255
// re-blinding linkd did before (strict decode, multiply, encode, with
// circl's group), and the two operations of optable/match's DH-PSI with
// gtank/ristretto255: SHA-512, map, multiply and encode an input;
// decode, multiply and encode a peer's element.
func BenchmarkReblind(b *testing.B) {
	k, peer := randomKey(b), randomKey(b)
	e := peer.Blind([]byte("+905321234567"))
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.Reblind(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl-x25519", func(b *testing.B) {
		pub := x25519.Key(e)
		var out x25519.Key
		for b.Loop() {
			if !x25519.Shared(&out, k.k, &pub) {
				b.Fatal("low order")
			}
		}
	})
	r255 := group.Ristretto255
	rk := r255.HashToScalar([]byte("bench"), []byte("bench"))
	re, _ := r255.NewElement().Mul(r255.HashToElement([]byte("+905321234567"), []byte("bench")), rk).MarshalBinaryCompress()
	b.Run("ristretto255-circl", func(b *testing.B) {
		for b.Loop() {
			p := r255.NewElement()
			if err := p.UnmarshalBinary(re); err != nil {
				b.Fatal(err)
			}
			_, _ = r255.NewElement().Mul(p, rk).MarshalBinaryCompress()
		}
	})
	gk := gtankScalar()
	b.Run("ristretto255-gtank", func(b *testing.B) {
		out := make([]byte, 0, 32)
		for b.Loop() {
			p := gtank.NewElement()
			if err := p.Decode(re); err != nil {
				b.Fatal(err)
			}
			out = gtank.NewElement().ScalarMult(gk, p).Encode(out[:0])
		}
	})
	b.Run("ristretto255-gtank-hash", func(b *testing.B) {
		in := []byte("+905321234567")
		out := make([]byte, 0, 32)
		for b.Loop() {
			h := sha512.Sum512(in)
			p := gtank.NewElement().FromUniformBytes(h[:])
			out = gtank.NewElement().ScalarMult(gk, p).Encode(out[:0])
		}
	})
}

func gtankScalar() *gtank.Scalar {
	h := sha512.Sum512([]byte("bench key"))
	return gtank.NewScalar().FromUniformBytes(h[:])
}

// BenchmarkPeerFloor is, on all cores and per element, the group
// operations optable/match's DH-PSI spends on each element pair of a run,
// with gtank/ristretto255: two hashes and multiplications of an input,
// two decodes and multiplications of a peer's element.
func BenchmarkPeerFloor(b *testing.B) {
	gk := gtankScalar()
	in := benchInputs()
	enc := make([][]byte, len(in))
	for i := range in {
		h := sha512.Sum512(in[i])
		enc[i] = gtank.NewElement().ScalarMult(gk, gtank.NewElement().FromUniformBytes(h[:])).Encode(nil)
	}
	for b.Loop() {
		parallel.For(len(in), func(lo, hi int) {
			out := make([]byte, 0, 32)
			for i := lo; i < hi; i++ {
				for range 2 {
					h := sha512.Sum512(in[i])
					out = gtank.NewElement().ScalarMult(gk, gtank.NewElement().FromUniformBytes(h[:])).Encode(out[:0])
					p := gtank.NewElement()
					if err := p.Decode(enc[i]); err != nil {
						panic(err)
					}
					out = gtank.NewElement().ScalarMult(gk, p).Encode(out[:0])
				}
			}
		})
	}
	reportPerElement(b)
}

// The batch forms on all cores; compare ns/element with the single forms.
func BenchmarkBlindBatch(b *testing.B) {
	k := randomKey(b)
	in := benchInputs()
	for b.Loop() {
		_ = k.BlindBatch(in)
	}
	reportPerElement(b)
}

func BenchmarkReblindBatch(b *testing.B) {
	k, peer := randomKey(b), randomKey(b)
	in := benchInputs()
	els := peer.BlindBatch(in)
	for b.Loop() {
		if _, err := k.ReblindBatch(els); err != nil {
			b.Fatal(err)
		}
	}
	reportPerElement(b)
}

// The checks of a batch of received values: what a
// party spends on each value the other returns, beside the re-blinding.
func BenchmarkCheckElements(b *testing.B) {
	k := randomKey(b)
	in := benchInputs()
	els := k.BlindBatch(in)
	for b.Loop() {
		if err := CheckElements(els); err != nil {
			b.Fatal(err)
		}
	}
	reportPerElement(b)
}
