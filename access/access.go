// Package access defines who may call linkd: API keys, each with one role
// and one tenant. Only a SHA-256 hash of a key is stored; the key itself is
// shown once, when it is created.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Role is what a key may do.
type Role string

// The roles.
const (
	RoleAdvertiser  Role = "advertiser"
	RoleTrustSafety Role = "trust_safety"
	RoleCompliance  Role = "compliance"
	RoleAdmin       Role = "admin"
	RoleParty       Role = "party"
	// RoleSubjectRequests is the party's own account system, asking on
	// behalf of the person behind an account (data-subject requests).
	RoleSubjectRequests Role = "subject_requests"
)

// Roles lists every role.
var Roles = []Role{RoleAdvertiser, RoleTrustSafety, RoleCompliance, RoleAdmin, RoleParty, RoleSubjectRequests}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("access: unknown role %q: want advertiser, trust_safety, compliance, admin, party or subject_requests", s)
}

// Hash is the stored form of an API key.
type Hash [sha256.Size]byte

// Equal compares in constant time.
func (h Hash) Equal(o Hash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// Key is an API key's record.
type Key struct {
	ID        string
	Tenant    string
	Role      Role
	Hash      Hash
	CreatedAt time.Time
	RevokedAt time.Time // zero while the key is valid
}

// keyPrefix marks linkd keys, so that secret scanners can find leaked ones.
const keyPrefix = "lk_"

// NewKey makes a key for a tenant and role: the secret to hand out once,
// and the record to store.
func NewKey(tenant string, role Role, now time.Time) (secret string, k Key, err error) {
	if tenant == "" || strings.ContainsAny(tenant, " \t\r\n") || len(tenant) > 64 {
		return "", Key{}, errors.New("access: a tenant is 1 to 64 characters without spaces")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Key{}, fmt.Errorf("access: %w", err)
	}
	var id [9]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Key{}, fmt.Errorf("access: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	return secret, Key{
		ID:        "key_" + base64.RawURLEncoding.EncodeToString(id[:]),
		Tenant:    tenant,
		Role:      role,
		Hash:      HashKey(secret),
		CreatedAt: now.UTC(),
	}, nil
}

// HashKey returns the stored form of a presented key. Keys are 256 random
// bits, so a plain SHA-256 is enough: there is nothing to enumerate.
func HashKey(secret string) Hash { return sha256.Sum256([]byte(secret)) }

// Store keeps API keys.
type Store interface {
	// CreateAPIKey stores a new key record; storeerr.ErrConflict on a
	// duplicate id or hash.
	CreateAPIKey(ctx context.Context, k Key) error
	// APIKeyByHash returns the key with this hash, revoked or not, or
	// storeerr.ErrNotFound.
	APIKeyByHash(ctx context.Context, h Hash) (Key, error)
	// ListAPIKeys returns every key record in creation order.
	ListAPIKeys(ctx context.Context) ([]Key, error)
	// RevokeAPIKey marks a key revoked; storeerr.ErrNotFound if there is none.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
}
