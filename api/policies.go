package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storeerr"
)

type bundleView struct {
	BundleHash string     `json:"bundle_hash"`
	Rules      []ruleView `json:"rules"`
	Tests      int        `json:"tests"`
	// TestResults are the bundle's own tests, decided under it.
	TestResults []testResultView    `json:"test_results"`
	Catalogue   *policies.Catalogue `json:"catalogue"`
	Files       []policies.File     `json:"files"`
}

type ruleView struct {
	policies.Rule
	// Text is the rule as Cedar, annotations included.
	Text string `json:"text"`
}

type testResultView struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Line     int    `json:"line"`
	Expect   string `json:"expect"`
	Decision string `json:"decision"`
	Pass     bool   `json:"pass"`
	Why      string `json:"why,omitempty"`
}

// policyBundle shows compliance the bundle in force: its hash, its rules
// with their text, its catalogue, its tests' results and its files.
func (s *Server) policyBundle(c echo.Context, _ *caller) error {
	b := s.Policies()
	v := bundleView{BundleHash: b.Hash(), Tests: len(b.Tests()), Catalogue: b.Catalogue, Files: b.Files()}
	for _, r := range b.Rules() {
		v.Rules = append(v.Rules, ruleView{Rule: r, Text: r.Document})
	}
	for _, r := range b.RunTests() {
		d := "deny"
		if r.Decision.Allow {
			d = "allow"
		}
		v.TestResults = append(v.TestResults, testResultView{Name: r.Case.Name, File: r.Case.File, Line: r.Case.Line,
			Expect: r.Case.Expect, Decision: d, Pass: r.Pass, Why: r.Why})
	}
	return c.JSON(http.StatusOK, v)
}

// explainRequest asks about a request, or about an audit entry.
type explainRequest struct {
	Request  *policies.Request `json:"request"`
	AuditSeq int64             `json:"audit_seq"`
}

type explainedRule struct {
	ID      string `json:"id"`
	Effect  string `json:"effect"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Enforce string `json:"enforcement"`
}

type recordedEntry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Decision   string    `json:"decision"`
	Rule       string    `json:"rule"`
	BundleHash string    `json:"bundle_hash"`
	RequestID  string    `json:"request_id"`
}

type explainResponse struct {
	Request  policies.Request  `json:"request"`
	Decision policies.Decision `json:"decision"`
	// Rules are the deciding rules, with where they are written.
	Rules []explainedRule `json:"rules"`
	// Under says which bundle decided: "recorded" (the one the audit
	// entry names) or "current" (the one in force).
	Under string `json:"under"`
	// Recorded is the audit entry asked about.
	Recorded *recordedEntry `json:"recorded,omitempty"`
	// Note says what the explanation cannot show, if anything.
	Note string `json:"note,omitempty"`
}

// policyExplain decides a request, or an audit entry's request again, and
// says which rules decided and which catalogue values they used.
func (s *Server) policyExplain(c echo.Context, _ *caller) error {
	var req explainRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	switch {
	case (req.Request == nil) == (req.AuditSeq == 0):
		return badRequest("give either request or audit_seq", nil)
	case req.AuditSeq < 0:
		return badRequest("audit_seq: want a sequence number of the audit log, from 1", map[string]any{"field": "audit_seq"})
	}
	b := s.Policies()
	out := explainResponse{Under: "current"}
	if req.Request != nil {
		if req.Request.Role == "" || req.Request.Action == "" {
			return badRequest("request: a role and an action are required", map[string]any{"field": "request"})
		}
		if req.Request.Confidence < 0 || req.Request.Confidence > 1 {
			return badRequest("request.confidence: want a number from 0 to 1", map[string]any{"field": "request.confidence"})
		}
		if err := b.CheckAction(req.Request.Action); err != nil {
			return badRequest("request.action: "+strings.TrimPrefix(err.Error(), "policies: "), map[string]any{"field": "request.action"})
		}
		out.Request = *req.Request
	} else {
		es, err := s.Audit.AuditEntries(c.Request().Context(), audit.Filter{After: req.AuditSeq - 1, Limit: 1})
		if err != nil {
			return err
		}
		if len(es) == 0 || es[0].Seq != req.AuditSeq {
			return newError(http.StatusNotFound, "not_found", fmt.Sprintf("the audit log has no entry %d", req.AuditSeq), nil)
		}
		e := es[0]
		out.Recorded = &recordedEntry{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Decision: e.Decision, Rule: e.Rule,
			BundleHash: e.BundleHash, RequestID: e.RequestID}
		if e.Request == "" || json.Unmarshal([]byte(e.Request), &out.Request) != nil {
			return newError(http.StatusUnprocessableEntity, "not_explainable",
				fmt.Sprintf("audit entry %d does not record its request, so it cannot be decided again", e.Seq), nil)
		}
		switch {
		case e.BundleHash == b.Hash():
			out.Under = "recorded"
		case s.Archive != nil:
			files, err := s.Archive.BundleFiles(c.Request().Context(), e.BundleHash)
			switch {
			case errors.Is(err, storeerr.ErrNotFound):
				out.Note = "the bundle the entry was decided under is not archived here: explained under the bundle in force"
			case err != nil:
				return err
			default:
				old, probs := policies.FromFiles(files)
				if len(probs) > 0 {
					return fmt.Errorf("api: archived bundle %s does not load: %w", e.BundleHash, probs)
				}
				b, out.Under = old, "recorded"
			}
		default:
			out.Note = "the bundle the entry was decided under has changed: explained under the bundle in force"
		}
		if e.Rule == "rate_limit" {
			out.Note = "the request was refused by its API key's rate limit before any policy was asked; the decision below is what the policies say"
		}
	}
	out.Decision, out.Rules = b.Decide(out.Request), []explainedRule{}
	for _, r := range b.DecidingRules(out.Decision) {
		out.Rules = append(out.Rules, explainedRule{ID: r.ID, Effect: r.Effect, File: r.File, Line: r.Line, Enforce: r.Enforce})
	}
	return c.JSON(http.StatusOK, out)
}
