package api

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/audit"
)

type auditItem struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Tenant     string    `json:"tenant"`
	Role       string    `json:"role"`
	Action     string    `json:"action"`
	Resource   string    `json:"resource"`
	Decision   string    `json:"decision"`
	Rule       string    `json:"rule"`
	BundleHash string    `json:"bundle_hash"`
	RequestID  string    `json:"request_id"`
	// Request is the authorization request decided, for explain.
	Request json.RawMessage `json:"request,omitempty"`
	Hash    string          `json:"hash"`
}

type auditPage struct {
	Items []auditItem `json:"items"`
	Next  string      `json:"next"`
}

const (
	defaultPage = 100
	maxPage     = 1000
)

// pageLimit reads the limit query parameter.
func pageLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPage {
		return 0, badRequest("limit: want a whole number from 1 to 1000", map[string]any{"parameter": "limit"})
	}
	return n, nil
}

// auditLog lists the audit log for compliance: filters by actor, tenant,
// action, decision and time; oldest first (next goes in after) or, with
// order=newest, newest first (next goes in before).
func (s *Server) auditLog(c echo.Context, _ *caller) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	f := audit.Filter{Limit: limit, Actor: c.QueryParam("actor"), Tenant: c.QueryParam("tenant"), Action: c.QueryParam("action"),
		Decision: c.QueryParam("decision")}
	switch o := c.QueryParam("order"); o {
	case "", "oldest":
	case "newest":
		f.Newest = true
	default:
		return badRequest("order: oldest (the default) or newest", map[string]any{"parameter": "order"})
	}
	for _, p := range []struct {
		name string
		v    *int64
	}{{"after", &f.After}, {"before", &f.Before}} {
		if cur := c.QueryParam(p.name); cur != "" {
			*p.v, err = strconv.ParseInt(cur, 10, 64)
			if err != nil || *p.v < 0 {
				return badRequest(p.name+": not a cursor this server gave", map[string]any{"parameter": p.name})
			}
		}
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.QueryParam(p.name); v != "" {
			if *p.t, err = time.Parse(time.RFC3339, v); err != nil {
				return badRequest(p.name+": a time such as 2026-11-01T00:00:00Z (RFC 3339)", map[string]any{"parameter": p.name})
			}
		}
	}
	es, err := s.Audit.AuditEntries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	page := auditPage{Items: make([]auditItem, len(es))}
	for i, e := range es {
		page.Items[i] = auditItem{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Tenant: e.Tenant, Role: e.Role, Action: e.Action,
			Resource: e.Resource, Decision: e.Decision, Rule: e.Rule, BundleHash: e.BundleHash, RequestID: e.RequestID,
			Hash: hex.EncodeToString(e.Hash[:])}
		if json.Valid([]byte(e.Request)) {
			page.Items[i].Request = json.RawMessage(e.Request)
		}
	}
	if len(es) == limit {
		page.Next = strconv.FormatInt(es[len(es)-1].Seq, 10)
	}
	return c.JSON(http.StatusOK, page)
}
