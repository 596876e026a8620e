package phone

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
)

// Schema names an upload convention: which canonical string is hashed and
// how the hash is written.
type Schema string

// The upload schemas. The first is the Marketing API customer-list
// convention; the E.164 ones are the Customer Match and UID2 conventions.
const (
	// SchemaSHA256: SHA-256 of the digits without "+", lowercase hex.
	SchemaSHA256 Schema = "PHONE_SHA256"
	// SchemaE164SHA256: SHA-256 of the E.164 string with "+", lowercase hex.
	SchemaE164SHA256 Schema = "PHONE_E164_SHA256"
	// SchemaE164SHA256B64: the same hash in standard base64 (44 characters).
	SchemaE164SHA256B64 Schema = "PHONE_E164_SHA256_B64"
	// SchemaOPRF: the private-mode upload schema, finalized RFC 9497 OPRF
	// outputs of E.164 numbers under a party's published key, hex. It is
	// not a hash schema: only the party's key computes it.
	SchemaOPRF Schema = "PHONE_OPRF"
)

// HashSchemas lists the schemas whose entries are SHA-256 hashes of numbers.
var HashSchemas = []Schema{SchemaSHA256, SchemaE164SHA256, SchemaE164SHA256B64}

// ErrUnknownSchema is returned by ParseSchema.
var ErrUnknownSchema = fmt.Errorf("phone: unknown schema: want one of %s, %s, %s",
	SchemaSHA256, SchemaE164SHA256, SchemaE164SHA256B64)

// ParseSchema checks a schema name.
func ParseSchema(s string) (Schema, error) {
	for _, h := range HashSchemas {
		if string(h) == s {
			return h, nil
		}
	}
	return "", ErrUnknownSchema
}

// Convention is the canonical string a hash was computed over. Two schemas
// share the E.164 convention and differ only in how they write the hash.
type Convention uint8

const (
	// ConventionDigits hashes the digits without "+".
	ConventionDigits Convention = iota + 1
	// ConventionE164 hashes the E.164 string with "+".
	ConventionE164
)

// Convention returns the canonical string the schema hashes.
func (s Schema) Convention() Convention {
	if s == SchemaSHA256 {
		return ConventionDigits
	}
	return ConventionE164
}

// Digest is the SHA-256 hash of a number's canonical string. It is as
// sensitive as the number (a phone number's hash is reversed by enumeration
// in hours), so it formats as "[redacted]" under every fmt verb; Encode
// writes it out on purpose.
type Digest struct {
	Convention Convention
	Sum        [sha256.Size]byte
}

// Format implements fmt.Formatter so that a Digest never reaches a log.
func (Digest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// Canonical returns the string n is hashed over under convention c.
func (n Number) Canonical(c Convention) string {
	if c == ConventionDigits {
		return n.Digits()
	}
	return n.E164()
}

// Hash returns the digest of n under the schema's convention.
func (n Number) Hash(s Schema) Digest {
	c := s.Convention()
	return Digest{Convention: c, Sum: sha256.Sum256([]byte(n.Canonical(c)))}
}

// Encode writes the digest as an advertiser would upload it under s.
func (d Digest) Encode(s Schema) string {
	if s == SchemaE164SHA256B64 {
		return base64.StdEncoding.EncodeToString(d.Sum[:])
	}
	return hex.EncodeToString(d.Sum[:])
}

// HashError is an uploaded entry that is not a hash of the schema. Its
// message says what is wrong with the entry's shape and never repeats it.
type HashError struct {
	Schema Schema
	Reason string
}

func (e *HashError) Error() string { return "phone: " + string(e.Schema) + ": " + e.Reason }

// ParseHash reads one uploaded entry of a hash schema. Hex in either case is
// accepted; base64 must be standard base64 of exactly 44 characters.
func ParseHash(s Schema, entry string) (Digest, error) {
	d := Digest{Convention: s.Convention()}
	switch s {
	case SchemaSHA256, SchemaE164SHA256:
		if len(entry) != hex.EncodedLen(sha256.Size) {
			return Digest{}, &HashError{s, "want 64 hexadecimal characters, got " + strconv.Itoa(len(entry))}
		}
		if _, err := hex.Decode(d.Sum[:], []byte(entry)); err != nil {
			return Digest{}, &HashError{s, "not hexadecimal"}
		}
	case SchemaE164SHA256B64:
		if len(entry) != base64.StdEncoding.EncodedLen(sha256.Size) {
			return Digest{}, &HashError{s, "want 44 characters of standard base64, got " + strconv.Itoa(len(entry))}
		}
		var buf [33]byte // DecodedLen(44): an unpadded entry decodes to 33 bytes
		n, err := base64.StdEncoding.Strict().Decode(buf[:], []byte(entry))
		if err != nil || n != sha256.Size {
			return Digest{}, &HashError{s, "not standard base64 of 32 bytes"}
		}
		copy(d.Sum[:], buf[:n])
	default:
		return Digest{}, ErrUnknownSchema
	}
	return d, nil
}
