package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
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
		Audiences: []heldAudiencesView{}, Signals: []heldSignalView{}}
	if h.Linked {
		at := h.LinkedAt
		v.LinkedAt = &at
	}
	for _, a := range h.Audiences {
		v.Audiences = append(v.Audiences, heldAudiencesView{Tenant: a.Tenant, Purpose: a.Purpose, Audiences: a.Audiences})
	}
	for _, g := range h.Signals {
		v.Signals = append(v.Signals, heldSignalView{Direction: string(g.Direction), Type: g.Type, CreatedAt: g.CreatedAt, ExpiresAt: g.ExpiresAt})
	}
	return c.JSON(http.StatusOK, v)
}
