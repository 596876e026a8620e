package audience

import (
	"math"
	"math/rand/v2"
	"testing"
)

func seeded(seed byte) *Noise { return NewNoiseFrom(rand.NewChaCha8([32]byte{seed})) }

func TestEpsilonOf(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want Epsilon
		ok   bool
	}{{0.1, 100, true}, {1, 1000, true}, {0.001, 1, true}, {2.5, 2500, true},
		{0, 0, false}, {-0.1, 0, false}, {0.0005, 0, false}, {0.1234, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false}, {1001, 0, false}} {
		got, err := EpsilonOf(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("EpsilonOf(%v) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

// The sampler draws the discrete Laplace distribution: P(Z = z) =
// (1-a)/(1+a) a^|z| with a = exp(-ε). Over 200,000 draws each frequency
// of |z| <= 5 and the tail beyond the half-width are within five standard
// errors of the law, and the draws are symmetric.
func TestLaplaceLaw(t *testing.T) {
	for _, eps := range []Epsilon{100, 500, 1000, 2500} {
		n := seeded(byte(eps))
		const draws = 200000
		counts := map[int64]int{}
		var sum float64
		h := HalfWidth(eps)
		beyond := 0
		for range draws {
			z := n.Laplace(eps)
			counts[z]++
			sum += float64(z)
			if z > h || z < -h {
				beyond++
			}
		}
		a := math.Exp(-eps.Float())
		for z := int64(-5); z <= 5; z++ {
			p := (1 - a) / (1 + a) * math.Pow(a, math.Abs(float64(z)))
			se := math.Sqrt(p * (1 - p) / draws)
			if got := float64(counts[z]) / draws; math.Abs(got-p) > 5*se {
				t.Errorf("ε=%v: P(Z=%d) = %.5f, want %.5f ± %.5f", eps.Float(), z, got, p, 5*se)
			}
		}
		sd := math.Sqrt(2*a) / (1 - a)
		if mean := sum / draws; math.Abs(mean) > 5*sd/math.Sqrt(draws) {
			t.Errorf("ε=%v: mean %.4f, want 0 (sd %.3f)", eps.Float(), mean, sd)
		}
		pBeyond := 2 * math.Pow(a, float64(h+1)) / (1 + a)
		if pBeyond > 0.05 || 2*math.Pow(a, float64(h))/(1+a) <= 0.05 && h > 0 {
			t.Errorf("ε=%v: half-width %d is not the least with P(|Z|>h) <= 5%% (%.4f)", eps.Float(), h, pBeyond)
		}
		if got := float64(beyond) / draws; got > 0.05+5*math.Sqrt(0.05*0.95/draws) {
			t.Errorf("ε=%v: %.4f of draws beyond the half-width %d", eps.Float(), got, h)
		}
	}
}

// Two noise sources from crypto/rand do not repeat each other.
func TestNoiseIsFresh(t *testing.T) {
	a, b := NewNoise(), NewNoise()
	same := 0
	for range 200 {
		if a.Laplace(100) == b.Laplace(100) {
			same++
		}
	}
	// P(equal) per draw is about 0.05 for scale 10.
	if same > 40 {
		t.Fatalf("two crypto noise sources agreed %d times in 200", same)
	}
}

// At 10,000 members the released range holds the true size at least 95%
// of the time, and is never wider than the two-significant-digit bucket
// that sizes had before (2,000 at 10,000); at every size it keeps two
// significant digits and never shows a lower bound under the minimum.
func TestReleaseAccuracy(t *testing.T) {
	n := seeded(1)
	eps := Epsilon(100)
	min := func(lower int64) (bool, error) { return lower >= 100, nil }
	for _, size := range []int64{0, 1, 50, 99, 100, 130, 150, 999, 1000, 1234, 9999, 10000, 123456} {
		const trials = 4000
		held, ready := 0, 0
		for range trials {
			status, lower, upper, err := n.Bounds(size, eps, min)
			if err != nil {
				t.Fatal(err)
			}
			if status == StatusTooSmall {
				if lower != 0 || upper != 0 {
					t.Fatalf("too_small carries bounds %d-%d", lower, upper)
				}
				continue
			}
			ready++
			if lower < 100 || !twoSignificant(lower) || !twoSignificant(upper) || lower > upper {
				t.Fatalf("n=%d: released %d-%d", size, lower, upper)
			}
			if size == 10000 && upper-lower > 2000 {
				t.Fatalf("n=10000: range %d-%d is wider than 2,000", lower, upper)
			}
			if lower <= size && size <= upper {
				held++
			}
		}
		if size < 100 && ready > trials/20 {
			t.Errorf("n=%d: ready %d times in %d", size, ready, trials)
		}
		if size >= 200 && ready < trials {
			t.Errorf("n=%d: too_small %d times", size, trials-ready)
		}
		if size >= 200 {
			if share := float64(held) / float64(ready); share < 0.95 {
				t.Errorf("n=%d: the range held the size %.3f of the time", size, share)
			} else if size == 10000 {
				t.Logf("n=10000: the range held the size in %.1f%% of %d releases", 100*share, ready)
			}
		}
	}
}

func twoSignificant(v int64) bool {
	for v >= 100 {
		if v%10 != 0 {
			return false
		}
		v /= 10
	}
	return true
}

// Bounds refuses a zero epsilon and passes on the policy's error.
func TestBoundsErrors(t *testing.T) {
	if _, _, _, err := seeded(2).Bounds(10, 0, func(int64) (bool, error) { return true, nil }); err == nil {
		t.Fatal("epsilon 0 accepted")
	}
}

// The attackers of the boundary walk, played against the mechanism alone
// over 100,000 targets (half of them members): a release of the known list
// L plus a target against releases of L. Their success may not pass the
// bound of ε-differential privacy, exp(ε)/(1+exp(ε)) (52.5% at ε = 0.1),
// by more than three standard errors; a deterministic function of the
// member set would let them reach 100%.
func TestReleaseResistsTheWalk(t *testing.T) {
	allow := func(l int64) (bool, error) { return l >= 100, nil }
	for _, eps := range []Epsilon{50, 100} {
		n := seeded(byte(eps))
		// What the walk saw at the boundary, and the mean of 40 releases
		// of the list without the target.
		_, starLower, starUpper, _ := n.Bounds(151, eps, allow)
		var base float64
		for range 40 {
			_, l, u, _ := n.Bounds(150, eps, allow)
			base += float64(l+u) / 2 / 40
		}
		const targets = 100000
		walk, mean := 0, 0
		for j := range targets {
			member := j%2 == 0
			size := int64(150)
			if member {
				size++
			}
			_, l, u, _ := n.Bounds(size, eps, allow)
			if (l == starLower && u == starUpper) == member {
				walk++
			}
			if (float64(l+u)/2 >= base+0.5) == member {
				mean++
			}
		}
		bound := math.Exp(eps.Float())/(1+math.Exp(eps.Float())) + 3*math.Sqrt(0.25/targets)
		for name, right := range map[string]int{"walk": walk, "averaging": mean} {
			got := float64(right) / targets
			t.Logf("ε=%v: the %s attacker was right %.2f%% of the time (bound %.2f%%)", eps.Float(), name, 100*got, 100*bound)
			if got > bound {
				t.Errorf("ε=%v: the %s attacker was right %.2f%% of the time, over the bound %.2f%%", eps.Float(), name, 100*got, 100*bound)
			}
		}
	}
}
