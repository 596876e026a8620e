package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/subject"
)

type heldView struct {
	AccountID         string    `json:"account_id"`
	Country           string    `json:"country"`
	AdOptOut          bool      `json:"ad_opt_out"`
	AdsConsent        bool      `json:"ads_consent"`
	BlockedBusinesses int       `json:"blocked_businesses"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Linked says whether the account is linked to one of the other
	// party's, never which.
	Linked    bool                `json:"linked"`
	LinkedAt  *time.Time          `json:"linked_at,omitempty"`
	Audiences []heldAudiencesView `json:"audiences"`
	Signals   []heldSignalView    `json:"open_signals"`
	Requests  []receiptView       `json:"requests"`
}

// receiptView is a data-subject request's receipt.
type receiptView struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Kind      string    `json:"kind"`
	Purpose   string    `json:"purpose"`
	At        time.Time `json:"requested_at"`
	// PeerAcknowledgedAt is when the other party acknowledged it (null:
	// not yet).
	PeerAcknowledgedAt *time.Time `json:"peer_acknowledged_at"`
	// RemovedFromAudiences is, in the answer to the request, how many
	// audience memberships it ended here.
	RemovedFromAudiences *int64 `json:"removed_from_audiences,omitempty"`
}

func receiptOf(r subject.Request) receiptView {
	v := receiptView{ID: r.ID, AccountID: r.AccountID, Kind: r.Kind, Purpose: r.Purpose, At: r.At}
	if !r.AcknowledgedAt.IsZero() {
		at := r.AcknowledgedAt
		v.PeerAcknowledgedAt = &at
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
	return assignID("sr_")(s, c, q)
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
	v := heldView{AccountID: h.AccountID, Country: h.Country, AdOptOut: h.AdOptOut, AdsConsent: h.AdsConsent,
		BlockedBusinesses: h.BlockedBusinesses, UpdatedAt: h.UpdatedAt, Linked: h.Linked,
		Audiences: []heldAudiencesView{}, Signals: []heldSignalView{}, Requests: []receiptView{}}
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
