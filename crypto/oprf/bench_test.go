package oprf

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/cloudflare/circl/group"
	circl "github.com/cloudflare/circl/oprf"
)

const benchBatch = 1000

func benchInputs(n int) [][]byte {
	in := make([][]byte, n)
	for i := range in {
		in[i] = fmt.Appendf(nil, "+9053%08d", i)
	}
	return in
}

// BenchmarkEvaluate: a batch of 1,000 blinded elements with one proof, this
// package (strict decoding, evaluation on all cores, encoding) beside
// circl's VerifiableServer with the same decoding and encoding done serially.
func BenchmarkEvaluate(b *testing.B) {
	s := testServer(b)
	c, _ := NewClient(s.PublicKey())
	_, blinded, err := c.Blind(benchInputs(benchBatch))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := s.Evaluate(blinded); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/element")
	})
	b.Run("circl", func(b *testing.B) {
		key, _ := circl.DeriveKey(circl.SuiteRistretto255, circl.VerifiableMode, bytes.Repeat([]byte{0xa3}, 32), []byte("linkd test"))
		srv := circl.NewVerifiableServer(circl.SuiteRistretto255, key)
		for b.Loop() {
			req := &circl.EvaluationRequest{Elements: make([]group.Element, len(blinded))}
			for i, e := range blinded {
				req.Elements[i] = group.Ristretto255.NewElement()
				if err := req.Elements[i].UnmarshalBinary(e); err != nil {
					b.Fatal(err)
				}
			}
			ev, err := srv.Evaluate(req)
			if err != nil {
				b.Fatal(err)
			}
			for _, e := range ev.Elements {
				_, _ = e.MarshalBinaryCompress()
			}
			_, _ = ev.Proof.MarshalBinary()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/element")
	})
}

func BenchmarkFullEvaluate(b *testing.B) {
	s := testServer(b)
	in := []byte("+905321234567")
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.FullEvaluate(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("circl", func(b *testing.B) {
		key, _ := circl.DeriveKey(circl.SuiteRistretto255, circl.VerifiableMode, bytes.Repeat([]byte{0xa3}, 32), []byte("linkd test"))
		srv := circl.NewVerifiableServer(circl.SuiteRistretto255, key)
		for b.Loop() {
			if _, err := srv.FullEvaluate(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFullEvaluateBatch: 1,000 inputs on all cores; compare its
// ns/element with BenchmarkFullEvaluate's ns/op.
func BenchmarkFullEvaluateBatch(b *testing.B) {
	s := testServer(b)
	in := benchInputs(benchBatch)
	for b.Loop() {
		if _, err := s.FullEvaluateBatch(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/element")
}
