// Package keys holds a party's secret key material: a master secret per key
// epoch, kept in a key file encrypted at rest, from which every purpose key
// is derived with HKDF (RFC 5869).
//
// A party never uses its master secret directly. Each purpose (the hash
// index, the OPRF key, the PSI link key, ...) gets its own key for each
// epoch:
//
//	purpose key = HKDF-SHA256(IKM = master secret of the epoch,
//	                          salt = "linkd key derivation v1",
//	                          info = "linkd/v1/" || purpose || "/epoch/" || epoch id)
//
// so a key for one purpose reveals nothing of another, and rotating the epoch
// replaces every purpose key at once while the old epoch stays usable until
// the pseudonyms made under it are rebuilt.
//
// Secrets are opaque: they format as "[redacted]" under every fmt verb,
// compare in constant time, and leave the package only through Expose, whose
// callers are the cryptographic packages that need the bytes.
package keys

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"strconv"
)

// SecretSize is the size in bytes of master secrets and purpose keys.
const SecretSize = 32

// Secret is a 32-byte secret key. The zero Secret is not a key.
type Secret struct {
	b [SecretSize]byte
}

// NewSecret returns a fresh secret from the system's secure random source.
func NewSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s.b[:]); err != nil {
		return Secret{}, fmt.Errorf("keys: reading random bytes: %w", err)
	}
	return s, nil
}

// SecretFromBytes copies b, which must be SecretSize bytes, into a Secret.
func SecretFromBytes(b []byte) (Secret, error) {
	var s Secret
	if len(b) != SecretSize {
		return Secret{}, fmt.Errorf("keys: a secret is %d bytes, got %d", SecretSize, len(b))
	}
	copy(s.b[:], b)
	return s, nil
}

// Equal reports whether s and o are the same secret, in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare(s.b[:], o.b[:]) == 1
}

// IsZero reports whether s is the zero value, in constant time.
func (s Secret) IsZero() bool { return s.Equal(Secret{}) }

// Expose returns a copy of the secret's bytes, for the cryptographic code
// that keys a primitive with it. Nothing else should call it.
func (s Secret) Expose() []byte {
	b := s.b
	return b[:]
}

// Format implements fmt.Formatter: a Secret prints as "[redacted]" under
// every verb, so no log line or error can carry one.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// String returns "[redacted]".
func (Secret) String() string { return "[redacted]" }

// GoString returns "[redacted]".
func (Secret) GoString() string { return "[redacted]" }

// MarshalText refuses: a secret is written only by the key file's own
// encrypted encoding.
func (Secret) MarshalText() ([]byte, error) {
	return nil, fmt.Errorf("keys: a secret cannot be marshaled")
}

// Purpose names what a derived key is for. Each purpose's keys are
// independent of every other's.
type Purpose string

// The purposes linkd derives keys for.
const (
	// PurposeHashIndex keys HMAC-SHA256 over uploaded SHA-256 hashes.
	PurposeHashIndex Purpose = "hash-index"
	// PurposeOPRF seeds the RFC 9497 OPRF key (DeriveKeyPair).
	PurposeOPRF Purpose = "oprf"
	// PurposeLink seeds the PSI blinding scalar.
	PurposeLink Purpose = "link"
	// PurposeAuditChain keys the audit log's HMAC chain.
	PurposeAuditChain Purpose = "audit-chain"
	// PurposeAuditSign seeds the Ed25519 key of audit checkpoints.
	PurposeAuditSign Purpose = "audit-sign"
)

const hkdfSalt = "linkd key derivation v1"

// derive is the HKDF step: a purpose key from an epoch's master secret.
func derive(master Secret, p Purpose, epoch uint32) (Secret, error) {
	info := "linkd/v1/" + string(p) + "/epoch/" + strconv.FormatUint(uint64(epoch), 10)
	out, err := hkdf.Key(sha256.New, master.b[:], []byte(hkdfSalt), info, SecretSize)
	if err != nil {
		return Secret{}, fmt.Errorf("keys: deriving %s key: %w", p, err)
	}
	return SecretFromBytes(out)
}
