package peer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store/storeerr"
	"github.com/linkd/linkd/subject"
)

// Call is one request of the other party as the HTTP server around the
// handlers (package api) gives it: authenticated by a party key, with a
// deadline, its body limited in size.
type Call interface {
	Context() context.Context
	// Param is a path parameter of the route ("id", "seq").
	Param(name string) string
	// Decode reads the JSON body into v, strictly (no unknown field).
	Decode(v any) error
	// Key is the party key that made the call.
	Key() access.Key
	// Consume takes n units of subject's counter in the window, or
	// refuses with the server's rate limit error beyond limit.
	Consume(subject, counter string, w access.Window, n, limit int64) error
	// Authorize decides q and audits the decision: every decision if
	// always, else denials only.
	Authorize(q policies.Request, always bool) (bool, error)
}

// Answer is a handler's answer: a status and a body to write as JSON
// (none if nil).
type Answer struct {
	Status int
	Body   any
}

// Error is a refusal of a call, with the status and code the server
// answers with; its message never quotes what was sent.
type Error struct {
	Status        int
	Code, Message string
	Details       map[string]any
}

func (e *Error) Error() string { return "peer: " + e.Code + ": " + e.Message }

// codeSessionComplete answers a batch of an extension whose last batch
// was received; the Client reads it back as audience.ErrSessionComplete.
const codeSessionComplete = "session_complete"

func invalid(msg string, details map[string]any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_request", Message: msg, Details: details}
}

func protocol(msg string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "protocol_error", Message: msg}
}

// linkError gives a link run's error values their code on the wire
// (protocol errors 422, a job superseded or whose staging is lost 409),
// for the peer's Client to read back as the same values.
func linkError(err error) error {
	switch code := linkjob.Code(err); code {
	case "":
		return err
	case "not_configured":
		return &Error{Status: http.StatusServiceUnavailable, Code: code, Message: "this server has no peer to link with (serve --peer)"}
	case "protocol_error":
		return &Error{Status: http.StatusUnprocessableEntity, Code: code, Message: err.Error()}
	default:
		return &Error{Status: http.StatusConflict, Code: code, Message: err.Error()}
	}
}

// Responder answers a link run's messages (a linkjob.Responder) and
// finds its jobs.
type Responder interface {
	linkjob.Peer
	Job(ctx context.Context, id string) (linkjob.Job, error)
}

// Receiver applies relayed signals (a signal.Store).
type Receiver interface {
	Receive(ctx context.Context, msgs []signal.Message) ([]signal.Outcome, error)
}

// SubjectReceiver applies the other party's data-subject requests (the
// store's ReceiveSubjects).
type SubjectReceiver interface {
	ReceiveSubjects(ctx context.Context, msgs []subject.Message, now time.Time) ([]subject.Ack, error)
}

// Mirrors builds this party's mirrors of the other party's audiences
// (the audience service).
type Mirrors interface {
	ApplyMirror(ctx context.Context, m audience.Mirror, allow func(country string, consent bool) (bool, error)) (string, error)
}

// Limits bound what a party key may ask.
type Limits struct {
	// ReblindsPerDay is the elements a party key may have re-blinded a
	// day; no job may open for more.
	ReblindsPerDay int64
	// LinkJobsPerDay is the new link jobs a party key may open a day.
	LinkJobsPerDay int64
	// AudiencesPerDay is the mirrors a party key may create a day for
	// one tenant (the tenant's own daily number of new audiences).
	AudiencesPerDay int64
}

// Server answers the other party's calls. A nil Link, Signals, Mirrors
// or Subjects answers 503 on its routes.
type Server struct {
	Party    party.Party
	Link     Responder
	Signals  Receiver
	Mirrors  Mirrors
	Subjects SubjectReceiver
	// Limits returns the limits in force.
	Limits func() Limits
	// Catalogue returns the catalogue in force, for the signal types'
	// daily caps on the open queue (nil: none).
	Catalogue func() *policies.Catalogue
	Now       func() time.Time
	// Batch, if set, is told the size of each batch re-blinded for the
	// other party; Relayed each relayed message's outcome.
	Batch   func(n int)
	Relayed func(signal.Outcome)
}

// Route is one route of the other party's, for the server's route
// table: the path in net/http's pattern syntax, the action authorization
// is asked for, and whether every call is audited.
type Route struct {
	Method, Path, Action string
	Audited              bool
	Serve                func(*Server, Call) (Answer, error)
}

