package audience

import (
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/linkd/linkd/store"
)

// Size releases under differential privacy.
//
// An advertiser must not learn whether one person is in an audience, and
// so whether that person is a user. No deterministic function of the
// member set protects that: an advertiser who re-uploads prefixes of a
// list finds the step where the answer changes, and from then on tests any
// number with one upload (the boundary walk). Every size an advertiser
// sees is therefore a release with fresh random noise:
//
//	n      = the distinct numbers among the audience's members (one person
//	         changes n by at most 1, however many accounts share a number)
//	Z      ~ discrete Laplace of scale 1/ε:  P(Z = z) ∝ exp(-ε|z|)
//	ñ      = n + Z
//	h      = the least h with P(|Z| > h) ≤ 5%
//	lower  = ñ - h rounded down, upper = ñ + h rounded up, each to two
//	         significant digits (lower at least 0)
//	status = ready when the policies let lower be shown (it is at least
//	         the catalogue's minimum size), else too_small
//
// where ε is the catalogue's epsilon per release. The noise comes from
// crypto/rand through an exact sampler (Canonne, Kamath and Steinke, "The
// Discrete Gaussian for Differential Privacy", 2020, algorithms 1 and 2:
// integer arithmetic only, so no floating-point artefact carries n). The
// bounds and the status are computed from ñ alone, so the release is
// ε-differentially private (δ = 0) with respect to one person's presence.
//
// Each fresh release spends ε from the tenant's daily budget (the
// catalogue's epsilon per day), across all its audiences, keys and modes.
// A release is kept with the version of the audience's content it was
// computed from and answered again until an upload batch changes that
// version; the version moves with every batch applied, matched or not, so
// whether a release is fresh never depends on who matched. When the budget
// is spent, the last release is repeated (stale) with the time the budget
// renews. By basic composition one person's presence changes what one
// tenant sees of one party in one day by a factor of at most exp(ε per
// day), and over D days exp(D × ε per day). SECURITY.md states the
// guarantee and what it does not cover.

// Size status values.
const (
	StatusEmpty    = "empty"     // nothing has been uploaded
	StatusTooSmall = "too_small" // the release is below the minimum size
	StatusReady    = "ready"
	// StatusBudgetSpent: the tenant's privacy budget is spent and the
	// audience has had no release yet; one becomes possible at the
	// budget's renewal.
	StatusBudgetSpent = "budget_spent"
)

// EpsilonOf converts a catalogue value to thousandths; it refuses values
// that are not positive whole thousandths.
func EpsilonOf(v float64) (Epsilon, error) {
	m := math.Round(v * 1000)
	if !(v > 0) || m < 1 || math.Abs(v*1000-m) > 1e-6 || m > 1e6 {
		return 0, fmt.Errorf("audience: epsilon %v is not a positive multiple of 0.001 up to 1000", v)
	}
	return Epsilon(m), nil
}

// Noise draws the random numbers of releases. The zero value is not
// usable: NewNoise draws from crypto/rand; tests may give a seeded source.
type Noise struct {
	r *rand.Rand
}

// NewNoise returns noise from crypto/rand.
func NewNoise() *Noise { return &Noise{r: rand.New(cryptoSource{})} }

// NewNoiseFrom returns noise drawn from src: for tests and simulations,
// never for releases an advertiser sees.
func NewNoiseFrom(src rand.Source) *Noise { return &Noise{r: rand.New(src)} }

type cryptoSource struct{}

func (cryptoSource) Uint64() uint64 {
	var b [8]byte
	if _, err := crand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24 on).
		panic("audience: crypto/rand failed: " + err.Error())
	}
	return binary.LittleEndian.Uint64(b[:])
}

// bernoulli returns true with probability num/den (0 ≤ num ≤ den, den > 0).
func (n *Noise) bernoulli(num, den uint64) bool {
	return n.r.Uint64N(den) < num
}

// bernoulliExp returns true with probability exp(-num/den), num ≥ 0,
// den > 0 (CKS algorithm 1).
func (n *Noise) bernoulliExp(num, den uint64) bool {
	for num > den {
		if !n.bernoulliExp(1, 1) {
			return false
		}
		num -= den
	}
	// num/den in [0, 1]: K is the first index with A_K = 0, where A_k is
	// Bernoulli(γ/k); the answer is whether K is odd.
	k := uint64(1)
	for n.bernoulli(num, den*k) {
		k++
	}
	return k%2 == 1
}

// Laplace draws from the discrete Laplace distribution of scale 1/eps:
// P(Z = z) ∝ exp(-eps·|z|) (CKS algorithm 2 with s = eps in thousandths,
// t = 1000).
func (n *Noise) Laplace(eps Epsilon) int64 {
	const t = 1000
	s := uint64(eps)
	for {
		u := n.r.Uint64N(t)
		if !n.bernoulliExp(u, t) {
			continue
		}
		v := uint64(0)
		for n.bernoulliExp(1, 1) {
			v++
		}
		x := u + t*v // geometric: P(x) ∝ exp(-x/t)
		y := int64(x / s)
		if n.bernoulli(1, 2) {
			if y == 0 {
				continue
			}
			return -y
		}
		return y
	}
}

// HalfWidth is the least h with P(|Z| > h) ≤ 5% for Z of Laplace(eps):
// the margin on each side of the noisy count.
func HalfWidth(eps Epsilon) int64 {
	// P(|Z| > h) = 2a^(h+1)/(1+a) with a = exp(-ε).
	a := math.Exp(-eps.Float())
	h := math.Ceil(math.Log(0.05*(1+a)/2)/math.Log(a)) - 1
	if h < 0 {
		return 0
	}
	return int64(h)
}

// Bounds computes a release's bounds from the number of people n: fresh
// noise, the margin, and rounding outward to two significant digits.
// allow decides whether the lower bound may be shown (the policies'
// minimum size); it sees only the noisy bound.
func (n *Noise) Bounds(people int64, eps Epsilon, allow func(lower int64) (bool, error)) (status string, lower, upper int64, err error) {
	if eps < 1 {
		return "", 0, 0, errors.New("audience: a release needs a positive epsilon")
	}
	noisy := people + n.Laplace(eps)
	h := HalfWidth(eps)
	lower, upper = round2(max(noisy-h, 0), false), round2(max(noisy+h, 0), true)
	ok, err := allow(lower)
	if err != nil {
		return "", 0, 0, err
	}
	if !ok {
		return StatusTooSmall, 0, 0, nil
	}
	return StatusReady, lower, upper, nil
}

func digits(n int64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// round2 rounds v ≥ 0 to two significant digits, down or up.
func round2(v int64, up bool) int64 {
	p := int64(1)
	for d := digits(v); d > 2; d-- {
		p *= 10
	}
	r := v / p * p
	if up && r < v {
		r += p
	}
	return r
}

// Epsilon and Release are the store's records.
type (
	Epsilon = store.Epsilon
	Release = store.SizeRelease
)
