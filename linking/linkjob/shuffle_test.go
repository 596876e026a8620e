package linkjob

import (
	"fmt"
	"slices"
	"testing"
)

// Each batch is shuffled before it is sent: every position is used once,
// and over many batches of three each of the six orders comes about as
// often (a chi-square test at a bound a uniform shuffle exceeds about
// once in a million runs).
func TestShuffleIsAUniformPermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 1000} {
		p := shuffle(n)
		sorted := slices.Clone(p)
		slices.Sort(sorted)
		for i, v := range sorted {
			if v != i {
				t.Fatalf("shuffle(%d) = %v: not a permutation", n, p)
			}
		}
	}
	if slices.Equal(shuffle(1000), shuffle(1000)) {
		t.Fatal("two shuffles of 1000 came out the same")
	}
	const draws = 60000
	counts := map[string]int{}
	for range draws {
		counts[fmt.Sprint(shuffle(3))]++
	}
	if len(counts) != 6 {
		t.Fatalf("orders of three drawn: %v", counts)
	}
	want := float64(draws) / 6
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - want
		chi += d * d / want
	}
	// Five degrees of freedom: P(chi-square > 33.4) is about 1e-6.
	if chi > 33.4 {
		t.Fatalf("orders of three are not uniform: %v (chi-square %.1f)", counts, chi)
	}
}
