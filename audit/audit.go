// Package audit is linkd's decision log: every mutating request and every
// denial, append-only and hash-chained, so that removing, reordering or
// changing an entry shows.
//
// Each entry's hash is SHA-256 over the previous entry's hash and the
// entry's fields, each length-prefixed; the first entry chains from 32 zero
// bytes. Verify walks the log and names the first entry whose stored hash
// or link does not match.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Entry is one logged decision.
type Entry struct {
	Seq        int64 // assigned by the store, from 1
	Time       time.Time
	Actor      string // API key id, or "cli"
	Tenant     string
	Role       string
	Action     string
	Resource   string
	Decision   string // "allow" or "deny"
	Rule       string // the policy id that decided
	BundleHash string
	RequestID  string
	// Request is the authorization request as decided (role, tenant,
	// action, resource and flow context, JSON), so that the decision can
	// be explained again later. Never a number or a hash of one.
	Request  string
	PrevHash [32]byte
	Hash     [32]byte
}

// ChainHash computes the hash of e following prev.
func ChainHash(prev [32]byte, e Entry) [32]byte {
	h := sha256.New()
	h.Write([]byte("linkd audit v1"))
	h.Write(prev[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(e.Seq))
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(e.Time.UTC().UnixMicro()))
	h.Write(n[:])
	for _, f := range []string{e.Actor, e.Tenant, e.Role, e.Action, e.Resource, e.Decision, e.Rule, e.BundleHash, e.RequestID, e.Request} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Filter selects entries to list.
type Filter struct {
	After    int64 // list entries with Seq above this
	Limit    int
	Actor    string
	Tenant   string
	Action   string
	Decision string
}

// Store keeps the log.
type Store interface {
	// AppendAudit assigns the next sequence number and the chain hashes,
	// stores the entry and returns it. Appends are serialized.
	AppendAudit(ctx context.Context, e Entry) (Entry, error)
	// AuditEntries returns entries in sequence order.
	AuditEntries(ctx context.Context, f Filter) ([]Entry, error)
}

// BrokenError names the first entry where the chain does not hold.
type BrokenError struct {
	Seq    int64
	Reason string
}

func (e *BrokenError) Error() string {
	return fmt.Sprintf("audit: chain broken at entry %d: %s", e.Seq, e.Reason)
}

// ErrBroken matches any BrokenError with errors.Is.
var ErrBroken = errors.New("audit: chain broken")

func (e *BrokenError) Is(target error) bool { return target == ErrBroken }

// Verify walks the whole log and returns how many entries it checked, or a
// BrokenError for the first entry that is missing, out of order, altered or
// not linked to its predecessor.
func Verify(ctx context.Context, s Store) (int64, error) {
	var prev [32]byte
	var seq int64
	for {
		page, err := s.AuditEntries(ctx, Filter{After: seq, Limit: 1000})
		if err != nil {
			return seq, err
		}
		if len(page) == 0 {
			return seq, nil
		}
		for _, e := range page {
			switch {
			case e.Seq != seq+1:
				return seq, &BrokenError{seq + 1, fmt.Sprintf("missing (next stored entry is %d)", e.Seq)}
			case e.PrevHash != prev:
				return seq, &BrokenError{e.Seq, "does not link to the entry before it"}
			case ChainHash(prev, e) != e.Hash:
				return seq, &BrokenError{e.Seq, "its content does not match its hash"}
			}
			prev, seq = e.Hash, e.Seq
		}
	}
}
