package api

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Status is what operators read of a running party (GET /v1/status):
// public parts only, never a key.
type Status struct {
	Party string `json:"party"`
	// KeyEpoch is the epoch new pseudonyms and evaluations use;
	// KeyEpochs are all the ring holds, oldest first.
	KeyEpoch  uint32     `json:"key_epoch"`
	KeyEpochs []KeyEpoch `json:"key_epochs"`
	// OPRFPublicKey is the current epoch's, base64 (as /v1/oprf/config).
	OPRFPublicKey string `json:"oprf_public_key"`
	PolicyBundle  string `json:"policy_bundle"`
	// PolicyReloadFailure is the last reload's refusal while it stands.
	PolicyReloadFailure *ReloadFailure `json:"policy_reload_failure,omitempty"`
	Relay               RelayBacklog   `json:"relay"`
}

// KeyEpoch is one epoch of the party's key ring.
type KeyEpoch struct {
	Epoch     uint32    `json:"epoch"`
	CreatedAt time.Time `json:"created_at"`
}

// ReloadFailure is a refused policy reload.
type ReloadFailure struct {
	At       time.Time `json:"at"`
	Problems string    `json:"problems"`
}

// RelayBacklog is the signal outbox: messages waiting for the other
// party, those that failed at least once, and the most attempts of one.
type RelayBacklog struct {
	Pending     int64 `json:"pending"`
	Retried     int64 `json:"retried"`
	MaxAttempts int   `json:"max_attempts"`
}

func (s *Server) status(c echo.Context, _ *caller) error {
	var st Status
	if s.Status != nil {
		var err error
		if st, err = s.Status(c.Request().Context()); err != nil {
			return err
		}
	}
	st.Party, st.KeyEpoch, st.PolicyBundle = string(s.Party), s.Epoch, s.Policies().Hash()
	if s.OPRF != nil {
		st.OPRFPublicKey = base64.StdEncoding.EncodeToString(s.OPRF.PublicKey())
	}
	if st.KeyEpochs == nil {
		st.KeyEpochs = []KeyEpoch{}
	}
	return c.JSON(http.StatusOK, st)
}
