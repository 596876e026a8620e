// Package synth makes synthetic phone numbers and directories for tests,
// benchmarks and the demo: valid numbers of the seeds' countries, written
// the way people write them at home.
package synth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/linkd/linkd/phone"
)

// Person is one synthetic number.
type Person struct {
	Country  string // ISO code
	E164     string
	National string // as written at home, with the trunk prefix
}

type plan struct {
	country string
	cc      string // country calling code
	prefix  string // national significant number prefix
	digits  int    // random digits after the prefix
	trunk   string // national trunk prefix
}

// Mobile ranges that libphonenumber knows as valid.
var plans = []plan{
	{"US", "1", "202", 7, ""},
	{"GB", "44", "79", 8, "0"},
	{"TR", "90", "53", 8, "0"},
	{"FR", "33", "6", 8, "0"},
	{"DE", "49", "151", 8, "0"},
	{"ID", "62", "812", 8, "0"},
	{"EG", "20", "10", 8, "0"},
}

// People returns n distinct valid numbers drawn with the given seed; the
// same seed gives the same people.
func People(seed uint64, n int) []Person {
	rng := rand.New(rand.NewPCG(seed, 0x6c696e6b64))
	seen := make(map[string]bool, n)
	out := make([]Person, 0, n)
	for len(out) < n {
		p := plans[rng.IntN(len(plans))]
		nsn := p.prefix
		for range p.digits {
			nsn += string(rune('0' + rng.IntN(10)))
		}
		e164 := "+" + p.cc + nsn
		if seen[e164] {
			continue
		}
		national := p.trunk + nsn
		if n, err := phone.Normalize(national, p.country); err != nil || n.E164() != e164 {
			continue // a range libphonenumber does not allocate: draw again
		}
		seen[e164] = true
		out = append(out, Person{Country: p.country, E164: e164, National: format(national)})
	}
	return out
}

// format groups a national number in threes and fours, as people write it.
func format(s string) string {
	if len(s) <= 7 {
		return s
	}
	return fmt.Sprintf("%s %s %s", s[:len(s)-7], s[len(s)-7:len(s)-4], s[len(s)-4:])
}

// Forms returns every way p's number could be written at rest: as typed,
// without spaces, in E.164, its digits, and each upload hash in hex (both
// cases) and base64, standard and URL-safe, for tests that search for them.
func (p Person) Forms() []string {
	n, err := phone.Normalize(p.E164, "")
	if err != nil {
		return []string{p.National, p.E164}
	}
	out := []string{p.National, strings.ReplaceAll(p.National, " ", ""), n.E164(), n.Digits()}
	for _, s := range []string{n.Digits(), n.E164()} {
		sum := sha256.Sum256([]byte(s))
		h := hex.EncodeToString(sum[:])
		out = append(out, h, strings.ToUpper(h), base64.StdEncoding.EncodeToString(sum[:]), base64.RawURLEncoding.EncodeToString(sum[:]))
	}
	return out
}

// Hash is what an advertiser uploads for p's number under schema s.
func (p Person) Hash(s phone.Schema) string {
	n, err := phone.Normalize(p.E164, "")
	if err != nil {
		// People draws only numbers that normalize to themselves.
		panic("synth: a person's number does not normalize: " + err.Error())
	}
	return n.Hash(s).Encode(s)
}

// Hashes is Hash of each person, in order.
func Hashes(people []Person, s phone.Schema) []string {
	out := make([]string, len(people))
	for i, p := range people {
		out[i] = p.Hash(s)
	}
	return out
}
