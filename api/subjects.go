package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/subject"
)

type heldView struct {
	AccountID string `json:"account_id"`
	Country   string `json:"country"`
	AdOptOut  bool   `json:"ad_opt_out"`
	// Consents is the consent of each purpose in the ledger (its latest
	// entry); ConsentHistory the ledger, latest first.
	Consents          []consentView `json:"consents"`
	ConsentHistory    []consentView `json:"consent_history"`
	BlockedBusinesses int           `json:"blocked_businesses"`
	UpdatedAt         time.Time     `json:"updated_at"`
	// Linked says whether the account is linked to one of the other
	// party's, never which.
	Linked    bool                `json:"linked"`
	LinkedAt  *time.Time          `json:"linked_at,omitempty"`
	Audiences []heldAudiencesView `json:"audiences"`
	Signals   []heldSignalView    `json:"open_signals"`
	Requests  []receiptView       `json:"requests"`
}

// consentView is an entry of the consent ledger.
type consentView struct {
	Purpose string `json:"purpose"`
	// State is "granted" or "withdrawn".
	State  string    `json:"state"`
	Notice string    `json:"notice,omitempty"`
	At     time.Time `json:"at"`
	// Source is "directory" (the account system's import) or "objection"
	// (the request RequestID).
	Source    string `json:"source"`
	RequestID string `json:"request_id,omitempty"`
}

// receiptView is a data-subject request's receipt.
type receiptView struct {
	ID string `json:"id"`
	// AccountID is an objection's account; an erasure's receipt names
	// none (the account system keeps its id with the receipt's).
	AccountID string `json:"account_id,omitempty"`
	Kind      string `json:"kind"`
	Purpose   string `json:"purpose,omitempty"`
	// Origin: "here" (asked of this party) or "other_party" (relayed by
	// the other party, whose id it keeps).
	Origin string    `json:"origin"`
	At     time.Time `json:"requested_at"`
	// Peer is, for a request made here, where it stands with the other
	// party: "not_linked" (the account had no link: nothing to relay),
	// "pending" or "acknowledged".
	Peer string `json:"peer,omitempty"`
	// PeerAcknowledgedAt is when the other party acknowledged it (null:
	// not yet); for a request the other party relayed, when this party
	// applied it.
	PeerAcknowledgedAt *time.Time `json:"peer_acknowledged_at"`
	// PeerOutcome is what the other party did with a request made here,
	// once acknowledged: "applied", "duplicate", "unlinked" (it holds no
	// link with that id any more) or "refused" (not applied, and never
	// will be there).
	PeerOutcome string `json:"peer_outcome,omitempty"`
	// RemovedFromAudiences is, in the answer to the request, how many
	// audience memberships it ended here.
	RemovedFromAudiences *int64 `json:"removed_from_audiences,omitempty"`
}

func receiptOf(r subject.Request) receiptView {
	v := receiptView{ID: r.ID, AccountID: r.AccountID, Kind: r.Kind, Purpose: r.Purpose, Origin: "here", At: r.At}
	if !r.AcknowledgedAt.IsZero() {
		at := r.AcknowledgedAt
		v.PeerAcknowledgedAt = &at
	}
	switch {
	case r.Peer:
		v.Origin = "other_party"
	case !r.Relayed:
		v.Peer = "not_linked"
	case r.AcknowledgedAt.IsZero():
		v.Peer = "pending"
	default:
		v.Peer, v.PeerOutcome = "acknowledged", r.PeerOutcome
	}
	return v
}

type objectionRequest struct {
	Purpose string `json:"purpose"`
}

const objectionKey = "objection"

// prepareObjection reads the purpose objected to, for the decision.
func (s *Server) prepareObjection(c echo.Context, q *policies.Request) error {
	var req objectionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if _, ok := s.Policies().Catalogue.Purposes[req.Purpose]; !ok {
		return badRequest("purpose: one of the catalogue's purposes, such as ads", map[string]any{"field": "purpose"})
	}
	q.Purpose = req.Purpose
	c.Set(objectionKey, req)
	return nil
}

