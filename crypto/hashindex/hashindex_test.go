package hashindex

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// The index is plain HMAC-SHA256 over the SHA-256 hash, as computed by the
// standard library directly.
func TestSumIsHMACSHA256(t *testing.T) {
	key := bytes.Repeat([]byte{0x0b}, 32)
	k, err := NewKey(key)
	if err != nil {
		t.Fatal(err)
	}
	h := k.NewHasher()
	for _, s := range []string{"448444124653", "+448444124653", "+905321234567"} {
		sha := sha256.Sum256([]byte(s))
		m := hmac.New(sha256.New, key)
		m.Write(sha[:])
		want := m.Sum(nil)
		got := h.Sum(&sha)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("index of %s = %x, want %x", s, got, want)
		}
		if again := h.Sum(&sha); again != got {
			t.Fatal("Hasher state leaks between calls")
		}
	}
}

func TestKeysSeparate(t *testing.T) {
	a, _ := NewKey(bytes.Repeat([]byte{1}, 32))
	b, _ := NewKey(bytes.Repeat([]byte{2}, 32))
	sha := sha256.Sum256([]byte("+905321234567"))
	if a.NewHasher().Sum(&sha) == b.NewHasher().Sum(&sha) {
		t.Fatal("two keys give one index")
	}
	if _, err := NewKey(make([]byte, 16)); err == nil {
		t.Fatal("16-byte key accepted")
	}
	kh := hex.EncodeToString(bytes.Repeat([]byte{1}, 32))
	for _, v := range []any{a, a.NewHasher()} {
		if s := fmt.Sprintf("%v %+v %#v %x", v, v, v, v); strings.Contains(s, kh[:8]) || !strings.Contains(s, "[redacted]") {
			t.Fatalf("prints %q", s)
		}
	}
}
