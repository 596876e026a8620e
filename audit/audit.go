// Package audit is linkd's decision log: every mutating request and every
// denial, append-only and hash-chained, so that removing, reordering or
// changing an entry shows, even to whoever controls the database but not
// the party's key file.
//
// Each entry's hash is HMAC-SHA256, under the chain key of a key epoch
// (derived from the party's key file, never stored in the database), of
// the previous entry's hash and the entry's fields, each length-prefixed;
// the first entry chains from 32 zero bytes, and each entry names the key
// epoch that hashed it. Without the key nobody can recompute the chain
// after changing an entry. What a keyed chain cannot show by itself is a
// log cut short at its end: for that, signed checkpoints (Checkpoint: the
// head's sequence number and hash, signed with Ed25519 under a key of the
// same key file) are written to the log and to an append-only file outside
// the database, and Verify, given the checkpoints, refuses a log that no
// longer reaches one of them or that differs from one there.
//
// Verify walks the log and names the first entry whose stored hash, link
// or key does not hold.
package audit

import (
	"context"
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
	Request string
	// KeyEpoch is the key epoch whose chain key hashed the entry.
	KeyEpoch uint32
	PrevHash [32]byte
	Hash     [32]byte
}

// Filter selects entries to list.
type Filter struct {
	After int64 // list entries with Seq above this, oldest first
	// Newest lists the newest entries first, those with Seq below Before
	// if it is set (After is then ignored).
	Newest   bool
	Before   int64
	Limit    int
	Actor    string
	Tenant   string
	Action   string
	Decision string
	// Since and Until, if set, keep entries with Since <= Time < Until.
	Since, Until time.Time
}

// Store keeps the log.
type Store interface {
	// AppendAudit assigns the next sequence number, links the entry to
	// the last and hashes it with c (c.Link), stores it and returns it.
	// Appends are serialized.
	AppendAudit(ctx context.Context, e Entry, c *Chain) (Entry, error)
	// AuditEntries returns entries in sequence order.
	AuditEntries(ctx context.Context, f Filter) ([]Entry, error)
	// LastAudit returns the newest entry, or storeerr.ErrNotFound.
	LastAudit(ctx context.Context) (Entry, error)
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

// Keys finds the chain of a key epoch: the keys of the party's key file.
type Keys func(epoch uint32) (*Chain, error)

// Verify walks the whole log and returns how many entries it checked, or a
// BrokenError for the first entry that is missing, out of order, not
// keyed, altered or not linked to its predecessor. Given checkpoints (all
// the caller holds), it also refuses a checkpoint whose signature does not
// verify, and a log that does not reach every checkpoint's entry or holds
// another one there: a log rolled back past any checkpoint fails, even if
// the server chained new entries onto it since.
func Verify(ctx context.Context, s Store, keys Keys, checkpoints []Checkpoint) (int64, error) {
	chains := map[uint32]*Chain{}
	chain := func(epoch uint32) (*Chain, error) {
		if c, ok := chains[epoch]; ok {
			return c, nil
		}
		c, err := keys(epoch)
		if err != nil {
			return nil, err
		}
		chains[epoch] = c
		return c, nil
	}
	anchors := map[int64]Checkpoint{}
	reach := Newest(checkpoints)
	for _, cp := range checkpoints {
		c, err := chain(cp.KeyEpoch)
		if err != nil {
			return 0, fmt.Errorf("audit: the checkpoint's key epoch %d: %w", cp.KeyEpoch, err)
		}
		if !c.VerifyCheckpoint(cp) {
			return 0, &BrokenError{cp.Seq, "a checkpoint's signature does not verify under the key file"}
		}
		if prev, ok := anchors[cp.Seq]; ok && prev.Hash != cp.Hash {
			return 0, &BrokenError{cp.Seq, "two signed checkpoints disagree on it: the log was rewritten between them"}
		}
		anchors[cp.Seq] = cp
	}
	var prev [32]byte
	var seq int64
	for {
		page, err := s.AuditEntries(ctx, Filter{After: seq, Limit: 1000})
		if err != nil {
			return seq, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			switch {
			case e.Seq != seq+1:
				return seq, &BrokenError{seq + 1, fmt.Sprintf("missing (next stored entry is %d)", e.Seq)}
			case e.PrevHash != prev:
				return seq, &BrokenError{e.Seq, "does not link to the entry before it"}
			case e.KeyEpoch == 0:
				return seq, &BrokenError{e.Seq, "not keyed: it was not written under a key of the key file"}
			}
			c, err := chain(e.KeyEpoch)
			if err != nil {
				return seq, &BrokenError{e.Seq, fmt.Sprintf("names key epoch %d, which the key file does not hold", e.KeyEpoch)}
			}
			if !c.Check(prev, e) {
				return seq, &BrokenError{e.Seq, "its content does not match its keyed hash"}
			}
			if cp, ok := anchors[e.Seq]; ok && e.Hash != cp.Hash {
				return seq, &BrokenError{e.Seq, "differs from the signed checkpoint of " + cp.At.UTC().Format(time.RFC3339)}
			}
			prev, seq = e.Hash, e.Seq
		}
	}
	if len(checkpoints) > 0 && seq < reach.Seq {
		return seq, &BrokenError{seq + 1, fmt.Sprintf("missing: the log ends at entry %d, and the signed checkpoint of %s says it had %d",
			seq, reach.At.UTC().Format(time.RFC3339), reach.Seq)}
	}
	return seq, nil
}
