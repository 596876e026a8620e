package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/linkd/linkd/access"

	"github.com/linkd/linkd/crypto/oprf"
)

type oprfConfigResponse struct {
	Suite     string `json:"suite"`
	Mode      string `json:"mode"`
	PublicKey string `json:"public_key"`
	KeyEpoch  uint32 `json:"key_epoch"`
}

func (s *Server) oprfConfig(c echo.Context, _ *caller) error {
	return c.JSON(http.StatusOK, oprfConfigResponse{Suite: oprf.Suite, Mode: "voprf",
		PublicKey: base64.StdEncoding.EncodeToString(s.OPRF.PublicKey()), KeyEpoch: s.Epoch})
}

type evaluateRequest struct {
	Blinded []string `json:"blinded"`
}

type evaluateResponse struct {
	Evaluated []string `json:"evaluated"`
	Proof     string   `json:"proof"`
	KeyEpoch  uint32   `json:"key_epoch"`
}

func (s *Server) oprfEvaluate(c echo.Context, cl *caller) error {
	var req evaluateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	n := len(req.Blinded)
	switch {
	case n == 0:
		return badRequest("blinded: at least one element is required", nil)
	case n > MaxBatch:
		return badRequest(fmt.Sprintf("blinded: at most %d elements a batch", MaxBatch), map[string]any{"max": MaxBatch, "got": n})
	}
	s.batch.Observe(float64(n))
	blinded := make([][]byte, n)
	for i, b := range req.Blinded {
		raw, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return badRequest(fmt.Sprintf("blinded[%d]: not standard base64", i), map[string]any{"index": i})
		}
		blinded[i] = raw
	}
	ev, proof, err := s.OPRF.Evaluate(blinded)
	var ee *oprf.ElementError
	if errors.As(err, &ee) {
		return badRequest(fmt.Sprintf("blinded[%d]: %s", ee.Index, ee.Reason), map[string]any{"index": ee.Index})
	}
	if err != nil {
		return err
	}
	// The budget is the tenant's, counted in elements, and taken only for a
	// batch that was evaluated: a refused batch costs nothing, and one over
	// the budget is answered 429 without its result.
	if err := s.consume(c, "tenant:"+cl.key.Tenant, "oprf_evaluations", access.Day, int64(n), s.limits().OPRFPerDay); err != nil {
		return err
	}
	out := evaluateResponse{Evaluated: make([]string, n), Proof: base64.StdEncoding.EncodeToString(proof), KeyEpoch: s.Epoch}
	for i, e := range ev {
		out.Evaluated[i] = base64.StdEncoding.EncodeToString(e)
	}
	return c.JSON(http.StatusOK, out)
}
