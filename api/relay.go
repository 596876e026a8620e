package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/policies"
)

// MaxRelayBatch is the most messages one relay request may carry.
const MaxRelayBatch = 1000

// PeerSignal is one message of the signal relay on the wire: all of a
// signal that crosses.
type PeerSignal struct {
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	LinkID     string    `json:"link_id"`
	Type       string    `json:"type"`
	Confidence *float64  `json:"confidence"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// PeerSignals is the body of POST /v1/peer/signals.
type PeerSignals struct {
	Messages []PeerSignal `json:"messages"`
}

// PeerSignalsResult answers it: one outcome a message, in order.
type PeerSignalsResult struct {
	Outcomes []signal.Outcome `json:"outcomes"`
}

// WireSignals writes messages in their wire form.
func WireSignals(msgs []signal.Message) PeerSignals {
	out := PeerSignals{Messages: make([]PeerSignal, len(msgs))}
	for i, m := range msgs {
		conf := m.Confidence
		out.Messages[i] = PeerSignal{Kind: m.Kind, ID: m.ID, LinkID: m.LinkID.String(), Type: m.Type, Confidence: &conf,
			CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt}
	}
	return out
}

// message reads one message, or says what is wrong with it.
func (p PeerSignal) message() (signal.Message, string) {
	lid, err := psi.ParseLinkID(p.LinkID)
	switch {
	case p.Kind != signal.KindSignal && p.Kind != signal.KindRevoke:
		return signal.Message{}, "kind: signal or revoke"
	case !jobIDRE.MatchString(p.ID):
		return signal.Message{}, "id: 1 to 64 letters, digits, _ or -"
	case err != nil:
		return signal.Message{}, fmt.Sprintf("link_id: %d hexadecimal characters", 2*psi.LinkIDSize)
	case p.Type == "" || len(p.Type) > 64:
		return signal.Message{}, "type: from 1 to 64 characters"
	case p.Confidence == nil || *p.Confidence < 0 || *p.Confidence > 1:
		return signal.Message{}, "confidence: a number from 0 to 1 is required"
	case p.CreatedAt.IsZero() || !p.ExpiresAt.After(p.CreatedAt):
		return signal.Message{}, "created_at and expires_at: both required, expiry after creation"
	}
	return signal.Message{Kind: p.Kind, ID: p.ID, LinkID: lid, Type: p.Type, Confidence: *p.Confidence,
		CreatedAt: p.CreatedAt.UTC().Truncate(time.Microsecond), ExpiresAt: p.ExpiresAt.UTC().Truncate(time.Microsecond)}, ""
}

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
	var req PeerSignals
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Messages) == 0 || len(req.Messages) > MaxRelayBatch {
		return badRequest(fmt.Sprintf("messages: from 1 to %d a request", MaxRelayBatch), nil)
	}
	msgs := make([]signal.Message, len(req.Messages))
	for i, p := range req.Messages {
		m, why := p.message()
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
	return c.JSON(http.StatusOK, PeerSignalsResult{Outcomes: out})
}
