package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
)

// Signals is what the signal routes need of the signal store: its
// records, for the signal service, and the relay from the other party.
type Signals interface {
	signal.Records
	Receive(ctx context.Context, msgs []signal.Message) ([]signal.Outcome, error)
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
	// Crosses says whether a flag raised here goes to the other party:
	// the policies let it and the account has a link. If not, Reason
	// says why (below_confidence, not_linked_yet, policy_denied with the
	// deciding Rule, expired before it could be sent).
	Crosses *bool  `json:"crosses,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Rule    string `json:"rule,omitempty"`
	// Decision is a reviewer's, on an inbound signal: the latest; on GET
	// of one signal, Decisions are all of them, oldest first.
	Decision  *decisionView  `json:"decision,omitempty"`
	Decisions []decisionView `json:"decisions,omitempty"`
	// PeerOutcome is the other party's latest decision on a flag raised
	// here.
	PeerOutcome *peerOutcomeView `json:"peer_outcome,omitempty"`
}

type peerOutcomeView struct {
	Outcome   string    `json:"outcome"`
	DecidedAt time.Time `json:"decided_at"`
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
	if sg.Direction == signal.Outbound {
		crosses := sg.Crosses
		v.Crosses, v.Reason, v.Rule = &crosses, string(sg.CrossReason), sg.CrossRule
		if sg.PeerOutcome != "" {
			v.PeerOutcome = &peerOutcomeView{Outcome: sg.PeerOutcome, DecidedAt: sg.PeerDecidedAt}
		}
	}
	return v
}

// getSignal shows one signal of this party's, with an inbound one's
// decisions and an outbound one's outcome at the other party.
func (s *Server) getSignal(c echo.Context, _ *caller) error {
	svc, err := s.signals()
	if err != nil {
		return err
	}
	sg, ds, err := svc.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	v := signalOf(sg)
	for _, d := range ds {
		v.Decisions = append(v.Decisions, decisionView{Decision: d.Decision, Reviewer: d.Reviewer, Reason: d.Reason, DecidedAt: d.DecidedAt})
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) signals() (*signal.Service, error) {
	if s.Signals == nil {
		return nil, newError(http.StatusServiceUnavailable, "not_configured", "this server keeps no signals", nil)
	}
	return &signal.Service{Store: s.Signals, Catalogue: s.Policies().Catalogue, Party: s.Party, Now: s.Now}, nil
}

// signalError answers the service's refusals.
func signalError(err error) error {
	var inv *signal.InvalidError
	switch {
	case errors.As(err, &inv):
		return badRequest(inv.Reason, inv.Details)
	case errors.Is(err, signal.ErrNotInbound):
		return newError(http.StatusNotFound, "not_found", "no such inbound signal", nil)
	case errors.Is(err, signal.ErrNotOutbound):
		return newError(http.StatusNotFound, "not_found", "no such signal raised here", nil)
	case errors.Is(err, signal.ErrRevoked):
		return newError(http.StatusConflict, "revoked", "the other party revoked this signal: it takes no decision", nil)
	}
	return err
}

// authorize is the service's policy decision for this request, audited
// as the request's.
func (s *Server) authorize(c echo.Context, cl *caller) signal.Authorize {
	return func(ctx context.Context, q policies.Request) (policies.Decision, error) {
		d, err := s.Authorizer.Authorize(ctx, q)
		if err != nil {
			return d, err
		}
		verdict := "deny"
		if d.Allow {
			verdict = "allow"
		}
		s.record(c, cl, q, verdict, d)
		return d, nil
	}
}

// flag raises a signal on one of this party's accounts; the service asks
// the policies whether it may cross.
func (s *Server) flag(c echo.Context, cl *caller) error {
	svc, err := s.signals()
	if err != nil {
		return err
	}
	var req flagRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	sg, err := svc.Raise(c.Request().Context(), signal.Flag{ID: assignedID(c, "sig_"), AccountID: req.AccountID, Type: req.Type,
		Confidence: req.Confidence, EvidenceRef: req.EvidenceRef, Note: req.Note, ExpiresAt: req.ExpiresAt,
		Role: string(cl.key.Role), Tenant: cl.key.Tenant}, s.authorize(c, cl))
	if err != nil {
		return signalError(err)
	}
	return c.JSON(http.StatusCreated, signalOf(sg))
}

// listSignals is a queue of signals: inbound (the T&S review queue) or
// outbound, filtered by status, type, least confidence and creation time,
// in id order; expired ones are
// left out (a page may then hold fewer than limit; next goes on).
func listSignals(dir signal.Direction) func(*Server, echo.Context, *caller) error {
	return func(s *Server, c echo.Context, _ *caller) error {
		svc, err := s.signals()
		if err != nil {
			return err
		}
		limit, err := pageLimit(c)
		if err != nil {
			return err
		}
		po := c.QueryParam("peer_outcome")
		if po != "" && (dir != signal.Outbound || !slices.Contains(signal.Decisions, po)) {
			return badRequest("peer_outcome: on the flags raised here, one of "+strings.Join(signal.Decisions, ", "),
				map[string]any{"parameter": "peer_outcome"})
		}
		f := signal.Filter{Direction: dir, Status: c.QueryParam("status"), Type: c.QueryParam("type"), PeerOutcome: po,
			After: c.QueryParam("after"), Limit: limit}
		if v := c.QueryParam("min_confidence"); v != "" {
			if f.MinConfidence, err = strconv.ParseFloat(v, 64); err != nil || !(f.MinConfidence >= 0 && f.MinConfidence <= 1) {
				return badRequest("min_confidence: a number from 0 to 1", map[string]any{"parameter": "min_confidence"})
			}
		}
		for _, p := range []struct {
			name string
			t    *time.Time
		}{{"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
			if v := c.QueryParam(p.name); v != "" {
				if *p.t, err = time.Parse(time.RFC3339, v); err != nil {
					return badRequest(p.name+": a time such as 2026-11-01T00:00:00Z (RFC 3339)", map[string]any{"parameter": p.name})
				}
			}
		}
		got, next, err := svc.List(c.Request().Context(), f)
		if err != nil {
			return err
		}
		page := signalPage{Items: make([]signalView, len(got)), Next: next}
		for i, sg := range got {
			page.Items[i] = signalOf(sg)
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
	svc, err := s.signals()
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reviewer) == "" {
		req.Reviewer = cl.key.ID
	}
	sg, err := svc.Decide(c.Request().Context(), c.Param("id"), req.Decision, req.Reviewer, req.Reason)
	if err != nil {
		return signalError(err)
	}
	return c.JSON(http.StatusOK, signalOf(sg))
}

// revoke withdraws an outbound signal (an upheld appeal); the revocation
// is queued for the other party with the signal.
func (s *Server) revoke(c echo.Context, _ *caller) error {
	svc, err := s.signals()
	if err != nil {
		return err
	}
	sg, err := svc.Revoke(c.Request().Context(), c.Param("id"))
	if err != nil {
		return signalError(err)
	}
	return c.JSON(http.StatusOK, signalOf(sg))
}

// reportWindow is the report's default period.
const reportWindow = 30 * 24 * time.Hour

// signalReport tallies, per signal type and direction, how the signals
// created since (default: 30 days) fared: crossed, upheld, dismissed,
// false positives, escalated, revoked, expired, and the precision.
func (s *Server) signalReport(c echo.Context, _ *caller) error {
	svc, err := s.signals()
	if err != nil {
		return err
	}
	// Whole days only: two reports a moment apart would otherwise tell
	// one signal's fate.
	since := s.Now().UTC().Add(-reportWindow).Truncate(24 * time.Hour)
	if v := c.QueryParam("since"); v != "" {
		if since, err = time.Parse(time.DateOnly, v); err != nil {
			return badRequest("since: a day such as 2026-11-01 (UTC)", map[string]any{"parameter": "since"})
		}
	}
	rs, err := svc.Report(c.Request().Context(), since)
	if err != nil {
		return err
	}
	// The wire form is the one `linkd policy report` reads back.
	out := policies.SignalsFared{Since: since.UTC(), Types: make([]policies.SignalFared, len(rs))}
	for i, r := range rs {
		v := policies.SignalFared{Type: r.Type, Direction: string(s.Party.Outbound()), Signals: "raised", Crossed: r.Crossed, Upheld: r.Upheld,
			Dismissed: r.Dismissed, FalsePositive: r.FalsePositive, Escalated: r.Escalated, Revoked: r.Revoked, Expired: r.Expired, Precision: r.Precision}
		if r.Direction == signal.Inbound {
			v.Direction, v.Signals = string(s.Party.Inbound()), "received"
		}
		out.Types[i] = v
	}
	return c.JSON(http.StatusOK, out)
}
