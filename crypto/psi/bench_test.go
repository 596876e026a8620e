package psi

import (
	"fmt"
	"testing"

	"github.com/cloudflare/circl/group"
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

// BenchmarkBlind: hash to group plus one scalar multiplication and the
// encoding, this package beside the same circl calls.
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
			e := group.Ristretto255.NewElement().Mul(group.Ristretto255.HashToElement(in, dst), k.k)
			_, _ = e.MarshalBinaryCompress()
		}
	})
}

// BenchmarkReblind: strict decoding of a peer's element, one scalar
// multiplication and the encoding, beside the same circl calls.
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
	b.Run("circl", func(b *testing.B) {
		for b.Loop() {
			p := group.Ristretto255.NewElement()
			if err := p.UnmarshalBinary(e[:]); err != nil {
				b.Fatal(err)
			}
			_, _ = group.Ristretto255.NewElement().Mul(p, k.k).MarshalBinaryCompress()
		}
	})
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

// The strict decode of a batch of received values, on all cores: what a
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