// Routes are the routes the other party calls.
var Routes = []Route{
	{http.MethodPost, "/v1/peer/audiences", "peer.link", true, (*Server).mirror},
	{http.MethodPost, "/v1/peer/signals", "peer.signal", true, (*Server).signals},
	{http.MethodPost, "/v1/peer/subjects", "peer.subject", true, (*Server).subjects},
	{http.MethodPost, "/v1/peer/link/jobs", "peer.link", true, (*Server).open},
	{http.MethodPost, "/v1/peer/link/jobs/{id}/batches/{seq}/reblind", "peer.link", false, batchRoute((*Server).reblind)},
	{http.MethodGet, "/v1/peer/link/jobs/{id}/batches/{seq}", "peer.link", false, batchRoute((*Server).batch)},
	{http.MethodPost, "/v1/peer/link/jobs/{id}/batches/{seq}/values", "peer.link", false, batchRoute((*Server).values)},
	{http.MethodPost, "/v1/peer/link/jobs/{id}/finish", "peer.link", true, (*Server).finish},
}

var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (s *Server) link() (Responder, error) {
	if s.Link == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "this server does not link: it has no peer configured"}
	}
	return s.Link, nil
}

func (s *Server) open(c Call) (Answer, error) {
	l, err := s.link()
	if err != nil {
		return Answer{}, err
	}
	var o linkjob.Open
	if err := c.Decode(&o); err != nil {
		return Answer{}, err
	}
	if !jobIDRE.MatchString(o.JobID) {
		return Answer{}, protocol("job_id: letters, digits, - and _, at most 64")
	}
	// A job re-blinds no more than its opening declares, and no opening
	// declares more than a day of the party key's budget could re-blind.
	lim := s.Limits()
	if max(o.Size, o.Most) > lim.ReblindsPerDay {
		return Answer{}, protocol(fmt.Sprintf("set_size %d (max_elements %d) is more than the %d elements a day the party key may have re-blinded",
			o.Size, o.Most, lim.ReblindsPerDay))
	}
	if _, err := l.Job(c.Context(), o.JobID); errors.Is(err, storeerr.ErrNotFound) {
		// A new job (an attempt resumed opens its job again, uncounted).
		if err := c.Consume(c.Key().ID, "peer_link_jobs", access.Day, 1, lim.LinkJobsPerDay); err != nil {
			return Answer{}, err
		}
	} else if err != nil {
		return Answer{}, err
	}
	out, err := l.Open(c.Context(), o)
	if err != nil {
		return Answer{}, linkError(err)
	}
	return Answer{http.StatusOK, out}, nil
}

// batchRoute is a route about one batch of a job: the responder and the
// batch number are read first.
func batchRoute(fn func(*Server, Call, Responder, int64) (Answer, error)) func(*Server, Call) (Answer, error) {
	return func(s *Server, c Call) (Answer, error) {
		l, err := s.link()
		if err != nil {
			return Answer{}, err
		}
		if !jobIDRE.MatchString(c.Param("id")) {
			return Answer{}, protocol("job ids are letters, digits, - and _, at most 64")
		}
		seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
		if err != nil || seq < 1 {
			return Answer{}, protocol("batch numbers are whole numbers from 1")
		}
		return fn(s, c, l, seq)
	}
}

// batchBody reads a batch of elements the other party sent.
func batchBody(c Call) ([]psi.Element, error) {
	var in Elements
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Elements) > linkjob.DefaultBatch {
		return nil, protocol(fmt.Sprintf("a batch has at most %d elements", linkjob.DefaultBatch))
	}
	els, err := linkjob.DecodeElements(in.Elements)
	if err != nil {
		return nil, linkError(err)
	}
	return els, nil
}

// reblind re-blinds a batch for the other party, within the party key's
// daily budget of elements (429 beyond) and the job's bounds.
func (s *Server) reblind(c Call, l Responder, seq int64) (Answer, error) {
	els, err := batchBody(c)
	if err != nil {
		return Answer{}, err
	}
	if err := c.Consume(c.Key().ID, "peer_reblinds", access.Day, int64(len(els)), s.Limits().ReblindsPerDay); err != nil {
		return Answer{}, err
	}
	if s.Batch != nil {
		s.Batch(len(els))
	}
	out, err := l.Reblind(c.Context(), c.Param("id"), seq, els)
	if err != nil {
		return Answer{}, linkError(err)
	}
	return Answer{http.StatusOK, Elements{Elements: linkjob.EncodeElements(out)}}, nil
}

func (s *Server) batch(c Call, l Responder, seq int64) (Answer, error) {
	els, last, err := l.Elements(c.Context(), c.Param("id"), seq)
	if err != nil {
		return Answer{}, linkError(err)
	}
	return Answer{http.StatusOK, Elements{Elements: linkjob.EncodeElements(els), Last: last}}, nil
}

