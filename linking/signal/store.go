// Package signal relays abuse signals between the two parties' trust and
// safety teams, through links and never with a number.
package signal

import (
	"context"
	"time"

	"github.com/linkd/linkd/crypto/psi"
)

// Direction says whether a signal was raised here or received from the peer.
type Direction string

const (
	Outbound Direction = "outbound"
	Inbound  Direction = "inbound"
)

// Signal is a flag on an account.
type Signal struct {
	ID          string
	Direction   Direction
	AccountID   string     // this party's own account
	LinkID      psi.LinkID // zero when the account has no link
	Type        string
	Confidence  float64
	EvidenceRef string
	Note        string
	Status      string
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Filter selects signals to list.
type Filter struct {
	Direction Direction
	Status    string // "" for any
	Type      string // "" for any
	After     string // id to list after
	Limit     int
}

// OutboxEntry is a message waiting to be delivered to the peer.
type OutboxEntry struct {
	ID       int64
	SignalID string
	Kind     string // "signal" or "revoke"
	Attempts int
}

// Store keeps signals and the outbox of their relay.
type Store interface {
	// CreateSignal stores a new outbound signal and, if relay is set, its
	// outbox entry in the same transaction.
	CreateSignal(ctx context.Context, s Signal, relay bool) error
	// ReceiveSignal stores an inbound signal once by its id: applied is
	// false, and nothing changes, for an id already received.
	ReceiveSignal(ctx context.Context, s Signal) (applied bool, err error)
	// Signal returns one signal, or store.ErrNotFound.
	Signal(ctx context.Context, id string) (Signal, error)
	// ListSignals returns signals in id order.
	ListSignals(ctx context.Context, f Filter) ([]Signal, error)
	// SetStatus changes a signal's status; with relay, it also queues a
	// "revoke" (for status "revoked") for the peer in the same transaction.
	SetStatus(ctx context.Context, id, status string, relay bool) error
	// PendingOutbox returns up to limit undelivered outbox entries, oldest
	// first.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxEntry, error)
	// MarkDelivered removes a delivered outbox entry.
	MarkDelivered(ctx context.Context, id int64) error
}
