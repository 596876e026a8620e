package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/linkd/linkd/store"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/crypto/psi"
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
	Job(ctx context.Context, id string) (store.Job, error)
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
	ID        string          `json:"id"`
	State     store.JobState  `json:"state"`
	Progress  json.RawMessage `json:"progress,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
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
	return c.JSON(http.StatusAccepted, map[string]string{"id": req.JobID, "state": string(store.JobRunning)})
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

func orNull(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

// The peer routes: the other party's messages, with its party key.

func seqParam(c echo.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || n < 1 {
		return 0, newError(http.StatusUnprocessableEntity, "protocol_error", "batch numbers are whole numbers from 1", nil)
	}
	return n, nil
}

func (s *Server) peerOpen(c echo.Context, cl *caller) error {
	l, err := s.linker()
	if err != nil {
		return err
	}
	var o linkjob.Open
	if err := decodeJSON(c, &o); err != nil {
		return err
	}
	if !jobIDRE.MatchString(o.JobID) {
		return newError(http.StatusUnprocessableEntity, "protocol_error", "job_id: letters, digits, - and _, at most 64", nil)
	}
	// A job re-blinds no more than its opening declares, and no opening
	// declares more than a day of the party key's budget could re-blind.
	if most := s.limits().PeerReblindsPerDay; max(o.Size, o.Most) > most {
		return newError(http.StatusUnprocessableEntity, "protocol_error",
			fmt.Sprintf("set_size %d (max_elements %d) is more than the %d elements a day the party key may have re-blinded", o.Size, o.Most, most), nil)
	}
	if _, err := l.Job(c.Request().Context(), o.JobID); errors.Is(err, storeerr.ErrNotFound) {
		// A new job (an attempt resumed opens its job again, uncounted).
		if err := s.consume(c, cl.key.ID, "peer_link_jobs", access.Day, 1, s.limits().PeerLinkJobsPerDay); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	out, err := l.Open(c.Request().Context(), o)
	if err != nil {
		return linkError(err)
	}
	return c.JSON(http.StatusOK, out)
}

// peerBatchBody reads a batch of elements sent by the peer.
func peerBatchBody(c echo.Context) ([]psi.Element, error) {
	var in linkjob.Elements
	if err := decodeJSON(c, &in); err != nil {
		return nil, err
	}
	if len(in.Elements) > linkjob.DefaultBatch {
		return nil, newError(http.StatusUnprocessableEntity, "protocol_error", "a batch has at most 10000 elements", nil)
	}
	els, err := linkjob.DecodeElements(in.Elements)
	if err != nil {
		return nil, linkError(err)
	}
	return els, nil
}

// peerBatchRoute is a peer route about one batch of a job: the linker
// and the batch number are read first.
func peerBatchRoute(fn func(*Server, echo.Context, *caller, Linker, int64) error) func(*Server, echo.Context, *caller) error {
	return func(s *Server, c echo.Context, cl *caller) error {
		l, err := s.linker()
		if err != nil {
			return err
		}
		seq, err := seqParam(c)
		if err != nil {
			return err
		}
		return fn(s, c, cl, l, seq)
	}
}

// peerReblind re-blinds a batch for the other party, within the party
// key's daily budget of elements (429 beyond) and the job's bounds.
func (s *Server) peerReblind(c echo.Context, cl *caller, l Linker, seq int64) error {
	els, err := peerBatchBody(c)
	if err != nil {
		return err
	}
	if err := s.consume(c, cl.key.ID, "peer_reblinds", access.Day, int64(len(els)), s.limits().PeerReblindsPerDay); err != nil {
		return err
	}
	s.batch.Observe(float64(len(els)))
	out, err := l.Reblind(c.Request().Context(), c.Param("id"), seq, els)
	if err != nil {
		return linkError(err)
	}
	return c.JSON(http.StatusOK, linkjob.Elements{Elements: linkjob.EncodeElements(out)})
}

func (s *Server) peerBatch(c echo.Context, _ *caller, l Linker, seq int64) error {
	els, last, err := l.Elements(c.Request().Context(), c.Param("id"), seq)
	if err != nil {
		return linkError(err)
	}
	return c.JSON(http.StatusOK, linkjob.Elements{Elements: linkjob.EncodeElements(els), Last: last})
}

func (s *Server) peerValues(c echo.Context, _ *caller, l Linker, seq int64) error {
	vals, err := peerBatchBody(c)
	if err != nil {
		return err
	}
	if err := l.Reblinded(c.Request().Context(), c.Param("id"), seq, vals); err != nil {
		return linkError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) peerFinish(c echo.Context, _ *caller) error {
	l, err := s.linker()
	if err != nil {
		return err
	}
	res, err := l.Finish(c.Request().Context(), c.Param("id"))
	if err != nil {
		return linkError(err)
	}
	return c.JSON(http.StatusOK, res)
}
