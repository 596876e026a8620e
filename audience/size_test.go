package audience

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

func testSizer(t *testing.T, seed byte) *Sizer {
	t.Helper()
	s, err := NewSizer(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func members(r *rand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "acct-" + strconv.FormatUint(r.Uint64(), 36)
	}
	return out
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

func TestSizeRangeHoldsTheTruth(t *testing.T) {
	s := testSizer(t, 1)
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 50, 99, 100, 101, 150, 999, 1000, 1234, 9999, 10000, 123456} {
		m := members(r, n)
		got := s.Report(m, 100)
		if n < 100 && got.Status != StatusTooSmall {
			t.Fatalf("n=%d below the minimum reported %+v", n, got)
		}
		if got.Status == StatusTooSmall {
			if got.Lower != 0 || got.Upper != 0 {
				t.Fatalf("too_small carries bounds: %+v", got)
			}
			if n >= 200 {
				t.Fatalf("n=%d reported too_small", n)
			}
			continue
		}
		if got.Lower > int64(n) || got.Upper < int64(n) || got.Lower < 100 || !twoSignificant(got.Lower) || !twoSignificant(got.Upper) {
			t.Fatalf("n=%d: %+v", n, got)
		}
		if again := s.Report(m, 100); again != got {
			t.Fatalf("the same members gave %+v then %+v", got, again)
		}
		// Order does not matter.
		rev := append([]string(nil), m...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		if s.Report(rev, 100) != got {
			t.Fatalf("n=%d: the order of members changed the answer", n)
		}
	}
}

func TestSizeIsKeyed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := testSizer(t, 1), testSizer(t, 2)
	differ := 0
	for range 200 {
		m := members(r, 100+r.IntN(900))
		if a.Report(m, 100) != b.Report(m, 100) {
			differ++
		}
	}
	if differ < 50 {
		t.Fatalf("two keys gave the same answer for %d of 200 audiences", 200-differ)
	}
	if _, err := NewSizer(make([]byte, 31)); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// The differencing attacker: for each of 1,000 trials it is given the
// answer for a list and for the same list plus one number, whose owner is
// a user (a member) or not with even odds, and guesses "user" when the two
// answers differ (the best test there is when an unchanged member set
// gives an unchanged answer). It must be right at most 55% of the time.
func TestDifferencingAttacker(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := testSizer(t, 9)
	const trials = 1000
	right := 0
	for range trials {
		base := members(r, 100+r.IntN(5000))
		user := r.IntN(2) == 1
		with := base
		if user {
			with = append(append([]string(nil), base...), "acct-x"+strconv.FormatUint(r.Uint64(), 36))
		}
		guess := s.Report(base, 100) != s.Report(with, 100)
		if guess == user {
			right++
		}
	}
	rate := float64(right) / trials
	t.Logf("differencing attacker: right in %d of %d trials (%.1f%%)", right, trials, 100*rate)
	if rate > 0.55 {
		t.Fatalf("the attacker is right %.1f%% of the time, more than 55%%", 100*rate)
	}
}

func BenchmarkSizeReport(b *testing.B) {
	s, _ := NewSizer(bytes.Repeat([]byte{1}, 32))
	for _, n := range []int{1000, 100000} {
		m := members(rand.New(rand.NewPCG(1, 1)), n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				s.Report(m, 100)
			}
		})
	}
}
