package peer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/subject"
)

// Client is the other party as this one calls it, with the party key the
// other issued to this party. It is a linkjob.Peer, a signal.Peer, a
// subject.Peer and the receiver of audience extensions.
type Client struct {
	c *client.Client
}

// relayTimeout bounds one relay batch; a link run's messages and an
// extension's batches take at most callTimeout.
const (
	callTimeout  = 5 * time.Minute
	relayTimeout = time.Minute
)

// NewClient calls the other party's server at base with its party key.
func NewClient(base, key string) *Client {
	return &Client{c: client.New(base, key, callTimeout)}
}

// Mirror sends one batch of an audience extension; the answer is the
// mirror's id on the other party.
func (p *Client) Mirror(ctx context.Context, m audience.Mirror) (string, error) {
	var out struct {
		AudienceID string `json:"audience_id"`
	}
	err := p.c.Call(ctx, http.MethodPost, "/v1/peer/audiences", MirrorRequest{SourceAudience: m.SourceAudience, Tenant: m.Tenant,
		Name: m.Name, Purpose: m.Purpose, LinkIDs: EncodeLinkIDs(m.LinkIDs), SessionID: m.SessionID, BatchSeq: m.Seq, Last: m.Last}, &out)
	var ae *client.AnswerError
	if errors.As(err, &ae) && ae.Code == codeSessionComplete {
		return "", fmt.Errorf("%w: the peer says: %s", audience.ErrSessionComplete, ae.Message)
	}
	return out.AudienceID, err
}

// Deliver implements signal.Peer.
func (p *Client) Deliver(ctx context.Context, msgs []signal.Message) ([]signal.Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	var out PeerSignalsResult
	if err := p.c.Call(ctx, http.MethodPost, "/v1/peer/signals", WireSignals(msgs), &out); err != nil {
		return nil, fmt.Errorf("signal relay: %w", err)
	}
	return out.Outcomes, nil
}

// DeliverSubjects implements subject.Peer.
func (p *Client) DeliverSubjects(ctx context.Context, msgs []subject.Message) ([]subject.Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	var out PeerSubjectsResult
	if err := p.c.Call(ctx, http.MethodPost, "/v1/peer/subjects", WireSubjects(msgs), &out); err != nil {
		return nil, fmt.Errorf("subject relay: %w", err)
	}
	acks := make([]subject.Ack, len(out.Acknowledgements))
	for i, a := range out.Acknowledgements {
		ack, why := a.Ack()
		if why != "" {
			return nil, fmt.Errorf("subject relay: the peer's acknowledgements[%d]: %s", i, why)
		}
		acks[i] = ack
	}
	return acks, nil
}

// link is a call of a link run, with the peer's link errors (protocol
// errors, a staging lost, a job ended or superseded) back as their error
// values.
func (p *Client) link(ctx context.Context, method, path string, in, out any) error {
	err := p.c.Call(ctx, method, path, in, out)
	var ae *client.AnswerError
	if errors.As(err, &ae) {
		if known := linkjob.FromCode(ae.Code, ae.Message); known != nil {
			return known
		}
	}
	if err != nil {
		return fmt.Errorf("linkjob: the peer: %w", err)
	}
	return nil
}

func batchPath(jobID string, seq int64) string {
	return "/v1/peer/link/jobs/" + jobID + "/batches/" + strconv.FormatInt(seq, 10)
}

// Open implements linkjob.Peer.
func (p *Client) Open(ctx context.Context, o linkjob.Open) (linkjob.Opened, error) {
	var out linkjob.Opened
	err := p.link(ctx, http.MethodPost, "/v1/peer/link/jobs", o, &out)
	return out, err
}

// Reblind implements linkjob.Peer.
func (p *Client) Reblind(ctx context.Context, jobID string, seq int64, els []psi.Element) ([]psi.Element, error) {
	var out Elements
	if err := p.link(ctx, http.MethodPost, batchPath(jobID, seq)+"/reblind", Elements{Elements: linkjob.EncodeElements(els)}, &out); err != nil {
		return nil, err
	}
	return linkjob.DecodeElements(out.Elements)
}

// Elements implements linkjob.Peer.
func (p *Client) Elements(ctx context.Context, jobID string, seq int64) ([]psi.Element, bool, error) {
	var out Elements
	if err := p.link(ctx, http.MethodGet, batchPath(jobID, seq), nil, &out); err != nil {
		return nil, false, err
	}
	els, err := linkjob.DecodeElements(out.Elements)
	return els, out.Last, err
}

// Reblinded implements linkjob.Peer.
func (p *Client) Reblinded(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	return p.link(ctx, http.MethodPost, batchPath(jobID, seq)+"/values", Elements{Elements: linkjob.EncodeElements(values)}, nil)
}

// Finish implements linkjob.Peer.
func (p *Client) Finish(ctx context.Context, jobID string) (linkjob.Result, error) {
	var out linkjob.Result
	err := p.link(ctx, http.MethodPost, "/v1/peer/link/jobs/"+jobID+"/finish", struct{}{}, &out)
	return out, err
}
