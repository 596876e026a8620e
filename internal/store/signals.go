package store

import (
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
	// A reviewer's decision on an inbound signal (disable, dismiss or
	// escalate; the status too until the other party revokes it): who
	// took it, why and when.
	Decision  string
	Reviewer  string
	Reason    string
	DecidedAt time.Time
}

// SignalFilter selects signals to list.
type SignalFilter struct {
	Direction Direction
	Status    string // "" for any
	Type      string // "" for any
	After     string // id to list after
	Limit     int
}

// OutboxEntry is a message waiting to be delivered to the peer.
type OutboxEntry struct {
	ID int64
	Message
}

// SignalSubject is what raising a signal needs of the account flagged.
type SignalSubject struct {
	Country string     // the account's country, for the policy decision
	LinkID  psi.LinkID // its link, if Linked
	Linked  bool
}

// Message kinds.
const (
	KindSignal = "signal"
	KindRevoke = "revoke"
)

// Message is all of a signal that crosses to the other party: its id, the
// link id of the account, the type, the confidence and its times, and
// whether it is raised or revoked. The account id, the evidence reference
// and the note stay with the party that raised it; no number is in it.
type Message struct {
	Kind       string
	ID         string
	LinkID     psi.LinkID
	Type       string
	Confidence float64
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Outcome is what the receiver did with one message.
type Outcome string

const (
	// OutcomeApplied: the signal was queued for review, or the revocation
	// recorded.
	OutcomeApplied Outcome = "applied"
	// OutcomeDuplicate: the message was applied before (or names a signal the
	// receiver raised itself); nothing changed.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeUnlinked: the receiver has no account with that link id (the link
	// was dropped since); nothing is kept.
	OutcomeUnlinked Outcome = "unlinked"
	// OutcomeExpired: the signal had expired when it arrived; nothing is kept.
	OutcomeExpired Outcome = "expired"
	// OutcomeRefused: the receiver's policies do not let this signal in; nothing
	// is kept.
	OutcomeRefused Outcome = "refused"
)

// Event names.
const (
	EventReceived = "signal.received"
	EventRevoked  = "signal.revoked"
)

// Event is news for this party's own account system (the webhook) of a
// signal the other party sent: received, or revoked. The signal is as this
// party keeps it: its own account, no number.
type Event struct {
	Seq    int64 // order in the outbox
	Name   string
	Signal Signal
}
