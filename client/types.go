package client

import (
	"encoding/json"
	"time"
)

// The API's answers that more than one client reads (the command line
// and the console), decoded as the API writes them: a field the API
// leaves out is left out again when one is encoded.

// Audience is an audience, with its size release when it is read alone.
type Audience struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Purpose     string    `json:"purpose"`
	Description string    `json:"description,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	Status      string    `json:"status,omitempty"`
	Lower       *int64    `json:"approximate_count_lower_bound,omitempty"`
	Upper       *int64    `json:"approximate_count_upper_bound,omitempty"`
	Release     *struct {
		Epsilon    float64    `json:"epsilon"`
		ReleasedAt *time.Time `json:"released_at,omitempty"`
		Fresh      bool       `json:"fresh"`
		Stale      bool       `json:"stale"`
	} `json:"size_release,omitempty"`
	Budget *struct {
		PerDay    float64   `json:"epsilon_per_day"`
		Remaining float64   `json:"epsilon_remaining"`
		RenewsAt  time.Time `json:"renews_at"`
	} `json:"privacy_budget,omitempty"`
}

// Signal is an abuse signal: a flag raised here or one received.
type Signal struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	Type        string     `json:"type"`
	Confidence  float64    `json:"confidence"`
	EvidenceRef string     `json:"evidence_ref,omitempty"`
	Note        string     `json:"note,omitempty"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Crosses     *bool      `json:"crosses,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Rule        string     `json:"rule,omitempty"`
	Decision    *Decision  `json:"decision,omitempty"`
	Decisions   []Decision `json:"decisions,omitempty"`
	PeerOutcome *struct {
		Outcome   string    `json:"outcome"`
		DecidedAt time.Time `json:"decided_at"`
	} `json:"peer_outcome,omitempty"`
}

// Decision is a reviewer's decision on a received signal.
type Decision struct {
	Decision  string    `json:"decision"`
	Reviewer  string    `json:"reviewer"`
	Reason    string    `json:"reason"`
	DecidedAt time.Time `json:"decided_at"`
}

// AuditEntry is an entry of a party's audit log.
type AuditEntry struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Tenant     string          `json:"tenant"`
	Role       string          `json:"role"`
	Action     string          `json:"action"`
	Resource   string          `json:"resource"`
	Decision   string          `json:"decision"`
	Rule       string          `json:"rule"`
	BundleHash string          `json:"bundle_hash"`
	RequestID  string          `json:"request_id"`
	Hash       string          `json:"hash"`
	Request    json.RawMessage `json:"request,omitempty"`
}
