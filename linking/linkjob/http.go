package linkjob

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/linkd/linkd/crypto/psi"
)

// Elements is the wire form of a batch of elements: standard base64 of
// each 32-byte encoding.
type Elements struct {
	Elements []string `json:"elements"`
	Last     bool     `json:"last,omitempty"`
}

// EncodeElements writes elements in their wire form.
func EncodeElements(els []psi.Element) []string {
	out := make([]string, len(els))
	for i := range els {
		out[i] = base64.StdEncoding.EncodeToString(els[i][:])
	}
	return out
}

// DecodeElements reads elements from their wire form; the group
// decoding (canonical, not the identity) is the receiver's.
func DecodeElements(in []string) ([]psi.Element, error) {
	out := make([]psi.Element, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != psi.ElementSize {
			return nil, protocolError("element %d: not %d bytes of standard base64", i, psi.ElementSize)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// HTTPPeer is the other party behind its peer routes, called with the
// party key it issued to this party.
type HTTPPeer struct {
	Base   string // e.g. http://127.0.0.1:8081
	Key    string
	Client *http.Client
}

func (h HTTPPeer) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(h.Base, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.Key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("linkjob: the peer: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		if eb.Error.Code == "protocol_error" {
			return protocolError("the peer says: %s", eb.Error.Message)
		}
		return fmt.Errorf("linkjob: the peer answered %d %s: %s", resp.StatusCode, eb.Error.Code, eb.Error.Message)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return protocolError("the peer's answer is not the expected JSON")
		}
	}
	return nil
}

func batchPath(jobID string, seq int64) string {
	return "/v1/peer/link/jobs/" + jobID + "/batches/" + strconv.FormatInt(seq, 10)
}

// Open implements Peer.
func (h HTTPPeer) Open(ctx context.Context, o Open) (Opened, error) {
	var out Opened
	err := h.call(ctx, http.MethodPost, "/v1/peer/link/jobs", o, &out)
	return out, err
}

// Reblind implements Peer.
func (h HTTPPeer) Reblind(ctx context.Context, jobID string, seq int64, els []psi.Element) ([]psi.Element, error) {
	var out Elements
	if err := h.call(ctx, http.MethodPost, batchPath(jobID, seq)+"/reblind", Elements{Elements: EncodeElements(els)}, &out); err != nil {
		return nil, err
	}
	return DecodeElements(out.Elements)
}

// Elements implements Peer.
func (h HTTPPeer) Elements(ctx context.Context, jobID string, seq int64) ([]psi.Element, bool, error) {
	var out Elements
	if err := h.call(ctx, http.MethodGet, batchPath(jobID, seq), nil, &out); err != nil {
		return nil, false, err
	}
	els, err := DecodeElements(out.Elements)
	return els, out.Last, err
}

// Reblinded implements Peer.
func (h HTTPPeer) Reblinded(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	return h.call(ctx, http.MethodPost, batchPath(jobID, seq)+"/values", Elements{Elements: EncodeElements(values)}, nil)
}

// Finish implements Peer.
func (h HTTPPeer) Finish(ctx context.Context, jobID string) (Result, error) {
	var out Result
	err := h.call(ctx, http.MethodPost, "/v1/peer/link/jobs/"+jobID+"/finish", struct{}{}, &out)
	return out, err
}
