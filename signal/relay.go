package signal

import (
	"context"
	"fmt"
	"time"

	"github.com/linkd/linkd/store"
)

// Peer is the other party's side of the relay.
type Peer interface {
	// Deliver sends messages in one request and returns the receiver's
	// outcome for each, in order. An error means none may have been
	// applied and the batch is to be sent again (the receiver applies
	// each message once).
	Deliver(ctx context.Context, msgs []Message) ([]Outcome, error)
}

// Delivery counts the outcomes of a drain.
type Delivery map[Outcome]int

// DrainBatch is the number of messages sent in one request.
const DrainBatch = 500

// Drain sends the outbox to the peer, oldest first, in batches of up to
// batch messages, removing each batch once the peer has answered for it,
// until the outbox is empty, ctx ends or the deadline passes (zero: no
// deadline). A signal that expired before it could be sent is dropped
// from the outbox unsent (its revocation with it). It returns what the
// peer did with the messages, whether it stopped at the deadline with
// messages left, and, if the peer could not be reached or refused a
// batch, an error: what was delivered before stays delivered.
func Drain(ctx context.Context, ob Outbox, p Peer, batch int, now func() time.Time, deadline time.Time) (Delivery, bool, error) {
	done := Delivery{}
	for {
		if !deadline.IsZero() && now().After(deadline) {
			return done, true, nil
		}
		entries, err := ob.PendingOutbox(ctx, batch)
		if err != nil {
			return done, false, fmt.Errorf("signal: reading the outbox: %w", err)
		}
		if len(entries) == 0 {
			return done, false, nil
		}
		t := now()
		var send []Message
		var ids, expired []int64
		for _, e := range entries {
			if !e.ExpiresAt.After(t) {
				expired = append(expired, e.ID)
				done[Expired]++
				continue
			}
			ids = append(ids, e.ID)
			send = append(send, e.Message)
		}
		if len(send) > 0 {
			out, err := p.Deliver(ctx, send)
			if err == nil && len(out) != len(send) {
				err = fmt.Errorf("signal: the peer answered for %d messages of %d", len(out), len(send))
			}
			if err != nil {
				if merr := ob.MarkAttempted(context.WithoutCancel(ctx), ids); merr != nil {
					err = fmt.Errorf("%w (and counting the attempt: %w)", err, merr)
				}
				return done, false, err
			}
			for _, o := range out {
				done[o]++
			}
		}
		if err := ob.MarkDelivered(ctx, ids, expired); err != nil {
			return done, false, fmt.Errorf("signal: marking delivered: %w", err)
		}
	}
}

// EventOutbox holds events for the webhook, written in the transaction
// that received or revoked the signal.
type EventOutbox interface {
	// KeepEvents says whether Receive writes events (a webhook is set).
	KeepEvents(on bool)
	// PendingEvents returns up to limit events not yet sent, oldest
	// first.
	PendingEvents(ctx context.Context, limit int) ([]Event, error)
	// MarkEventsSent removes sent events; one already gone is no error.
	MarkEventsSent(ctx context.Context, seqs []int64) error
}

// Hook is this party's account system, told of events.
type Hook interface {
	// Notify sends events in one request; an error means they are sent
	// again (receivers dedupe by signal id and event name).
	Notify(ctx context.Context, events []Event) error
}

// DrainEvents sends the event outbox to the hook, oldest first, in
// batches of up to batch, until it is empty, ctx ends or the deadline
// passes (zero: none). It returns how many were sent and whether it
// stopped at the deadline with events left.
func DrainEvents(ctx context.Context, ob EventOutbox, h Hook, batch int, now func() time.Time, deadline time.Time) (int, bool, error) {
	sent := 0
	for {
		if !deadline.IsZero() && now().After(deadline) {
			return sent, true, nil
		}
		evs, err := ob.PendingEvents(ctx, batch)
		if err != nil {
			return sent, false, fmt.Errorf("signal: reading the event outbox: %w", err)
		}
		if len(evs) == 0 {
			return sent, false, nil
		}
		if err := h.Notify(ctx, evs); err != nil {
			return sent, false, err
		}
		seqs := make([]int64, len(evs))
		for i, e := range evs {
			seqs[i] = e.Seq
		}
		if err := ob.MarkEventsSent(ctx, seqs); err != nil {
			return sent, false, fmt.Errorf("signal: marking events sent: %w", err)
		}
		sent += len(evs)
	}
}

// The relay's records are the store's.
type (
	Message = store.Message
	Outcome = store.Outcome
	Event   = store.Event
)

// Message kinds, outcomes and event names.
const (
	KindSignal  = store.KindSignal
	KindRevoke  = store.KindRevoke
	KindOutcome = store.KindOutcome

	Applied   = store.OutcomeApplied
	Duplicate = store.OutcomeDuplicate
	Unlinked  = store.OutcomeUnlinked
	Expired   = store.OutcomeExpired
	Refused   = store.OutcomeRefused
	// Quarantined: kept out of the open queue (see policies.SignalType's
	// OpenPerDay).
	Quarantined = store.OutcomeQuarantined

	EventReceived = store.EventReceived
	EventRevoked  = store.EventRevoked
)