func (s *Server) values(c Call, l Responder, seq int64) (Answer, error) {
	vals, err := batchBody(c)
	if err != nil {
		return Answer{}, err
	}
	if err := l.Reblinded(c.Context(), c.Param("id"), seq, vals); err != nil {
		return Answer{}, linkError(err)
	}
	return Answer{Status: http.StatusNoContent}, nil
}

func (s *Server) finish(c Call) (Answer, error) {
	l, err := s.link()
	if err != nil {
		return Answer{}, err
	}
	if !jobIDRE.MatchString(c.Param("id")) {
		return Answer{}, protocol("job ids are letters, digits, - and _, at most 64")
	}
	res, err := l.Finish(c.Context(), c.Param("id"))
	if err != nil {
		return Answer{}, linkError(err)
	}
	return Answer{http.StatusOK, res}, nil
}

// signals applies the other party's relay: each message once by its id
// (an outcome once by its time: the latest decision stays).
// A malformed message refuses the whole batch (nothing applied); a
// message this party's policies do not let in (type, direction,
// confidence) is refused alone and the refusal audited; an expired one
// is dropped. The rest go to the store, which maps link ids to accounts.
func (s *Server) signals(c Call) (Answer, error) {
	if s.Signals == nil {
		return Answer{}, &Error{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "this server keeps no signals"}
	}
	var req PeerSignals
	if err := c.Decode(&req); err != nil {
		return Answer{}, err
	}
	if len(req.Messages) == 0 || len(req.Messages) > MaxRelayBatch {
		return Answer{}, invalid(fmt.Sprintf("messages: from 1 to %d a request", MaxRelayBatch), nil)
	}
	msgs := make([]signal.Message, len(req.Messages))
	for i, p := range req.Messages {
		m, why := p.Message()
		if why != "" {
			return Answer{}, invalid(fmt.Sprintf("messages[%d]: %s", i, why), map[string]any{"index": i})
		}
		msgs[i] = m
	}
	now := s.Now()
	out := make([]signal.Outcome, len(msgs))
	type key struct {
		typ  string
		conf float64
	}
	decided := map[key]bool{}
	var apply []signal.Message
	var at []int
	k := c.Key()
	for i, m := range msgs {
		if m.Kind == signal.KindOutcome {
			// The outcome of a signal this party raised: about no
			// account, no type; the route's decision covers it.
			apply = append(apply, m)
			at = append(at, i)
			continue
		}
		if !m.ExpiresAt.After(now) {
			out[i] = signal.Expired
			continue
		}
		dk := key{m.Type, m.Confidence}
		allow, ok := decided[dk]
		if !ok {
			var err error
			allow, err = c.Authorize(policies.Request{Role: string(k.Role), Tenant: k.Tenant, Action: "peer.signal",
				Resource: policies.Resource{Kind: "signal", ID: m.ID}, Purpose: "safety",
				Direction: s.Party.Inbound(), SignalType: m.Type, Confidence: m.Confidence}, false)
			if err != nil {
				return Answer{}, err
			}
			decided[dk] = allow
		}
		if !allow {
			out[i] = signal.Refused
			continue
		}
		apply = append(apply, m)
		at = append(at, i)
	}
	if s.Catalogue != nil {
		cat := s.Catalogue()
		day, _ := access.Day.Bounds(now)
		for i := range apply {
			if st, ok := cat.SignalTypes[apply[i].Type]; ok && apply[i].Kind == signal.KindSignal {
				apply[i].OpenCap, apply[i].CapSince = st.OpenPerDay, day
			}
			apply[i].ReceivedAt = now
		}
	}
	if len(apply) > 0 {
		got, err := s.Signals.Receive(c.Context(), apply)
		if err != nil {
			return Answer{}, err
		}
		for j, o := range got {
			out[at[j]] = o
		}
	}
	if s.Relayed != nil {
		for _, o := range out {
			s.Relayed(o)
		}
	}
	return Answer{http.StatusOK, PeerSignalsResult{Outcomes: out}}, nil
}

