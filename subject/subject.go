// Package subject answers the people behind the accounts (data-subject
// requests), through the party's own account system: what linkd holds
// about an account, their objection to a purpose, and the erasure of
// the account, each with a receipt.
//
// What it answers never holds a number, a pseudonym, a link id or an
// account of the other party: whether the account is linked, its consent
// ledger and opt-out, the audiences it is in counted by tenant and
// purpose (why an advertiser reaches the person), the open signals about
// it, and the receipts of its requests.
//
// A request about a linked account is relayed to the other party, which
// honours it on its side and acknowledges it; the acknowledgement's time
// completes the receipt, and both parties' audit logs hold the request:
//
//	this party                              the other party
//	POST /v1/subjects/{id}/objection        (purpose ads)
//	  consent withdrawn in the ledger,
//	  out of this party's ads audiences
//	  receipt, subject outbox
//	Drain  -- POST /v1/peer/subjects -->    the linked account out of the
//	                                         mirrors of this party's ads
//	                                         audiences, now and later
//	       <-- outcome, acknowledged_at     receipt, audit entry
//	receipt acknowledged, audit entry
//
// An erasure goes the same way: this party erases the account (its link,
// memberships, signals and its id in earlier receipts) at once; the
// other party drops the link, the linked account's memberships of the
// mirrors, and marks the signals it received about the erased account
// erased; a link run under way there does not link the account again.
// The link id lives in the outbox only until the acknowledgement:
// afterwards no row on either side names the erased account or holds its
// link id. Two caches of the link protocol remain until the next link
// run completes, as they do for a changed number: the pseudonymous PSI
// values of the last run's kept sets (from which the link id can be
// derived again: the erasing party's retired value is what tells the
// other party's next run to drop its side), and the staging of a run
// that was under way, which the run's end moves to the retired values.
//
// An outcome other than applied: duplicate (applied before), unlinked
// (the other party holds no link with that id any more) or refused (an
// id that is one of its own receipts, or a purpose its catalogue does not
// know); the receipt shows it.
package subject

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/store"
)

// The records, as the store keeps them.
type (
	Held          = store.Held
	HeldAudiences = store.HeldAudiences
	HeldSignal    = store.HeldSignal
	Request       = store.SubjectRequest
	Message       = store.SubjectMessage
	Ack           = store.SubjectAck
)

// Request kinds and acknowledgement outcomes.
const (
	KindObjection = store.KindObjection
	KindErasure   = store.KindErasure

	Applied   = store.SubjectApplied
	Duplicate = store.SubjectDuplicate
	Unlinked  = store.SubjectUnlinked
	Refused   = store.SubjectRefused
)

// Store keeps what is held about accounts and the requests' receipts.
type Store interface {
	// HeldFor reads it in one snapshot at now; storeerr.ErrNotFound if
	// there is no such account.
	HeldFor(ctx context.Context, id string, now time.Time) (Held, error)
	// Object records an objection and ends the account's memberships of
	// audiences of its purpose; storeerr.ErrNotFound if there is no such
	// account.
	Object(ctx context.Context, r Request) (Request, error)
	// Erase erases the account r.AccountID; the receipt names none.
	// storeerr.ErrNotFound if there is no such account.
	Erase(ctx context.Context, r Request) (Request, error)
	// SubjectRequest reads a receipt; storeerr.ErrNotFound if none.
	SubjectRequest(ctx context.Context, id string) (Request, error)
}

// Outbox is the subject relay's outbox.
type Outbox interface {
	// PendingSubjects returns up to limit messages, oldest first.
	PendingSubjects(ctx context.Context, limit int) ([]Message, error)
	// AcknowledgeSubjects records the acknowledgements of the messages
	// seqs and takes them out of the outbox, returning their receipts
	// (none for a message already gone).
	AcknowledgeSubjects(ctx context.Context, seqs []int64, acks []Ack) ([]Request, error)
	// MarkSubjectsAttempted counts a failed delivery.
	MarkSubjectsAttempted(ctx context.Context, seqs []int64) error
}

// Peer is the other party's side of the subject relay.
type Peer interface {
	// DeliverSubjects sends messages in one request and returns the
	// other party's acknowledgement of each, in order. An error means
	// none may have been applied and the batch is to be sent again (the
	// other party applies each request once).
	DeliverSubjects(ctx context.Context, msgs []Message) ([]Ack, error)
}

// DrainBatch is the number of requests sent in one call.
const DrainBatch = 200

// Drain sends the outbox to the peer, oldest first, in batches of up to
// batch, until the outbox is empty, ctx ends or the deadline passes
// (zero: none). Each acknowledgement is told to acked (for the audit
// log) before it is recorded: an acknowledgement that could not be
// recorded is sent again and told again, never lost. It returns how many
// were acknowledged and whether it stopped at the deadline with some
// left.
func Drain(ctx context.Context, ob Outbox, p Peer, batch int, now func() time.Time, deadline time.Time,
	acked func(context.Context, Message, Ack) error) (int, bool, error) {
	done := 0
	for {
		if !deadline.IsZero() && now().After(deadline) {
			return done, true, nil
		}
		msgs, err := ob.PendingSubjects(ctx, batch)
		if err != nil {
			return done, false, fmt.Errorf("subject: reading the outbox: %w", err)
		}
		if len(msgs) == 0 {
			return done, false, nil
		}
		seqs := make([]int64, len(msgs))
		for i, m := range msgs {
			seqs[i] = m.Seq
		}
		acks, err := p.DeliverSubjects(ctx, msgs)
		if err == nil && len(acks) != len(msgs) {
			err = fmt.Errorf("subject: the peer acknowledged %d requests of %d", len(acks), len(msgs))
		}
		if err != nil {
			if merr := ob.MarkSubjectsAttempted(context.WithoutCancel(ctx), seqs); merr != nil {
				err = fmt.Errorf("%w (and counting the attempt: %w)", err, merr)
			}
			return done, false, err
		}
		if acked != nil {
			for i := range msgs {
				if err := acked(ctx, msgs[i], acks[i]); err != nil {
					return done, false, fmt.Errorf("subject: auditing an acknowledgement: %w", err)
				}
			}
		}
		if _, err := ob.AcknowledgeSubjects(ctx, seqs, acks); err != nil {
			return done, false, fmt.Errorf("subject: recording acknowledgements: %w", err)
		}
		done += len(msgs)
	}
}

// AuditAck is the acked of Drain that writes each acknowledgement to the
// audit log a, hashed under chain: the receipt's id, the request's kind
// and purpose, and what the other party did and when. The request's
// receipt thus stands in both parties' logs: the other party audits the
// request when it applies it.
func AuditAck(a audit.Store, chain *audit.Chain) func(context.Context, Message, Ack) error {
	return func(ctx context.Context, m Message, k Ack) error {
		req, _ := json.Marshal(map[string]any{"id": m.ID, "kind": m.Kind, "purpose": m.Purpose,
			"requested_at": m.At, "outcome": k.Outcome, "acknowledged_at": k.At})
		_, err := a.AppendAudit(ctx, audit.Entry{Time: time.Now(), Actor: "linkd", Role: "system", Action: "subject.acknowledged",
			Resource: "/v1/subject-requests/" + m.ID, Decision: "allow", Rule: "peer_" + k.Outcome, Request: string(req)}, chain)
		return err
	}
}