// object records the objection of the person behind an account to a
// purpose and takes the account out of this party's audiences of that
// purpose at once; the answer is the request's receipt.
func (s *Server) object(c echo.Context, _ *caller) error {
	if s.Subjects == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server answers no data-subject requests", nil)
	}
	req := c.Get(objectionKey).(objectionRequest)
	r, err := s.Subjects.Object(c.Request().Context(), subject.Request{ID: assignedID(c, "sr_"), AccountID: c.Param("id"),
		Purpose: req.Purpose, At: s.Now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return err
	}
	v := receiptOf(r)
	v.RemovedFromAudiences = &r.Removed
	return c.JSON(http.StatusCreated, v)
}

// erase erases the account at the request of the person behind it: its
// link, memberships, signals and its id in earlier receipts, at once
// here, and through the relay the other party's side of its link. The
// answer is the receipt, which names no account: keep its id.
func (s *Server) erase(c echo.Context, _ *caller) error {
	if s.Subjects == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server answers no data-subject requests", nil)
	}
	r, err := s.Subjects.Erase(c.Request().Context(), subject.Request{ID: assignedID(c, "sr_"), AccountID: c.Param("id"),
		At: s.Now().UTC().Truncate(time.Microsecond)})
	if err != nil {
		return err
	}
	v := receiptOf(r)
	v.RemovedFromAudiences = &r.Removed
	return c.JSON(http.StatusCreated, v)
}

// receipt answers a data-subject request's receipt by its id: where it
// stands with the other party.
func (s *Server) receipt(c echo.Context, _ *caller) error {
	if s.Subjects == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server answers no data-subject requests", nil)
	}
	r, err := s.Subjects.SubjectRequest(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, receiptOf(r))
}

type heldAudiencesView struct {
	Tenant    string `json:"tenant"`
	Purpose   string `json:"purpose"`
	Audiences int    `json:"audiences"`
}

type heldSignalView struct {
	Direction string    `json:"direction"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// subjectHeld answers, for the person behind an account, what this party
// holds about it. The request is audited: who asked about whom, when.
func (s *Server) subjectHeld(c echo.Context, _ *caller) error {
	if s.Subjects == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server answers no data-subject requests", nil)
	}
	h, err := s.Subjects.HeldFor(c.Request().Context(), c.Param("id"), s.Now())
	if err != nil {
		return err
	}
	v := heldView{AccountID: h.AccountID, Country: h.Country, AdOptOut: h.AdOptOut,
		BlockedBusinesses: h.BlockedBusinesses, UpdatedAt: h.UpdatedAt, Linked: h.Linked,
		Consents: []consentView{}, ConsentHistory: []consentView{},
		Audiences: []heldAudiencesView{}, Signals: []heldSignalView{}, Requests: []receiptView{}}
	seen := map[string]bool{}
	for _, e := range h.Consents {
		cv := consentView{Purpose: e.Purpose, State: "withdrawn", Notice: e.Notice, At: e.At, Source: e.Source, RequestID: e.RequestID}
		if e.Granted {
			cv.State = "granted"
		}
		v.ConsentHistory = append(v.ConsentHistory, cv)
		if !seen[e.Purpose] {
			seen[e.Purpose] = true
			v.Consents = append(v.Consents, cv)
		}
	}
	if h.Linked {
		at := h.LinkedAt
		v.LinkedAt = &at
	}
	for _, a := range h.Audiences {
		v.Audiences = append(v.Audiences, heldAudiencesView{Tenant: a.Tenant, Purpose: a.Purpose, Audiences: a.Audiences})
	}
	for _, r := range h.Requests {
		v.Requests = append(v.Requests, receiptOf(r))
	}
	for _, g := range h.Signals {
		v.Signals = append(v.Signals, heldSignalView{Direction: string(g.Direction), Type: g.Type, CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt})
	}
	return c.JSON(http.StatusOK, v)
}
