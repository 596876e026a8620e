package oprf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cloudflare/circl/group"
	circl "github.com/cloudflare/circl/oprf"

	"github.com/linkd/linkd/crypto/internal/r255/r255test"
)

type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*h = d
	return err
}

type vectorSet struct {
	Identifier string   `json:"identifier"`
	Mode       int      `json:"mode"`
	Seed       hexBytes `json:"seed"`
	KeyInfo    hexBytes `json:"keyInfo"`
	SkSm       hexBytes `json:"skSm"`
	PkSm       hexBytes `json:"pkSm"`
	Vectors    []struct {
		Batch             int        `json:"batch"`
		Input             []hexBytes `json:"input"`
		Blind             []hexBytes `json:"blind"`
		BlindedElement    []hexBytes `json:"blindedElement"`
		EvaluationElement []hexBytes `json:"evaluationElement"`
		Output            []hexBytes `json:"output"`
		Proof             hexBytes   `json:"proof"`
		ProofRandomScalar hexBytes   `json:"proofRandomScalar"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) []vectorSet {
	t.Helper()
	data, err := os.ReadFile("testdata/rfc9497-ristretto255-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var sets []vectorSet
	if err := json.Unmarshal(data, &sets); err != nil {
		t.Fatal(err)
	}
	if len(sets) == 0 {
		t.Fatal("no vectors")
	}
	return sets
}

func bs(hs []hexBytes) [][]byte {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		out[i] = h
	}
	return out
}

func eqList(t *testing.T, what string, got [][]byte, want []hexBytes) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s[%d] = %x, want %x", what, i, got[i], []byte(want[i]))
		}
	}
}

// TestRFC9497Vectors runs the RFC's VOPRF ristretto255-SHA512 vectors
// through this package's own API, byte for byte: key derivation, blinding,
// evaluation, the batch proof, finalization and full evaluation.
func TestRFC9497Vectors(t *testing.T) {
	for _, set := range loadVectors(t) {
		if set.Identifier != Suite || set.Mode != int(circl.VerifiableMode) {
			t.Fatalf("unexpected vector set %s mode %d", set.Identifier, set.Mode)
		}
		s, err := NewServer(set.Seed, set.KeyInfo)
		if err != nil {
			t.Fatal(err)
		}
		if kb, _ := s.k.MarshalBinary(); !bytes.Equal(kb, set.SkSm) {
			t.Fatalf("skSm = %x, want %x", kb, []byte(set.SkSm))
		}
		if !bytes.Equal(s.PublicKey(), set.PkSm) {
			t.Fatalf("pkSm = %x, want %x", s.PublicKey(), []byte(set.PkSm))
		}
		c, err := NewClient(set.PkSm)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range set.Vectors {
			t.Run(fmt.Sprintf("vector%d", i+1), func(t *testing.T) {
				blinds := make([]circl.Blind, len(v.Blind))
				for j, b := range v.Blind {
					blinds[j] = group.Ristretto255.NewScalar()
					if err := blinds[j].UnmarshalBinary(b); err != nil {
						t.Fatal(err)
					}
				}
				blinding, blinded, err := c.blind(bs(v.Input), blinds)
				if err != nil {
					t.Fatal(err)
				}
				eqList(t, "BlindedElement", blinded, v.BlindedElement)

				r := group.Ristretto255.NewScalar()
				if err := r.UnmarshalBinary(v.ProofRandomScalar); err != nil {
					t.Fatal(err)
				}
				evaluated, proof, err := s.evaluate(blinded, r)
				if err != nil {
					t.Fatal(err)
				}
				eqList(t, "EvaluationElement", evaluated, v.EvaluationElement)
				if !bytes.Equal(proof, v.Proof) {
					t.Fatalf("proof = %x, want %x", proof, []byte(v.Proof))
				}

				out, err := c.Finalize(blinding, bs(v.EvaluationElement), v.Proof)
				if err != nil {
					t.Fatal(err)
				}
				eqList(t, "Output", out, v.Output)

				full, err := s.FullEvaluateBatch(bs(v.Input))
				if err != nil {
					t.Fatal(err)
				}
				eqList(t, "FullEvaluate", full, v.Output)

				// The production path, with a fresh proof, verifies and gives
				// the same outputs.
				evaluated, proof, err = s.Evaluate(blinded)
				if err != nil {
					t.Fatal(err)
				}
				out, err = c.Finalize(blinding, evaluated, proof)
				if err != nil {
					t.Fatal(err)
				}
				eqList(t, "Output (fresh proof)", out, v.Output)
			})
		}
	}
}

// invalidEncodings are RFC 9496's negative vectors, shared by every
// package that decodes elements.
var invalidEncodings = r255test.InvalidEncodings()

const identity = "0000000000000000000000000000000000000000000000000000000000000000"

func testServer(t testing.TB) *Server {
	t.Helper()
	s, err := NewServer(bytes.Repeat([]byte{0xa3}, 32), []byte("linkd test"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEvaluateRefusesBadElements(t *testing.T) {
	s := testServer(t)
	c, _ := NewClient(s.PublicKey())
	_, good, err := c.Blind([][]byte{[]byte("+905321234567"), []byte("+448444124653")})
	if err != nil {
		t.Fatal(err)
	}
	bad := append(invalidEncodings, mustHex(identity))
	for i, b := range bad {
		batch := [][]byte{good[0], good[1], b}
		ev, proof, err := s.Evaluate(batch)
		var ee *ElementError
		if !errors.As(err, &ee) || ee.Index != 2 || ev != nil || proof != nil {
			t.Errorf("encoding %d accepted or misreported: %v", i, err)
		}
		if _, err := NewClient(b); err == nil {
			t.Errorf("public key %d accepted", i)
		}
	}
	for _, b := range [][]byte{nil, make([]byte, 31), make([]byte, 33), append(append([]byte{}, good[0]...), 0)} {
		if _, _, err := s.Evaluate([][]byte{b}); err == nil || !strings.Contains(err.Error(), "want 32 bytes") {
			t.Errorf("length %d: %v", len(b), err)
		}
	}
	if _, _, err := s.Evaluate(nil); !errors.Is(err, ErrEmptyBatch) {
		t.Errorf("empty batch: %v", err)
	}
}

func TestFinalizeRefusesBadEvaluations(t *testing.T) {
	s := testServer(t)
	other, err := NewServer(bytes.Repeat([]byte{0x5c}, 32), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := NewClient(s.PublicKey())
	inputs := [][]byte{[]byte("+905321234567"), []byte("+448444124653"), []byte("+12025550143")}
	blinding, blinded, err := c.Blind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	ev, proof, err := s.Evaluate(blinded)
	if err != nil {
		t.Fatal(err)
	}
	// Evaluated under another key, with that key's own valid proof.
	ev2, proof2, _ := other.Evaluate(blinded)
	if _, err := c.Finalize(blinding, ev2, proof2); !errors.Is(err, ErrProof) {
		t.Errorf("other key: %v", err)
	}
	// Elements swapped.
	if _, err := c.Finalize(blinding, [][]byte{ev[1], ev[0], ev[2]}, proof); !errors.Is(err, ErrProof) {
		t.Errorf("swapped: %v", err)
	}
	// A flipped proof bit.
	p := append([]byte(nil), proof...)
	p[5] ^= 1
	if _, err := c.Finalize(blinding, ev, p); err == nil {
		t.Error("flipped proof accepted")
	}
	// One element missing.
	if _, err := c.Finalize(blinding, ev[:2], proof); !errors.Is(err, ErrCount) {
		t.Errorf("short: %v", err)
	}
	if _, err := c.Finalize(blinding, [][]byte{ev[0], ev[1], mustHex(identity)}, proof); err == nil {
		t.Error("identity evaluation accepted")
	}
	// And the honest answer still verifies, matching FullEvaluate.
	out, err := c.Finalize(blinding, ev, proof)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		full, _ := s.FullEvaluate(in)
		if !bytes.Equal(out[i], full) || len(full) != OutputSize {
			t.Fatalf("output %d differs from FullEvaluate", i)
		}
	}
}

func TestRedaction(t *testing.T) {
	s := testServer(t)
	c, _ := NewClient(s.PublicKey())
	b, _, _ := c.Blind([][]byte{[]byte("+905321234567")})
	if got := fmt.Sprintf("%v %+v %x", b, b, b); strings.Contains(got, "905321234567") || !strings.Contains(got, "[redacted]") {
		t.Errorf("blinding prints %q", got)
	}
	kb, _ := s.k.MarshalBinary()
	if got := fmt.Sprintf("%v %+v %#v %x", s, s, s, s); strings.Contains(got, fmt.Sprintf("%x", kb)) {
		t.Errorf("server prints its secret: %q", got)
	}
}

// FuzzEvaluate: any bytes cut into elements are evaluated or refused
// with an ElementError, never a panic; what is accepted re-encodes to itself.
func FuzzEvaluate(f *testing.F) {
	s := testServer(f)
	c, _ := NewClient(s.PublicKey())
	_, good, _ := c.Blind([][]byte{[]byte("+905321234567")})
	f.Add(good[0])
	f.Add(mustHex(identity))
	f.Add(invalidEncodings[0])
	f.Add(append(append([]byte{}, good[0]...), invalidEncodings[5]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch [][]byte
		for len(data) > ElementSize {
			batch = append(batch, data[:ElementSize])
			data = data[ElementSize:]
		}
		batch = append(batch, data)
		ev, proof, err := s.Evaluate(batch)
		if err != nil {
			var ee *ElementError
			if !errors.As(err, &ee) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(ev) != len(batch) || len(proof) != ProofSize {
			t.Fatal("answer of the wrong shape")
		}
		for i, b := range batch {
			e, err := decodeElement("x", i, b)
			if err != nil {
				t.Fatal(err)
			}
			re, _ := e.MarshalBinary()
			if !bytes.Equal(re, b) {
				t.Fatal("accepted a non-canonical encoding")
			}
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
