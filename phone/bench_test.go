package phone

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// Each benchmark runs linkd's function beside the library primitive it
// wraps, so the wrapper's cost shows in one run.

func BenchmarkNormalize(b *testing.B) {
	const in, region = "0532 123 45 67", "TR"
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			if _, err := Normalize(in, region); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("libphonenumber", func(b *testing.B) {
		for b.Loop() {
			num, err := phonenumbers.Parse(in, region)
			if err != nil || phonenumbers.IsPossibleNumberWithReason(num) != phonenumbers.IS_POSSIBLE || !phonenumbers.IsValidNumber(num) {
				b.Fatal(err)
			}
			_ = phonenumbers.Format(num, phonenumbers.E164)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	n := Number("+905321234567")
	b.Run("linkd", func(b *testing.B) {
		for b.Loop() {
			_ = n.Hash(SchemaSHA256).Encode(SchemaSHA256)
		}
	})
	b.Run("sha256", func(b *testing.B) {
		for b.Loop() {
			s := sha256.Sum256([]byte(n[1:]))
			_ = hex.EncodeToString(s[:])
		}
	})
}
