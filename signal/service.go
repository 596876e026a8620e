package signal

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/policies"
)

// Service is the signal flow of one party: it checks a flag, a decision or
// a revocation, asks the policies whether a flag may cross, and keeps the
// result in the store.
type Service struct {
	Store Records
	// Catalogue is the catalogue in force: the signal types and how long
	// each may last.
	Catalogue *policies.Catalogue
	// Party is this party: a flag raised here goes its outbound way.
	Party party.Party
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Authorize decides a policy request and records the decision (the
// audit log, in the API). The service asks it whether a flag crosses.
type Authorize func(ctx context.Context, q policies.Request) (policies.Decision, error)

// InvalidError is a refused field of a request: which, why, and what the
// caller may want to know to correct it.
type InvalidError struct {
	Field   string
	Reason  string
	Details map[string]any
}

func (e *InvalidError) Error() string { return "signal: " + e.Reason }

func invalid(field, reason string, details ...any) error {
	d := map[string]any{"field": field}
	for i := 0; i+1 < len(details); i += 2 {
		d[details[i].(string)] = details[i+1]
	}
	return &InvalidError{Field: field, Reason: reason, Details: d}
}

// Errors of a signal asked of the wrong queue, and of a decision on a
// signal its sender revoked.
var (
	ErrNotInbound  = errors.New("signal: no such inbound signal")
	ErrNotOutbound = errors.New("signal: no such signal raised here")
	ErrRevoked     = errors.New("signal: the other party revoked this signal: it takes no decision")
)

// Flag is a flag a trust and safety analyst raises on one of this party's
// accounts.
type Flag struct {
	ID          string // assigned by the caller
	AccountID   string
	Type        string
	Confidence  *float64
	EvidenceRef string
	Note        string
	ExpiresAt   time.Time
	// Role and Tenant are the caller's, for the policy decision.
	Role, Tenant string
}

// Decisions a reviewer may take on an inbound signal. Each goes back to
// the party that raised the signal as its outcome.
var Decisions = []string{"disable", "dismiss", "escalate", "false_positive"}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Raise checks a flag and keeps it. Whether it may reach the other party
// is a policy decision (type, direction, confidence, the account's
// region), asked of authorize; only a linked account's flag can. The
// signal's Crosses says whether it goes and, if not, CrossReason why:
// BelowConfidence when the catalogue lets its type cross this way but
// not at its confidence, PolicyDenied (with the deciding rule in
// CrossRule) for any other refusal, NotLinkedYet when the policies would
// let it cross but the account has no link.
func (s *Service) Raise(ctx context.Context, f Flag, authorize Authorize) (sg Signal, err error) {
	now := s.now()
	typ, known := s.Catalogue.SignalTypes[f.Type]
	switch {
	case f.AccountID == "" || len(f.AccountID) > 128:
		return sg, invalid("account_id", "account_id: from 1 to 128 characters")
	case !known:
		return sg, invalid("type", "type: not a signal type of the catalogue", "types", slices.Sorted(maps.Keys(s.Catalogue.SignalTypes)))
	case f.Confidence == nil || *f.Confidence < 0 || *f.Confidence > 1:
		return sg, invalid("confidence", "confidence: a number from 0 to 1 is required")
	case len(f.EvidenceRef) > 200:
		return sg, invalid("evidence_ref", "evidence_ref: at most 200 characters")
	case len(f.Note) > 2000:
		return sg, invalid("note", "note: at most 2000 characters")
	case !f.ExpiresAt.After(now):
		return sg, invalid("expires_at", "expires_at: a time in the future is required")
	case f.ExpiresAt.Sub(now) > time.Duration(typ.MaxExpiryDays)*24*time.Hour:
		return sg, invalid("expires_at", fmt.Sprintf("expires_at: a %s signal lasts at most %d days", f.Type, typ.MaxExpiryDays),
			"max_expiry_days", typ.MaxExpiryDays)
	}
	sub, err := s.Store.Subject(ctx, f.AccountID)
	if err != nil {
		return sg, err
	}
	sg = Signal{ID: f.ID, Direction: Outbound, AccountID: f.AccountID, Type: f.Type, Confidence: *f.Confidence,
		EvidenceRef: f.EvidenceRef, Note: f.Note, Status: "open", CreatedAt: now, ExpiresAt: f.ExpiresAt.UTC().Truncate(time.Microsecond)}
	d, err := authorize(ctx, policies.Request{Role: f.Role, Tenant: f.Tenant, Action: "signal.cross",
		Resource: policies.Resource{Kind: "signal", ID: sg.ID}, Purpose: "safety", Region: sub.Country,
		Direction: s.Party.Outbound(), SignalType: sg.Type, Confidence: sg.Confidence})
	if err != nil {
		return Signal{}, err
	}
	// Only a linked account's flag has somebody to tell on the other side:
	// the store takes the link as it keeps the flag (the link read above
	// may have changed since), or keeps the flag waiting for one.
	switch min, ok := s.Catalogue.MinConfidence(sg.Type, string(s.Party.Outbound())); {
	case d.Allow:
	case ok && sg.Confidence < min:
		sg.CrossReason = BelowConfidence
	default:
		sg.CrossReason, sg.CrossRule = PolicyDenied, d.Rule()
	}
	if err := s.Store.CreateSignal(ctx, sg, d.Allow); err != nil {
		return Signal{}, err
	}
	if d.Allow {
		if sg, err = s.Store.Signal(ctx, sg.ID); err != nil {
			return Signal{}, err
		}
	}
	return sg, nil
}

// List is a queue of signals: inbound (the review queue) or outbound, by
// the filter, in id order, without the expired ones (a page may then hold
// fewer than the limit). next is where the following page starts, "" at
// the end.
func (s *Service) List(ctx context.Context, f Filter) (page []Signal, next string, err error) {
	got, err := s.Store.ListSignals(ctx, f)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	page = []Signal{}
	for _, sg := range got {
		if sg.ExpiresAt.After(now) {
			page = append(page, sg)
		}
	}
	if len(got) == f.Limit && f.Limit > 0 {
		next = got[len(got)-1].ID
	}
	return page, next, nil
}

// TypeReport is how the signals of one type and direction fared (see
// Tally), with the precision of the decided ones: upheld over upheld,
// dismissed and false positives (nil while none is decided).
type TypeReport struct {
	Tally
	Precision *float64
}

// Report tallies the signals created since, by type and direction.
func (s *Service) Report(ctx context.Context, since time.Time) ([]TypeReport, error) {
	ts, err := s.Store.SignalReport(ctx, since, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]TypeReport, len(ts))
	for i, t := range ts {
		out[i].Tally = t
		if n := t.Upheld + t.Dismissed + t.FalsePositive; n > 0 {
			p := float64(t.Upheld) / float64(n)
			out[i].Precision = &p
		}
	}
	return out, nil
}

// Get is one signal of this party's, either way, with its decisions
// (an inbound signal's history, oldest first; none for an outbound one,
// whose PeerOutcome is the other party's latest).
func (s *Service) Get(ctx context.Context, id string) (Signal, []Decision, error) {
	sg, err := s.Store.Signal(ctx, id)
	if err != nil {
		return Signal{}, nil, err
	}
	if sg.Direction != Inbound {
		return sg, nil, nil
	}
	ds, err := s.Store.Decisions(ctx, id)
	return sg, ds, err
}

// Decide records a reviewer's decision on an inbound signal: one of
// Decisions, with a reason.
func (s *Service) Decide(ctx context.Context, id, decision, reviewer, reason string) (Signal, error) {
	if !slices.Contains(Decisions, decision) {
		return Signal{}, invalid("decision", "decision: disable, dismiss, escalate or false_positive")
	}
	if strings.TrimSpace(reason) == "" || len(reason) > 2000 {
		return Signal{}, invalid("reason", "reason: from 1 to 2000 characters")
	}
	if strings.TrimSpace(reviewer) == "" || len(reviewer) > 128 {
		return Signal{}, invalid("reviewer", "reviewer: from 1 to 128 characters")
	}
	sg, err := s.Store.Signal(ctx, id)
	if err != nil {
		return Signal{}, err
	}
	if sg.Direction != Inbound {
		return Signal{}, ErrNotInbound
	}
	if sg.Status == "revoked" {
		return Signal{}, ErrRevoked
	}
	now := s.now()
	if err := s.Store.Decide(ctx, sg.ID, decision, reviewer, reason, now); err != nil {
		return Signal{}, err
	}
	sg.Status, sg.Decision, sg.Reviewer, sg.Reason, sg.DecidedAt = decision, decision, reviewer, reason, now
	return sg, nil
}

// Revoke withdraws a signal raised here (an upheld appeal); the
// revocation is queued for the other party if the flag crossed to it.
// Revoking a revoked signal changes nothing.
func (s *Service) Revoke(ctx context.Context, id string) (Signal, error) {
	sg, err := s.Store.Signal(ctx, id)
	if err != nil {
		return Signal{}, err
	}
	if sg.Direction != Outbound {
		return Signal{}, ErrNotOutbound
	}
	if sg.Status == "revoked" {
		return sg, nil
	}
	if err := s.Store.SetStatus(ctx, sg.ID, "revoked", sg.LinkID != (psi.LinkID{})); err != nil {
		return Signal{}, err
	}
	sg.Status = "revoked"
	return sg, nil
}
