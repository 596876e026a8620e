// Package signal relays abuse signals between the two parties' trust and
// safety teams, through links and never with a number.
package signal

import (
	"context"
	"time"

	"github.com/linkd/linkd/store"
)

// Records keeps signals: what the Service reads and writes.
type Records interface {
	// Subject returns the account's country and link in one lookup, or
	// storeerr.ErrNotFound for an unknown account.
	Subject(ctx context.Context, accountID string) (Subject, error)
	// CreateSignal stores a new outbound signal. With relay (the
	// policies let it cross), it takes the account's link as it stores it
	// and queues it for the other party in the same statement, or keeps
	// it waiting for a link (not_linked_yet) if there is none.
	CreateSignal(ctx context.Context, s Signal, relay bool) error
	// Signal returns one signal, or storeerr.ErrNotFound.
	Signal(ctx context.Context, id string) (Signal, error)
	// ListSignals returns signals in id order.
	ListSignals(ctx context.Context, f Filter) ([]Signal, error)
	// Decide records a reviewer's decision on an inbound signal: its
	// status, who, why and when, kept in its history, and queues the
	// outcome for the other party in the same transaction;
	// storeerr.ErrNotFound for no such inbound signal.
	Decide(ctx context.Context, id, status, reviewer, reason string, at time.Time) error
	// SignalReport tallies the signals created since, by type and
	// direction (expired: by now).
	SignalReport(ctx context.Context, since, now time.Time) ([]Tally, error)
	// Decisions returns an inbound signal's decisions, oldest first.
	Decisions(ctx context.Context, id string) ([]Decision, error)
	// SetStatus changes a signal's status; with relay, it also queues a
	// "revoke" (for status "revoked") for the peer in the same transaction.
	SetStatus(ctx context.Context, id, status string, relay bool) error
}

// Store keeps signals, applies the other party's relay and holds the
// outboxes of the relay and of events.
type Store interface {
	Records
	// Receive applies messages from the peer in order, in one
	// transaction, each once by its signal id, and says what became of
	// each (see Outcome). A signal's link id is mapped to this party's
	// account; a revoke for a signal not received yet is kept as the
	// signal, revoked, so that the signal arriving later stays revoked.
	// An id this party raised itself is never touched. Expiry is the
	// caller's to check. With KeepEvents on, what it applies is written
	// to the event outbox in the same transaction.
	Receive(ctx context.Context, msgs []Message) ([]Outcome, error)
	Outbox
	EventOutbox
}

// Outbox is the queue of messages for the peer, written in the same
// transaction as the signal or the revocation they carry.
type Outbox interface {
	// PendingOutbox returns up to limit undelivered outbox entries, oldest
	// first, each with its message built from the signal as it is now.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	// MarkDelivered removes delivered outbox entries; an id not in the
	// outbox (delivered already) is no error.
	// Expired entries go too, and their signals are marked as not
	// crossing because they expired.
	MarkDelivered(ctx context.Context, ids, expired []int64) error
	// MarkAttempted counts a failed delivery of the entries, for the
	// operators' view of the backlog.
	MarkAttempted(ctx context.Context, ids []int64) error
}

// The signal records are the store's.
type (
	Direction   = store.Direction
	Signal      = store.Signal
	Filter      = store.SignalFilter
	OutboxEntry = store.OutboxEntry
	Subject     = store.SignalSubject
	CrossReason = store.CrossReason
	Decision    = store.Decision
	Tally       = store.SignalTally
)

// Directions.
const (
	Outbound = store.Outbound
	Inbound  = store.Inbound
)

// Why a flag does not cross.
const (
	BelowConfidence = store.CrossBelowConfidence
	NotLinkedYet    = store.CrossNotLinkedYet
	PolicyDenied    = store.CrossPolicyDenied
	ExpiredUnsent   = store.CrossExpired
)
