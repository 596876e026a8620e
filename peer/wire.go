// Package peer is the party-to-party side of linkd: the wire form of
// what one party sends the other (link batches, signal relay batches,
// audience extensions), the Client that sends it with the party key the
// other party issued, and the Server whose Routes answer it. The link
// run's own messages (opening, result) are package linkjob's; the routes
// are served inside package api's server, which authenticates the party
// key, applies its deadlines and audits.
//
//	initiator                               responder
//	POST /v1/peer/link/jobs              -> open a link run
//	POST .../batches/{seq}/reblind       -> re-blind this party's batch
//	GET  .../batches/{seq}               <- the responder's batch
//	POST .../batches/{seq}/values        -> its values, re-blinded
//	POST .../finish                      -> both keep the links
//	POST /v1/peer/signals                -> relayed flags and revocations
//	POST /v1/peer/audiences              -> an extension's batch of link ids
//	POST /v1/peer/subjects               -> objections and erasures
//
// Errors of a link run cross as codes (linkjob.Code) and come back as the
// same error values (linkjob.FromCode); nothing is matched by its text.
package peer

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/subject"
)

// idRE is the form of a signal's id on the wire.
var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// MaxRelayBatch is the most messages one relay request may carry;
// MaxMirrorBatch the most link ids one extension batch may;
// MaxSubjectBatch the most data-subject requests one request may.
const (
	MaxRelayBatch   = 1000
	MaxMirrorBatch  = 10000
	MaxSubjectBatch = 1000
)

// Elements is the body of a batch of a link run: the elements in their
// wire form (linkjob.EncodeElements), and whether it is the sender's last.
type Elements struct {
	Elements []string `json:"elements"`
	Last     bool     `json:"last,omitempty"`
}

// PeerSignal is one message of the signal relay on the wire: all of a
// signal that crosses (kind signal or revoke), or the receiver's decision
// on one, sent back (kind outcome: the id, the outcome and its time
// alone).
type PeerSignal struct {
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	LinkID     string    `json:"link_id,omitempty"`
	Type       string    `json:"type,omitempty"`
	Confidence *float64  `json:"confidence,omitempty"`
	CreatedAt  time.Time `json:"created_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	Outcome    string    `json:"outcome,omitempty"`
	DecidedAt  time.Time `json:"decided_at,omitzero"`
}

// PeerSignals is the body of POST /v1/peer/signals.
type PeerSignals struct {
	Messages []PeerSignal `json:"messages"`
}

// PeerSignalsResult answers it: one outcome a message, in order.
type PeerSignalsResult struct {
	Outcomes []signal.Outcome `json:"outcomes"`
}

// WireSignals writes messages in their wire form.
func WireSignals(msgs []signal.Message) PeerSignals {
	out := PeerSignals{Messages: make([]PeerSignal, len(msgs))}
	for i, m := range msgs {
		if m.Kind == signal.KindOutcome {
			out.Messages[i] = PeerSignal{Kind: m.Kind, ID: m.ID, Outcome: m.Outcome, DecidedAt: m.DecidedAt}
			continue
		}
		conf := m.Confidence
		out.Messages[i] = PeerSignal{Kind: m.Kind, ID: m.ID, LinkID: m.LinkID.String(), Type: m.Type, Confidence: &conf,
			CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt}
	}
	return out
}

// Message reads one message, or says what is wrong with it (never
// quoting what was sent).
func (p PeerSignal) Message() (signal.Message, string) {
	if p.Kind == signal.KindOutcome {
		switch {
		case !idRE.MatchString(p.ID):
			return signal.Message{}, "id: 1 to 64 letters, digits, _ or -"
		case !slices.Contains(signal.Decisions, p.Outcome):
			return signal.Message{}, "outcome: one of " + strings.Join(signal.Decisions, ", ")
		case p.DecidedAt.IsZero():
			return signal.Message{}, "decided_at: required"
		case p.LinkID != "" || p.Type != "" || p.Confidence != nil || !p.CreatedAt.IsZero() || !p.ExpiresAt.IsZero():
			return signal.Message{}, "an outcome carries the id, the outcome and decided_at alone"
		}
		return signal.Message{Kind: p.Kind, ID: p.ID, Outcome: p.Outcome, DecidedAt: p.DecidedAt.UTC().Truncate(time.Microsecond)}, ""
	}
	lid, err := psi.ParseLinkID(p.LinkID)
	switch {
	case p.Kind != signal.KindSignal && p.Kind != signal.KindRevoke:
		return signal.Message{}, "kind: signal, revoke or outcome"
	case !idRE.MatchString(p.ID):
		return signal.Message{}, "id: 1 to 64 letters, digits, _ or -"
	case err != nil:
		return signal.Message{}, fmt.Sprintf("link_id: %d hexadecimal characters", 2*psi.LinkIDSize)
	case p.Type == "" || len(p.Type) > 64:
		return signal.Message{}, "type: from 1 to 64 characters"
	case p.Confidence == nil || *p.Confidence < 0 || *p.Confidence > 1:
		return signal.Message{}, "confidence: a number from 0 to 1 is required"
	case p.CreatedAt.IsZero() || !p.ExpiresAt.After(p.CreatedAt):
		return signal.Message{}, "created_at and expires_at: both required, expiry after creation"
	case p.Outcome != "" || !p.DecidedAt.IsZero():
		return signal.Message{}, "outcome and decided_at: only in an outcome"
	}
	return signal.Message{Kind: p.Kind, ID: p.ID, LinkID: lid, Type: p.Type, Confidence: *p.Confidence,
		CreatedAt: p.CreatedAt.UTC().Truncate(time.Microsecond), ExpiresAt: p.ExpiresAt.UTC().Truncate(time.Microsecond)}, ""
}

// MirrorRequest is the peer's batch of an extension, on the wire.
type MirrorRequest struct {
	SourceAudience string   `json:"source_audience"`
	Tenant         string   `json:"tenant"`
	Name           string   `json:"name"`
	Purpose        string   `json:"purpose"`
	LinkIDs        []string `json:"link_ids"`
	SessionID      string   `json:"session_id"`
	BatchSeq       int64    `json:"batch_seq"`
	Last           bool     `json:"last_batch_flag"`
}

// EncodeLinkIDs writes link ids for a MirrorRequest.
func EncodeLinkIDs(ids []psi.LinkID) []string {
	out := make([]string, len(ids))
	for i := range ids {
		out[i] = hex.EncodeToString(ids[i][:])
	}
	return out
}

// PeerSubject is a data-subject request on the wire: its id, kind
// (objection or erasure), the link it names, an objection's purpose and
// when the person asked. Nothing else about the person crosses.
type PeerSubject struct {
	Kind        string    `json:"kind"`
	ID          string    `json:"id"`
	LinkID      string    `json:"link_id"`
	Purpose     string    `json:"purpose,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
}

