package api

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/policies"
	"github.com/linkd/linkd/signal"
)

// peerSignals applies the other party's relay: each message once by its
// id. A malformed message refuses the whole batch (nothing applied); a
// message this party's policies do not let in (type, direction,
// confidence) is refused alone and the refusal audited; an expired one is
// dropped. The rest go to the store, which maps link ids to accounts.
func (s *Server) peerSignals(c echo.Context, cl *caller) error {
	svc, err := s.signals()
	if err != nil {
		return err
	}
	var req peer.PeerSignals
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Messages) == 0 || len(req.Messages) > peer.MaxRelayBatch {
		return badRequest(fmt.Sprintf("messages: from 1 to %d a request", peer.MaxRelayBatch), nil)
	}
	msgs := make([]signal.Message, len(req.Messages))
	for i, p := range req.Messages {
		m, why := p.Message()
		if why != "" {
			return badRequest(fmt.Sprintf("messages[%d]: %s", i, why), map[string]any{"index": i})
		}
		msgs[i] = m
	}
	ctx := c.Request().Context()
	now := s.Now()
	out := make([]signal.Outcome, len(msgs))
	type key struct {
		typ  string
		conf float64
	}
	decided := map[key]bool{}
	var apply []signal.Message
	var at []int
	for i, m := range msgs {
		if !m.ExpiresAt.After(now) {
			out[i] = signal.Expired
			continue
		}
		k := key{m.Type, m.Confidence}
		allow, ok := decided[k]
		if !ok {
			q := policies.Request{Role: string(cl.key.Role), Tenant: cl.key.Tenant, Action: "peer.signal",
				Resource: policies.Resource{Kind: "signal", ID: m.ID}, Purpose: "safety",
				Direction: s.Party.Inbound(), SignalType: m.Type, Confidence: m.Confidence}
			d, err := s.Authorizer.Authorize(ctx, q)
			if err != nil {
				return err
			}
			allow = d.Allow
			decided[k] = allow
			if !allow {
				s.record(c, cl, q, "deny", d)
			}
		}
		if !allow {
			out[i] = signal.Refused
			continue
		}
		apply = append(apply, m)
		at = append(at, i)
	}
	if len(apply) > 0 {
		got, err := svc.Store.Receive(ctx, apply)
		if err != nil {
			return err
		}
		for j, o := range got {
			out[at[j]] = o
		}
	}
	for _, o := range out {
		s.relayed.WithLabelValues(string(o)).Inc()
	}
	return c.JSON(http.StatusOK, peer.PeerSignalsResult{Outcomes: out})
}
