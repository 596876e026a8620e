package api

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/policies"
)

// Signals is what the signal routes need: the signal store.
type Signals interface {
	signal.Store
}

type flagRequest struct {
	AccountID   string    `json:"account_id"`
	Type        string    `json:"type"`
	Confidence  *float64  `json:"confidence"`
	EvidenceRef string    `json:"evidence_ref"`
	ExpiresAt   time.Time `json:"expires_at"`
	Note        string    `json:"note"`
}

type signalView struct {
	ID          string    `json:"id"`
	AccountID   string    `json:"account_id"`
	Type        string    `json:"type"`
	Confidence  float64   `json:"confidence"`
	EvidenceRef string    `json:"evidence_ref,omitempty"`
	Note        string    `json:"note,omitempty"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Crosses says whether the flag goes to the other party: the policies
	// let it and the account has a link (answered when it is raised).
	Crosses *bool `json:"crosses,omitempty"`
	// Decision is a reviewer's, on an inbound signal.
	Decision *decisionView `json:"decision,omitempty"`
}

type decisionView struct {
	Decision  string    `json:"decision"`
	Reviewer  string    `json:"reviewer"`
	Reason    string    `json:"reason"`
	DecidedAt time.Time `json:"decided_at"`
}

type signalPage struct {
	Items []signalView `json:"items"`
	Next  string       `json:"next"`
}

func signalOf(sg signal.Signal) signalView {
	v := signalView{ID: sg.ID, AccountID: sg.AccountID, Type: sg.Type, Confidence: sg.Confidence, EvidenceRef: sg.EvidenceRef,
		Note: sg.Note, Status: sg.Status, CreatedAt: sg.CreatedAt, ExpiresAt: sg.ExpiresAt}
	if !sg.DecidedAt.IsZero() {
		v.Decision = &decisionView{Decision: sg.Decision, Reviewer: sg.Reviewer, Reason: sg.Reason, DecidedAt: sg.DecidedAt}
	}
	return v
}

func (s *Server) signals() (Signals, error) {
	if s.Signals == nil {
		return nil, newError(http.StatusServiceUnavailable, "not_configured", "this server keeps no signals", nil)
	}
	return s.Signals, nil
}

// flag raises a signal on one of this party's accounts. Whether it may
// reach the other party is a policy decision (type, direction, confidence,
// the account's region), audited; only a linked account's flag can.
func (s *Server) flag(c echo.Context, cl *caller) error {
	st, err := s.signals()
	if err != nil {
		return err
	}
	var req flagRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	cat := s.Policies().Catalogue
	now := s.Now().UTC().Truncate(time.Microsecond)
	typ, known := cat.SignalTypes[req.Type]
	switch {
	case req.AccountID == "" || len(req.AccountID) > 128:
		return badRequest("account_id: from 1 to 128 characters", map[string]any{"field": "account_id"})
	case !known:
		return badRequest("type: not a signal type of the catalogue", map[string]any{"field": "type", "types": slices.Sorted(maps.Keys(cat.SignalTypes))})
	case req.Confidence == nil || *req.Confidence < 0 || *req.Confidence > 1:
		return badRequest("confidence: a number from 0 to 1 is required", map[string]any{"field": "confidence"})
	case len(req.EvidenceRef) > 200:
		return badRequest("evidence_ref: at most 200 characters", map[string]any{"field": "evidence_ref"})
	case len(req.Note) > 2000:
		return badRequest("note: at most 2000 characters", map[string]any{"field": "note"})
	case !req.ExpiresAt.After(now):
		return badRequest("expires_at: a time in the future is required", map[string]any{"field": "expires_at"})
	case req.ExpiresAt.Sub(now) > time.Duration(typ.MaxExpiryDays)*24*time.Hour:
		return badRequest(fmt.Sprintf("expires_at: a %s signal lasts at most %d days", req.Type, typ.MaxExpiryDays),
			map[string]any{"field": "expires_at", "max_expiry_days": typ.MaxExpiryDays})
	}
	ctx := c.Request().Context()
	sub, err := st.Subject(ctx, req.AccountID)
	if err != nil {
		return err
	}
	sg := signal.Signal{ID: assignedID(c, "sig_"), Direction: signal.Outbound, AccountID: req.AccountID, Type: req.Type, Confidence: *req.Confidence,
		EvidenceRef: req.EvidenceRef, Note: req.Note, Status: "open", CreatedAt: now, ExpiresAt: req.ExpiresAt.UTC().Truncate(time.Microsecond)}
	q := policies.Request{Role: string(cl.key.Role), Tenant: cl.key.Tenant, Action: "signal.cross",
		Resource: policies.Resource{Kind: "signal", ID: sg.ID}, Purpose: "safety", Region: sub.Country,
		Direction: s.Party.Outbound(), SignalType: sg.Type, Confidence: sg.Confidence}
	d, err := s.Authorizer.Authorize(ctx, q)
	if err != nil {
		return err
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	s.record(c, cl, q, verdict, d)
	// Only a linked account's flag has somebody to tell on the other side.
	crosses := d.Allow && sub.Linked
	sg.LinkID = sub.LinkID
	if err := st.CreateSignal(ctx, sg, crosses); err != nil {
		return err
	}
	v := signalOf(sg)
	v.Crosses = &crosses
	return c.JSON(http.StatusCreated, v)
}

// listSignals is a queue of signals: inbound (the T&S review queue) or
// outbound, filtered by status and type, in id order; expired ones are
// left out (a page may then hold fewer than limit; next goes on).
func listSignals(dir signal.Direction) func(*Server, echo.Context, *caller) error {
	return func(s *Server, c echo.Context, _ *caller) error {
		st, err := s.signals()
		if err != nil {
			return err
		}
		limit, err := pageLimit(c)
		if err != nil {
			return err
		}
		got, err := st.ListSignals(c.Request().Context(), signal.Filter{Direction: dir, Status: c.QueryParam("status"),
			Type: c.QueryParam("type"), After: c.QueryParam("after"), Limit: limit})
		if err != nil {
			return err
		}
		now := s.Now()
		page := signalPage{Items: []signalView{}}
		for _, sg := range got {
			if sg.ExpiresAt.After(now) {
				page.Items = append(page.Items, signalOf(sg))
			}
		}
		if len(got) == limit {
			page.Next = got[len(got)-1].ID
		}
		return c.JSON(http.StatusOK, page)
	}
}

type decisionRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	// Reviewer names the person who decided (default: the API key's id).
	Reviewer string `json:"reviewer"`
}

// decide records a reviewer's decision on an inbound signal.
func (s *Server) decide(c echo.Context, cl *caller) error {
	st, err := s.signals()
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch req.Decision {
	case "disable", "dismiss", "escalate":
	default:
		return badRequest("decision: disable, dismiss or escalate", map[string]any{"field": "decision"})
	}
	if strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 2000 {
		return badRequest("reason: from 1 to 2000 characters", map[string]any{"field": "reason"})
	}
	if len(req.Reviewer) > 128 {
		return badRequest("reviewer: at most 128 characters", map[string]any{"field": "reviewer"})
	}
	if strings.TrimSpace(req.Reviewer) == "" {
		req.Reviewer = cl.key.ID
	}
	ctx := c.Request().Context()
	sg, err := st.Signal(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if sg.Direction != signal.Inbound {
		return newError(http.StatusNotFound, "not_found", "no such inbound signal", nil)
	}
	now := s.Now().UTC().Truncate(time.Microsecond)
	if err := st.Decide(ctx, sg.ID, req.Decision, req.Reviewer, req.Reason, now); err != nil {
		return err
	}
	sg.Status, sg.Decision, sg.Reviewer, sg.Reason, sg.DecidedAt = req.Decision, req.Decision, req.Reviewer, req.Reason, now
	return c.JSON(http.StatusOK, signalOf(sg))
}

// revoke withdraws an outbound signal (an upheld appeal); the revocation
// is queued for the other party with the signal.
func (s *Server) revoke(c echo.Context, _ *caller) error {
	st, err := s.signals()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sg, err := st.Signal(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if sg.Direction != signal.Outbound {
		return newError(http.StatusNotFound, "not_found", "no such signal raised here", nil)
	}
	if sg.Status == "revoked" {
		return c.JSON(http.StatusOK, signalOf(sg))
	}
	if err := st.SetStatus(ctx, sg.ID, "revoked", sg.LinkID != (psi.LinkID{})); err != nil {
		return err
	}
	sg.Status = "revoked"
	return c.JSON(http.StatusOK, signalOf(sg))
}
