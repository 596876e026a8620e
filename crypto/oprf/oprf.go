// Package oprf is linkd's verifiable oblivious pseudorandom function: RFC 9497
// VOPRF mode with the ristretto255-SHA512 suite, on circl's implementation.
//
// An advertiser in private mode learns F(k, x) for its own numbers x without
// the party seeing x, and checks that the party used its published key:
//
//	Client(pk, inputs)                          Server(k)
//	------------------------------------------------------------
//	blinding, blinded = Blind(inputs)
//	                         blinded
//	                   ---------------->
//	                                 evaluated, proof = Evaluate(blinded)
//	                    evaluated, proof
//	                   <----------------
//	outputs = Finalize(blinding, evaluated, proof)
//
// outputs[i] = F(k, inputs[i]) = SHA-512(len || input || len ||
// k*HashToGroup(input) || "Finalize"), the 64-byte value the party computes
// for its own directory with FullEvaluate. In linkd the input is the E.164
// string with its "+", in UTF-8.
//
// Encodings are the RFC's: elements are 32-byte canonical ristretto255
// encodings (RFC 9496), the proof is c||s (64 bytes), the public key is an
// element. Every element received is decoded strictly: a non-canonical
// encoding, a non-point or the identity is refused with the index of the bad
// element. Evaluate makes one DLEQ proof for the whole batch, with RFC 9497's
// transcript (not zk/dleq's generic batch one, which other clients reject).
//
// Keys come from a 32-byte seed by the RFC's DeriveKeyPair, so a party's OPRF
// key is a function of its key file and epoch and is never stored.
package oprf

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/cloudflare/circl/group"
	circl "github.com/cloudflare/circl/oprf"
	"github.com/cloudflare/circl/zk/dleq"

	"github.com/linkd/linkd/crypto/internal/parallel"
	"github.com/linkd/linkd/crypto/internal/r255"
)

// Suite is the RFC 9497 ciphersuite identifier.
const Suite = "ristretto255-SHA512"

// Sizes of the encodings, in bytes.
const (
	ElementSize = 32
	ProofSize   = 64
	OutputSize  = 64
	SeedSize    = 32
	// MaxInputSize is the longest input the RFC's framing can carry.
	MaxInputSize = math.MaxUint16
)

var (
	suite = circl.SuiteRistretto255
	grp   = group.Ristretto255
)

// Errors.
var (
	ErrProof      = errors.New("oprf: the evaluation's proof does not verify against the public key")
	ErrEmptyBatch = errors.New("oprf: empty batch")
	ErrCount      = errors.New("oprf: the evaluation does not answer every blinded element")
)

// ElementError is a received element that is refused.
type ElementError struct {
	What   string // "blinded element", "evaluated element", "public key"
	Index  int
	Reason string
}

func (e *ElementError) Error() string {
	if e.What == "public key" {
		return "oprf: public key: " + e.Reason
	}
	return "oprf: " + e.What + " " + strconv.Itoa(e.Index) + ": " + e.Reason
}

// decodeElement reads one element strictly: exactly 32 bytes, the canonical
// RFC 9496 encoding of a point, not the identity.
func decodeElement(what string, i int, b []byte) (group.Element, error) {
	e, err := r255.Decode(b)
	if errors.Is(err, r255.ErrLength) {
		return nil, &ElementError{what, i, fmt.Sprintf("want %d bytes, got %d", ElementSize, len(b))}
	}
	if err != nil {
		return nil, &ElementError{what, i, err.Error()}
	}
	return e, nil
}

func decodeElements(what string, bs [][]byte) ([]group.Element, error) {
	out := make([]group.Element, len(bs))
	errs := make([]error, len(bs))
	parallel.For(len(bs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i], errs[i] = decodeElement(what, i, bs[i])
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func encodeElements(es []group.Element) ([][]byte, error) {
	out := make([][]byte, len(es))
	flat := make([]byte, 0, len(es)*ElementSize)
	for i, e := range es {
		b, err := e.MarshalBinaryCompress()
		if err != nil {
			return nil, fmt.Errorf("oprf: encoding element %d: %w", i, err)
		}
		flat = append(flat, b...)
		out[i] = flat[len(flat)-ElementSize : len(flat) : len(flat)]
	}
	return out, nil
}

// Server evaluates the OPRF under one key.
type Server struct {
	k      group.Scalar
	server circl.VerifiableServer
	pub    group.Element
	pubEnc []byte
}

// NewServer derives the key pair from a 32-byte seed and an info string
// (RFC 9497 DeriveKeyPair, VOPRF mode).
func NewServer(seed, info []byte) (*Server, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("oprf: a seed is %d bytes, got %d", SeedSize, len(seed))
	}
	key, err := circl.DeriveKey(suite, circl.VerifiableMode, seed, info)
	if err != nil {
		return nil, fmt.Errorf("oprf: deriving key: %w", err)
	}
	kb, err := key.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("oprf: %w", err)
	}
	k := grp.NewScalar()
	if err := k.UnmarshalBinary(kb); err != nil {
		return nil, fmt.Errorf("oprf: %w", err)
	}
	clear(kb)
	pubEnc, err := key.Public().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("oprf: %w", err)
	}
	pub := grp.NewElement().MulGen(k)
	return &Server{k: k, server: circl.NewVerifiableServer(suite, key), pub: pub, pubEnc: pubEnc}, nil
}

// PublicKey returns the encoded public key clients verify proofs against.
func (s *Server) PublicKey() []byte { return append([]byte(nil), s.pubEnc...) }

// Format implements fmt.Formatter: a server prints its public key only.
func (s *Server) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "oprf.Server{public key: %x}", s.pubEnc) }

