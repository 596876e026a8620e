package api

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/party"
	"github.com/linkd/linkd/policies"
)

// AudiencePeer is the other party, as an extension calls it.
type AudiencePeer interface {
	// Mirror sends one batch of an extension; the answer is the id of the
	// mirrored audience there.
	Mirror(ctx context.Context, m audience.Mirror) (string, error)
}

// Extender is what extension needs of the audience service.
type Extender interface {
	LinkedMembers(ctx context.Context, audienceID, after string, limit int) ([]audience.LinkedMember, error)
	ApplyMirror(ctx context.Context, m audience.Mirror, allow func(country string, consent bool) (bool, error)) (string, error)
}

func (s *Server) otherParty() party.Party { return s.Party.Other() }

// groupDecider decides a flow once per (country, consent) of the people
// concerned (audience.PerGroup), and audits each decision under the
// request that started the work, which may go on after its answer.
func newGroupDecider(s *Server, ctx context.Context, c echo.Context, cl *caller, base policies.Request) func(string, bool) (bool, error) {
	reqID, path := requestID(c), c.Path()
	return audience.PerGroup(base, func(q policies.Request) (bool, error) {
		d, err := s.Authorizer.Authorize(ctx, q)
		if err != nil {
			return false, err
		}
		verdict := "deny"
		if d.Allow {
			verdict = "allow"
		}
		s.recordEntry(ctx, reqID, path, cl, q, verdict, d)
		return d.Allow, nil
	})
}

type extendResponse struct {
	AudienceID      string      `json:"audience_id"`
	OtherParty      party.Party `json:"other_party"`
	OtherAudienceID string      `json:"other_audience_id"`
	Status          string      `json:"status"`
}

// extendAudience asks the other party to build the mirror of an audience
// through link ids. The route's gate is that the caller may read the
// audience; each group of members (country, consent) is then a decision of
// its own on audience.extend, audited, and only the link ids of allowed
// groups leave. The work goes on after the answer, 202 with the mirror's
// id and no count, so that how long it takes (which depends on who has a
// link) is not the advertiser's to time; the advertiser reads the mirror's
// size release at the other party.
func (s *Server) extendAudience(c echo.Context, cl *caller) error {
	ext, ok := s.Audiences.(Extender)
	if !ok || s.AudiencePeer == nil {
		return newError(http.StatusServiceUnavailable, "not_configured", "this server has no peer to extend audiences to (serve --peer)", nil)
	}
	a, err := s.Audiences.Audience(c.Request().Context(), cl.key.Tenant, c.Param("id"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), peerRouteTimeout)
	reqID := requestID(c)
	allow := newGroupDecider(s, ctx, c, cl, policies.Request{
		Role: string(cl.key.Role), Tenant: cl.key.Tenant, Action: "audience.extend",
		Resource: policies.Resource{Kind: "audience", ID: a.ID, Tenant: a.Tenant}, Purpose: a.Purpose,
		Direction: s.Party.Outbound()})
	// A session id nobody else knows (not the request id the answer
	// carries).
	session := newID("extend-")
	s.extending.Add(1)
	go func() {
		defer s.extending.Done()
		defer cancel()
		// A random wait first: when the mirror changes at the other party
		// says nothing useful about how long the work took.
		select {
		case <-time.After(extendJitter()):
		case <-ctx.Done():
			return
		}
		if err := s.extend(ctx, ext, a, allow, session); err != nil {
			s.log.Error("extension failed", "request_id", reqID, "audience", a.ID, "error", err)
		}
	}()
	return c.JSON(http.StatusAccepted, extendResponse{AudienceID: a.ID, OtherParty: s.otherParty(),
		OtherAudienceID: audience.MirrorID(string(s.Party), a.ID), Status: "extending"})
}

// extend sends the allowed members' link ids to the other party, a page a
// time, the last page marked last: the mirror is replaced whole when it
// arrives. An audience of fewer than a page of linked members is one
// batch whether it has any or not, so that what the other party's
// advertiser can watch of the mirror's making (how many batches come)
// says nothing of whether a given person is a linked member.
func (s *Server) extend(ctx context.Context, ext Extender, a audience.Audience, allow func(string, bool) (bool, error), session string) error {
	seq := int64(0)
	send := func(ids []psi.LinkID, last bool) error {
		seq++
		_, err := s.AudiencePeer.Mirror(ctx, audience.Mirror{SourceParty: string(s.Party), SourceAudience: a.ID, Tenant: a.Tenant,
			Name: a.Name, Purpose: a.Purpose, LinkIDs: ids, SessionID: session, Seq: seq, Last: last})
		return err
	}
	// allowed is a page's members the policies let go.
	allowed := func(page []audience.LinkedMember) ([]psi.LinkID, error) {
		ids := make([]psi.LinkID, 0, len(page))
		for _, m := range page {
			ok, err := allow(m.Country, m.Consent)
			if err != nil {
				return nil, err
			}
			if ok {
				ids = append(ids, m.LinkID)
			}
		}
		return ids, nil
	}
	page, err := ext.LinkedMembers(ctx, a.ID, "", MaxBatch)
	if err != nil {
		return err
	}
	for {
		ids, err := allowed(page)
		if err != nil {
			return err
		}
		var next []audience.LinkedMember
		if len(page) == MaxBatch {
			if next, err = ext.LinkedMembers(ctx, a.ID, page[len(page)-1].AccountID, MaxBatch); err != nil {
				return err
			}
		}
		if err := send(ids, len(next) == 0); err != nil {
			return err
		}
		if len(next) == 0 {
			return nil
		}
		page = next
	}
}

// maxExtendJitter bounds the random wait before an extension's work.
const maxExtendJitter = 2 * time.Second

// extendJitter is a wait drawn uniformly, from crypto/rand, below
// maxExtendJitter.
func extendJitter() time.Duration {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(maxExtendJitter))
}

// Wait returns once the extensions under way have ended (a server being
// stopped, and tests).
func (s *Server) Wait() { s.extending.Wait() }