// mirror builds this party's mirror of the other party's audience. The
// gate is the party key; each group of this party's own accounts
// (country, consent) is decided on peer.audience and audited.
func (s *Server) mirror(c Call) (Answer, error) {
	if s.Mirrors == nil {
		return Answer{}, &Error{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "this server builds no audiences"}
	}
	var req MirrorRequest
	if err := c.Decode(&req); err != nil {
		return Answer{}, err
	}
	switch {
	case req.SourceAudience == "" || req.Tenant == "" || req.SessionID == "" || req.BatchSeq < 1:
		return Answer{}, invalid("source_audience, tenant, session_id and batch_seq (from 1) are required", nil)
	case len(req.LinkIDs) > MaxMirrorBatch:
		return Answer{}, invalid(fmt.Sprintf("link_ids: at most %d a batch", MaxMirrorBatch), nil)
	}
	ids := make([]psi.LinkID, len(req.LinkIDs))
	for i, h := range req.LinkIDs {
		id, err := psi.ParseLinkID(h)
		if err != nil {
			return Answer{}, invalid(fmt.Sprintf("link_ids[%d]: %d hexadecimal characters", i, 2*psi.LinkIDSize), map[string]any{"index": i})
		}
		ids[i] = id
	}
	k := c.Key()
	if req.BatchSeq == 1 {
		// An extension's first batch may create the mirror: the party key
		// creates no more audiences for a tenant a day than the tenant may.
		if err := c.Consume("party:"+k.ID+":tenant:"+req.Tenant, "audiences_created", access.Day, 1, s.Limits().AudiencesPerDay); err != nil {
			return Answer{}, err
		}
	}
	other := string(s.Party.Other())
	base := policies.Request{Role: string(k.Role), Tenant: k.Tenant, Action: "peer.audience",
		Resource: policies.Resource{Kind: "audience", ID: audience.MirrorID(other, req.SourceAudience), Tenant: req.Tenant},
		Purpose:  req.Purpose, Direction: s.Party.Inbound()}
	allow := audience.PerGroup(base, func(q policies.Request) (bool, error) { return c.Authorize(q, true) })
	id, err := s.Mirrors.ApplyMirror(c.Context(), audience.Mirror{SourceParty: other, SourceAudience: req.SourceAudience,
		Tenant: req.Tenant, Name: req.Name, Purpose: req.Purpose, LinkIDs: ids, SessionID: req.SessionID, Seq: req.BatchSeq, Last: req.Last}, allow)
	if errors.Is(err, audience.ErrSessionComplete) {
		return Answer{}, &Error{Status: http.StatusConflict, Code: codeSessionComplete, Message: "the extension's last batch was received"}
	}
	if err != nil {
		return Answer{}, err
	}
	return Answer{http.StatusOK, map[string]string{"audience_id": id}}, nil
}

// subjects applies the other party's data-subject requests, each once by
// its id, and acknowledges each. A malformed request refuses the whole
// batch (nothing applied). Each request is decided on peer.subject and
// audited under its id, whatever the decision: the receipt on this
// party's side.
func (s *Server) subjects(c Call) (Answer, error) {
	if s.Subjects == nil {
		return Answer{}, &Error{Status: http.StatusServiceUnavailable, Code: "not_configured", Message: "this server answers no data-subject requests"}
	}
	var req PeerSubjects
	if err := c.Decode(&req); err != nil {
		return Answer{}, err
	}
	if len(req.Requests) == 0 || len(req.Requests) > MaxSubjectBatch {
		return Answer{}, invalid(fmt.Sprintf("requests: from 1 to %d a request", MaxSubjectBatch), nil)
	}
	msgs := make([]subject.Message, len(req.Requests))
	for i, p := range req.Requests {
		m, why := p.Message()
		if why != "" {
			return Answer{}, invalid(fmt.Sprintf("requests[%d]: %s", i, why), map[string]any{"index": i})
		}
		msgs[i] = m
	}
	k := c.Key()
	for _, m := range msgs {
		ok, err := c.Authorize(policies.Request{Role: string(k.Role), Tenant: k.Tenant, Action: "peer.subject",
			Resource: policies.Resource{Kind: "subject", ID: m.ID}, Purpose: m.Purpose}, true)
		if err != nil {
			return Answer{}, err
		}
		if !ok {
			return Answer{}, &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "this party's policies refuse the data-subject request " + m.ID}
		}
	}
	// An objection to a purpose this party's catalogue does not know is
	// refused alone: the rest of the batch goes on.
	apply, at := make([]subject.Message, 0, len(msgs)), make([]int, 0, len(msgs))
	out := PeerSubjectsResult{Acknowledgements: make([]PeerSubjectAck, len(msgs))}
	now := s.Now()
	for i, m := range msgs {
		if m.Kind == subject.KindObjection && s.Catalogue != nil {
			if _, ok := s.Catalogue().Purposes[m.Purpose]; !ok {
				out.Acknowledgements[i] = PeerSubjectAck{Outcome: subject.Refused, AcknowledgedAt: now}
				continue
			}
		}
		apply, at = append(apply, m), append(at, i)
	}
	var acks []subject.Ack
	if len(apply) > 0 {
		var err error
		if acks, err = s.Subjects.ReceiveSubjects(c.Context(), apply, now); err != nil {
			return Answer{}, err
		}
	}
	for j, a := range acks {
		out.Acknowledgements[at[j]] = PeerSubjectAck{Outcome: a.Outcome, AcknowledgedAt: a.At}
	}
	return Answer{http.StatusOK, out}, nil
}