// Evaluate answers a batch of blinded elements with the evaluated elements,
// in order, and one proof for the batch. A bad element refuses the batch.
func (s *Server) Evaluate(blinded [][]byte) (evaluated [][]byte, proof []byte, err error) {
	return s.evaluate(blinded, nil)
}

// evaluate uses r as the proof's randomness when given (the RFC's test
// vectors fix it), fresh randomness otherwise.
func (s *Server) evaluate(blinded [][]byte, r group.Scalar) ([][]byte, []byte, error) {
	if len(blinded) == 0 {
		return nil, nil, ErrEmptyBatch
	}
	in, err := decodeElements("blinded element", blinded)
	if err != nil {
		return nil, nil, err
	}
	out := make([]group.Element, len(in))
	parallel.For(len(in), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = grp.NewElement().Mul(in[i], s.k)
		}
	})
	prover := dleq.Prover{Params: dleq.Params{G: grp, H: suite.Hash(), DST: dst("")}}
	var p *dleq.Proof
	if r == nil {
		p, err = prover.ProveBatchRFC9497(s.k, s.pub, in, out, rand.Reader)
	} else {
		p, err = prover.ProveBatchWithRandomnessRFC9497(s.k, s.pub, in, out, r)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("oprf: proving: %w", err)
	}
	proof, err := p.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("oprf: encoding proof: %w", err)
	}
	enc, err := encodeElements(out)
	if err != nil {
		return nil, nil, err
	}
	return enc, proof, nil
}

// dst is the RFC 9497 context string: label || "OPRFV1-" || mode || "-" || suite.
func dst(label string) []byte {
	return append([]byte(label+"OPRFV1-"), append([]byte{circl.VerifiableMode, '-'}, Suite...)...)
}

// FullEvaluate computes F(k, input) for a party's own input, as a client's
// Finalize would.
func (s *Server) FullEvaluate(input []byte) ([]byte, error) {
	if len(input) > MaxInputSize {
		return nil, fmt.Errorf("oprf: input of %d bytes is longer than %d", len(input), MaxInputSize)
	}
	return s.server.FullEvaluate(input)
}

// FullEvaluateBatch computes F(k, inputs[i]) into outputs[i] on all cores.
func (s *Server) FullEvaluateBatch(inputs [][]byte) ([][]byte, error) {
	out := make([][]byte, len(inputs))
	errs := make([]error, len(inputs))
	parallel.For(len(inputs), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i], errs[i] = s.FullEvaluate(inputs[i])
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Client blinds inputs and verifies and finalizes evaluations against one
// public key.
type Client struct {
	c circl.VerifiableClient
}

// NewClient returns a client for the server with the given public key.
func NewClient(publicKey []byte) (*Client, error) {
	if _, err := decodeElement("public key", 0, publicKey); err != nil {
		return nil, err
	}
	pk := new(circl.PublicKey)
	if err := pk.UnmarshalBinary(suite, publicKey); err != nil {
		return nil, &ElementError{"public key", 0, "not a canonical ristretto255 encoding"}
	}
	return &Client{c: circl.NewVerifiableClient(suite, pk)}, nil
}

// Blinding is the client's secret state between Blind and Finalize: the
// inputs and their blinds. It prints as "[redacted]".
type Blinding struct {
	fd *circl.FinalizeData
	n  int
}

// Format implements fmt.Formatter.
func (*Blinding) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Blind blinds the inputs with fresh random scalars.
func (c *Client) Blind(inputs [][]byte) (*Blinding, [][]byte, error) {
	return c.blind(inputs, nil)
}

func (c *Client) blind(inputs [][]byte, blinds []circl.Blind) (*Blinding, [][]byte, error) {
	if len(inputs) == 0 {
		return nil, nil, ErrEmptyBatch
	}
	for i, in := range inputs {
		if len(in) > MaxInputSize {
			return nil, nil, fmt.Errorf("oprf: input %d: %d bytes is longer than %d", i, len(in), MaxInputSize)
		}
	}
	var (
		fd  *circl.FinalizeData
		req *circl.EvaluationRequest
		err error
	)
	if blinds == nil {
		fd, req, err = c.c.Blind(inputs)
	} else {
		fd, req, err = c.c.DeterministicBlind(inputs, blinds)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("oprf: blinding: %w", err)
	}
	enc, err := encodeElements(req.Elements)
	if err != nil {
		return nil, nil, err
	}
	return &Blinding{fd: fd, n: len(inputs)}, enc, nil
}

// Finalize verifies the proof over the batch and returns the outputs, in
// input order. A proof that does not verify gives ErrProof and no output.
func (c *Client) Finalize(b *Blinding, evaluated [][]byte, proof []byte) ([][]byte, error) {
	if b == nil || b.fd == nil {
		return nil, errors.New("oprf: Finalize without Blind")
	}
	if len(evaluated) != b.n {
		return nil, fmt.Errorf("%w: %d blinded, %d evaluated", ErrCount, b.n, len(evaluated))
	}
	els, err := decodeElements("evaluated element", evaluated)
	if err != nil {
		return nil, err
	}
	if len(proof) != ProofSize {
		return nil, fmt.Errorf("oprf: a proof is %d bytes, got %d", ProofSize, len(proof))
	}
	p := new(dleq.Proof)
	if err := p.UnmarshalBinary(grp, proof); err != nil {
		return nil, fmt.Errorf("oprf: proof: not two canonical scalars")
	}
	out, err := c.c.Finalize(b.fd, &circl.Evaluation{Elements: els, Proof: p})
	if errors.Is(err, circl.ErrInvalidProof) {
		return nil, ErrProof
	}
	if err != nil {
		return nil, fmt.Errorf("oprf: finalizing: %w", err)
	}
	return out, nil
}
