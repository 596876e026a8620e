package api

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
)

// peerServer answers the other party's routes (package peer) with this
// server's link responder, signal store and audience service, as
// configured at the time of the call.
func (s *Server) peerServer() *peer.Server {
	ps := &peer.Server{Party: s.Party, Link: s.Linking, Signals: s.Signals, Now: s.Now,
		Catalogue: func() *policies.Catalogue { return s.Policies().Catalogue },
		Limits: func() peer.Limits {
			l := s.limits()
			return peer.Limits{ReblindsPerDay: l.PeerReblindsPerDay, LinkJobsPerDay: l.PeerLinkJobsPerDay, AudiencesPerDay: l.AudiencesPerDay}
		},
		Batch:   func(n int) { s.batch.Observe(float64(n)) },
		Relayed: func(o signal.Outcome) { s.relayed.WithLabelValues(string(o)).Inc() },
	}
	if ext, ok := s.Audiences.(Extender); ok {
		ps.Mirrors = ext
	}
	if r, ok := s.Subjects.(peer.SubjectReceiver); ok {
		ps.Subjects = r
	}
	return ps
}

// peerRoutes are package peer's routes in the route table: the party
// key, deadlines and audit are this server's, as on every route.
func peerRoutes() []route {
	out := make([]route, len(peer.Routes))
	for i, pr := range peer.Routes {
		path := pr.Path
		for strings.Contains(path, "{") {
			a, b := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:a] + ":" + path[a+1:b] + path[b+1:]
		}
		out[i] = route{method: pr.Method, path: path, action: pr.Action, mutates: pr.Audited,
			handle: func(s *Server, c echo.Context, cl *caller) error {
				a, err := pr.Serve(s.peerServer(), peerCall{s, c, cl})
				switch {
				case err != nil:
					return err
				case a.Body == nil:
					return c.NoContent(a.Status)
				}
				return c.JSON(a.Status, a.Body)
			}}
	}
	return out
}

// peerCall is a call of the other party's, as package peer reads it.
type peerCall struct {
	s  *Server
	c  echo.Context
	cl *caller
}

func (p peerCall) Context() context.Context { return p.c.Request().Context() }
func (p peerCall) Param(name string) string { return p.c.Param(name) }
func (p peerCall) Decode(v any) error       { return decodeJSON(p.c, v) }
func (p peerCall) Key() access.Key          { return p.cl.key }
func (p peerCall) Consume(subject, counter string, w access.Window, n, limit int64) error {
	return p.s.consume(p.c, subject, counter, w, n, limit)
}

func (p peerCall) Authorize(q policies.Request, always bool) (bool, error) {
	d, err := p.s.Authorizer.Authorize(p.Context(), q)
	if err != nil {
		return false, err
	}
	switch {
	case !d.Allow:
		p.s.record(p.c, p.cl, q, "deny", d)
	case always:
		p.s.record(p.c, p.cl, q, "allow", d)
	}
	return d.Allow, nil
}