// PeerSubjects is the body of POST /v1/peer/subjects.
type PeerSubjects struct {
	Requests []PeerSubject `json:"requests"`
}

// PeerSubjectAck is the acknowledgement of one request: applied,
// duplicate (applied before, at its first time) or unlinked (no account
// here has that link: nothing to do).
type PeerSubjectAck struct {
	Outcome        string    `json:"outcome"`
	AcknowledgedAt time.Time `json:"acknowledged_at"`
}

// PeerSubjectsResult answers POST /v1/peer/subjects: one
// acknowledgement a request, in order.
type PeerSubjectsResult struct {
	Acknowledgements []PeerSubjectAck `json:"acknowledgements"`
}

// WireSubjects writes requests in their wire form.
func WireSubjects(msgs []subject.Message) PeerSubjects {
	out := PeerSubjects{Requests: make([]PeerSubject, len(msgs))}
	for i, m := range msgs {
		out.Requests[i] = PeerSubject{Kind: m.Kind, ID: m.ID, LinkID: m.LinkID.String(), Purpose: m.Purpose, RequestedAt: m.At}
	}
	return out
}

// Message reads one request, or says what is wrong with it (never
// quoting what was sent).
func (p PeerSubject) Message() (subject.Message, string) {
	lid, err := psi.ParseLinkID(p.LinkID)
	switch {
	case p.Kind != subject.KindObjection && p.Kind != subject.KindErasure:
		return subject.Message{}, "kind: objection or erasure"
	case !idRE.MatchString(p.ID):
		return subject.Message{}, "id: 1 to 64 letters, digits, _ or -"
	case err != nil:
		return subject.Message{}, fmt.Sprintf("link_id: %d hexadecimal characters", 2*psi.LinkIDSize)
	case p.Kind == subject.KindObjection && !idRE.MatchString(p.Purpose):
		return subject.Message{}, "purpose: required in an objection, 1 to 64 letters, digits, _ or -"
	case p.Kind == subject.KindErasure && p.Purpose != "":
		return subject.Message{}, "purpose: only in an objection"
	case p.RequestedAt.IsZero():
		return subject.Message{}, "requested_at: required"
	}
	return subject.Message{Kind: p.Kind, ID: p.ID, LinkID: lid, Purpose: p.Purpose,
		At: p.RequestedAt.UTC().Truncate(time.Microsecond)}, ""
}

// Ack reads an acknowledgement, or says what is wrong with it.
func (a PeerSubjectAck) Ack() (subject.Ack, string) {
	switch {
	case a.Outcome != subject.Applied && a.Outcome != subject.Duplicate && a.Outcome != subject.Unlinked && a.Outcome != subject.Refused:
		return subject.Ack{}, "outcome: applied, duplicate, unlinked or refused"
	case a.AcknowledgedAt.IsZero():
		return subject.Ack{}, "acknowledged_at: required"
	}
	return subject.Ack{Outcome: a.Outcome, At: a.AcknowledgedAt.UTC().Truncate(time.Microsecond)}, ""
}
