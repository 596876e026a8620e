// Package hashindex computes the pseudonyms that let a party match an
// uploaded SHA-256 hash of a phone number without keeping such hashes:
//
//	index = HMAC-SHA256(k_idx, SHA-256(canonical string))       (RFC 2104)
//
// The party stores the index of each of its accounts under each upload
// convention (digits, E.164) and, for an upload, computes one HMAC per
// entry and looks it up. A stolen database holds only indexes: without
// k_idx, which lives in the key file, they cannot be tested against a
// candidate number, unlike the bare SHA-256 an advertiser uploads.
package hashindex

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
)

// Size is the size of an index and of its input.
const Size = sha256.Size

// Index is the pseudonym of one uploaded or computed hash.
type Index [Size]byte

// Key is the secret HMAC key. It prints as "[redacted]".
type Key struct {
	k [32]byte
}

// NewKey wraps a 32-byte secret from the party's key ring.
func NewKey(secret []byte) (Key, error) {
	var k Key
	if len(secret) != len(k.k) {
		return Key{}, errors.New("hashindex: a key is 32 bytes")
	}
	copy(k.k[:], secret)
	return k, nil
}

// Format implements fmt.Formatter.
func (Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Hasher computes indexes under one key, reusing its HMAC state. A Hasher
// is not safe for concurrent use; make one per goroutine.
type Hasher struct {
	mac hash.Hash
	buf [Size]byte
}

// NewHasher returns a Hasher for k.
func (k Key) NewHasher() *Hasher {
	return &Hasher{mac: hmac.New(sha256.New, k.k[:])}
}

// Sum returns the index of a SHA-256 hash.
func (h *Hasher) Sum(sha *[Size]byte) Index {
	h.mac.Reset()
	h.mac.Write(sha[:])
	return Index(h.mac.Sum(h.buf[:0]))
}

// Format implements fmt.Formatter: a Hasher holds the key.
func (*Hasher) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }
