package hashindex

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func BenchmarkIndex(b *testing.B) {
	key := bytes.Repeat([]byte{7}, 32)
	sha := sha256.Sum256([]byte("+905321234567"))
	b.Run("linkd", func(b *testing.B) {
		k, _ := NewKey(key)
		h := k.NewHasher()
		for b.Loop() {
			_ = h.Sum(&sha)
		}
	})
	b.Run("hmac", func(b *testing.B) {
		m := hmac.New(sha256.New, key)
		var out [32]byte
		for b.Loop() {
			m.Reset()
			m.Write(sha[:])
			m.Sum(out[:0])
		}
	})
}
