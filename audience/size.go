package audience

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
)

// Size reporting.
//
// An advertiser never learns an audience's exact size: that would tell,
// from a list and the same list plus one number, whether that number's
// owner is a user. A size is reported as:
//
//	too_small                 when the bucket below says so (always when n < min)
//	[lower, upper]            otherwise, both with two significant digits
//
// where, for an audience of n members:
//
//	unit   = 10^max(0, digits(n)-2)         (10 for n in 100..999, 100 for 1000..9999, ...)
//	W      = 2 * unit                        the bucket width
//	m      = min over members a of HMAC(k, "member" || a)       a keyed min-hash
//	off    = HMAC(k, "offset" || m || unit) mod W                the bucket offset
//	b      = floor((n + off) / W) * W - off  the start of n's bucket: b <= n < b + W
//	lower = b rounded down, upper = b + W - 1 rounded up, to two
//	significant digits; too_small if lower < min.
//
// k is the party's size-noise key (secret, per key epoch).
//
// What this guarantees:
//   - The same members always give the same answer: nothing is gained by
//     asking again.
//   - The range always holds the true size, and n < min always reports
//     too_small.
//   - Adding or removing one member changes the answer only if n crosses
//     one of the secret bucket boundaries (probability 1/W, at most 1/20)
//     or the member changes the min-hash (probability 1/(n+1), at most
//     1/101). A differencing attacker who compares a list with the same
//     list plus one number is therefore right at most about
//     1/2 + (1/20 + 1/101)/2, under 53.5%; the test of this package plays
//     that attacker.
//
// What it does not guarantee: an attacker who makes many uploads, adding
// numbers one at a time, finds where the answer changes, and so learns that
// the number added at that step belongs to a user. Each step costs an
// upload batch; the daily budgets of uploaded entries and audiences bound
// how many such steps a tenant can make, and the audit log shows them.

// Size status values.
const (
	StatusEmpty    = "empty"     // nothing has been uploaded
	StatusTooSmall = "too_small" // below the minimum size, or in the bucket that reaches below it
	StatusReady    = "ready"
)

// Size is a reported audience size.
type Size struct {
	Status string
	// Lower and Upper bound the size when Status is StatusReady.
	Lower, Upper int64
}

// Sizer reports sizes under a secret key.
type Sizer struct {
	key []byte
}

// NewSizer makes a sizer from the party's 32-byte size-noise key.
func NewSizer(key []byte) (*Sizer, error) {
	if len(key) != 32 {
		return nil, errors.New("audience: the size-noise key must be 32 bytes")
	}
	return &Sizer{key: append([]byte(nil), key...)}, nil
}

// Report sizes an audience with the given members (each once) under the
// minimum size min: too_small when the bucket's lower bound is below min.
// (The server asks its policy bundle instead of comparing with min here.)
func (s *Sizer) Report(members []string, min int64) Size {
	lower, upper := s.Bucket(members)
	if lower < min || lower <= 0 {
		return Size{Status: StatusTooSmall}
	}
	return Size{Status: StatusReady, Lower: lower, Upper: upper}
}

// Bucket returns the rounded bounds of the members' bucket, before any
// threshold: lower <= n <= upper. A caller must not show them unless the
// threshold (the policy's minimum size, compared with lower) allows.
func (s *Sizer) Bucket(members []string) (lower, upper int64) {
	n := int64(len(members))
	unit := int64(1)
	for d := digits(n); d > 2; d-- {
		unit *= 10
	}
	w := 2 * unit
	var minHash uint64 = math.MaxUint64
	mac := hmac.New(sha256.New, s.key)
	var sum [sha256.Size]byte
	for _, a := range members {
		mac.Reset()
		mac.Write([]byte("member\x00"))
		mac.Write([]byte(a))
		if h := binary.BigEndian.Uint64(mac.Sum(sum[:0])); h < minHash {
			minHash = h
		}
	}
	mac.Reset()
	mac.Write([]byte("offset\x00"))
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], minHash)
	binary.BigEndian.PutUint64(buf[8:], uint64(unit))
	mac.Write(buf[:])
	off := int64(binary.BigEndian.Uint64(mac.Sum(sum[:0])) % uint64(w))
	b := (n+off)/w*w - off
	if b <= 0 {
		return 0, round2(b+w-1, true)
	}
	return round2(b, false), round2(b+w-1, true)
}

func digits(n int64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// round2 rounds v to two significant digits, down or up.
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
