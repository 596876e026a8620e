package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/store/storeerr"
)

// Linker is what the api needs of linking: it answers the other party's
// messages (the responder), starts runs against the other party in the
// background, and shows jobs.
type Linker interface {
	linkjob.Peer
	// Start runs (or resumes) the job in the background, building on the
	// last run unless full; an error says it cannot start (no peer
	// configured, say).
	Start(jobID string, full bool) error
	Job(ctx context.Context, id string) (linkjob.Job, error)
	// Jobs lists runs, newest first, those begun before run before if it
	// is set, at most limit.
	Jobs(ctx context.Context, before string, limit int) ([]linkjob.Job, error)
	// Wait returns once the job is not running in this process (at once
	// if it is not), or when ctx ends.
	Wait(ctx context.Context, id string)
}

// maxWait is the longest a read of a link job waits for its end.
const maxWait = 30 * time.Second

var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Server) linker() (Linker, error) {
	if s.Linking == nil {
		return nil, newError(http.StatusServiceUnavailable, "not_configured", "this server does not link: it has no peer configured", nil)
	}
	return s.Linking, nil
}

// linkError maps protocol errors to 422 with their message (it names
// batches and counts, never an element), and a superseded job, or one
// whose staging is lost, to 409.
func linkError(err error) error {
	switch code := linkjob.Code(err); code {
	case "":
		return err
	case "not_configured":
		return newError(http.StatusServiceUnavailable, code, "this server has no peer to link with (serve --peer)", nil)
	case "protocol_error":
		return newError(http.StatusUnprocessableEntity, code, err.Error(), nil)
	default:
		return newError(http.StatusConflict, code, err.Error(), nil)
	}
}

type startLinkRequest struct {
	JobID string `json:"job_id"`
	// Full asks for a full run: every account sent, even where the last
	// run's sets could be built on.
	Full bool `json:"full"`
}

type jobView struct {
	ID        string           `json:"id"`
	State     linkjob.JobState `json:"state"`
	Progress  json.RawMessage  `json:"progress,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

const linkKey = "start_link"

// prepareLink reads the request to start a run so that the job's id (the
// one to resume, or a new one) is in its audit entry.
func (s *Server) prepareLink(c echo.Context, q *policies.Request) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	var req startLinkRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	resume := req.JobID != ""
	if !resume {
		req.JobID = newID("link_")
	} else if !jobIDRE.MatchString(req.JobID) {
		return badRequest("job_id: letters, digits, - and _, at most 64", map[string]any{"field": "job_id"})
	}
	q.Resource.ID = req.JobID
	c.Set(linkKey, linkStart{req, resume})
	return nil
}

// linkStart is a request to start a run, read by prepareLink.
type linkStart struct {
	startLinkRequest
	resume bool
}

// startLink starts a link run against the other party (admin): a new job,
// or the job_id of one to resume.
func (s *Server) startLink(c echo.Context, _ *caller) error {
	l, err := s.linker()
	if err != nil {
		return err
	}
	req := c.Get(linkKey).(linkStart)
	if j, err := l.Job(c.Request().Context(), req.JobID); req.resume && (err != nil || j.Kind != linkjob.Kind) {
		// job_id resumes a job; a new run takes no id.
		if err != nil && !errors.Is(err, storeerr.ErrNotFound) {
			return err
		}
		return newError(http.StatusNotFound, "not_found", "no link job "+req.JobID+" to resume: leave job_id out to start a new run",
			map[string]any{"field": "job_id"})
	}
	if err := l.Start(req.JobID, req.Full); err != nil {
		return linkError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]string{"id": req.JobID, "state": string(linkjob.Running)})
}

// getLink shows a link job; with wait (a duration up to 30s, "2s") it
// answers once the job has ended, or when that time is up, whichever
// comes first, so that a client waiting for a run learns of its end at
// once without polling often.
func (s *Server) getLink(c echo.Context, _ *caller) error {
	l, err := s.linker()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if w := c.QueryParam("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 || d > maxWait {
			return badRequest("wait: want a duration from 0s to 30s, such as 2s", map[string]any{"parameter": "wait"})
		}
		wctx, cancel := context.WithTimeout(ctx, d)
		l.Wait(wctx, c.Param("id"))
		cancel()
	}
	j, err := l.Job(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if j.Kind != linkjob.Kind {
		return newError(http.StatusNotFound, "not_found", "no such link job", nil)
	}
	return c.JSON(http.StatusOK, jobView{ID: j.ID, State: j.State, Progress: json.RawMessage(orNull(j.Progress)), CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt})
}

type jobPage struct {
	Items []jobView `json:"items"`
	Next  string    `json:"next"`
}

// listLinks lists link runs, newest first; next goes in before.
func (s *Server) listLinks(c echo.Context, _ *caller) error {
	l, err := s.linker()
	if err != nil {
		return err
	}
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	before := c.QueryParam("before")
	if before != "" && !jobIDRE.MatchString(before) {
		return badRequest("before: not a cursor this server gave", map[string]any{"parameter": "before"})
	}
	js, err := l.Jobs(c.Request().Context(), before, limit)
	if err != nil {
		return err
	}
	page := jobPage{Items: make([]jobView, len(js))}
	for i, j := range js {
		page.Items[i] = jobView{ID: j.ID, State: j.State, Progress: json.RawMessage(orNull(j.Progress)), CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	}
	if len(js) == limit {
		page.Next = js[len(js)-1].ID
	}
	return c.JSON(http.StatusOK, page)
}

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}
