package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storeerr"
)

type archivedView struct {
	Hash      string    `json:"hash"`
	FirstUsed time.Time `json:"first_used"`
	InForce   bool      `json:"in_force"`
}

// policyBundles lists the bundles this party has run, newest first.
func (s *Server) policyBundles(c echo.Context, _ *caller) error {
	if s.Archive == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server keeps no archive of bundles", nil)
	}
	as, err := s.Archive.Bundles(c.Request().Context())
	if err != nil {
		return err
	}
	cur := s.Policies().Hash()
	out := struct {
		Items []archivedView `json:"items"`
	}{Items: make([]archivedView, len(as))}
	for i, a := range as {
		out.Items[i] = archivedView{Hash: a.Hash, FirstUsed: a.FirstUsed, InForce: a.Hash == cur}
	}
	return c.JSON(http.StatusOK, out)
}

type changeView struct {
	Name    string            `json:"name"`
	File    string            `json:"file"`
	Line    int               `json:"line"`
	Request policies.Request  `json:"request"`
	Old     policies.Decision `json:"old"`
	New     policies.Decision `json:"new"`
}

// policyDiff decides the test requests of two bundles this party has run
// under each, and lists those whose decision changes.
func (s *Server) policyDiff(c echo.Context, _ *caller) error {
	ctx := c.Request().Context()
	var bs [2]*policies.Bundle
	for i, name := range []string{"old", "new"} {
		h := c.QueryParam(name)
		if h == "" {
			return badRequest(name+": the hash of a bundle this party has run (GET /v1/policies/bundles)", map[string]any{"parameter": name})
		}
		b, err := s.archived(ctx, h)
		if errors.Is(err, storeerr.ErrNotFound) {
			return newError(http.StatusNotFound, "not_found", fmt.Sprintf("%s: no bundle %q was run here", name, h), map[string]any{"parameter": name})
		}
		if err != nil {
			return err
		}
		bs[i] = b
	}
	out := struct {
		Old     string       `json:"old"`
		New     string       `json:"new"`
		Changes []changeView `json:"changes"`
	}{Old: bs[0].Hash(), New: bs[1].Hash(), Changes: []changeView{}}
	for _, ch := range policies.Diff(bs[0], bs[1]) {
		out.Changes = append(out.Changes, changeView{Name: ch.Case.Name, File: ch.Case.File, Line: ch.Case.Line, Request: ch.Case.Request, Old: ch.Old, New: ch.New})
	}
	return c.JSON(http.StatusOK, out)
}

// archived is the bundle with hash h: the one in force, or one of the
// archive's.
func (s *Server) archived(ctx context.Context, h string) (*policies.Bundle, error) {
	if b := s.Policies(); b.Hash() == h {
		return b, nil
	}
	if s.Archive == nil {
		return nil, storeerr.ErrNotFound
	}
	files, err := s.Archive.BundleFiles(ctx, h)
	if err != nil {
		return nil, err
	}
	b, probs := policies.FromFiles(files)
	if len(probs) > 0 {
		return nil, fmt.Errorf("api: archived bundle %s does not load: %w", h, probs)
	}
	return b, nil
}

// auditVerification walks the audit log's chain (and its signed
// checkpoints, where the server keeps them) and says whether it holds.
func (s *Server) auditVerification(c echo.Context, _ *caller) error {
	if s.VerifyAudit == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server cannot verify its audit log (no key ring)", nil)
	}
	n, err := s.VerifyAudit(c.Request().Context())
	out := struct {
		Entries int64  `json:"entries"`
		Intact  bool   `json:"intact"`
		Problem string `json:"problem,omitempty"`
	}{Entries: n, Intact: err == nil}
	var be *audit.BrokenError
	switch {
	case errors.As(err, &be):
		out.Problem = be.Error()
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, out)
}
