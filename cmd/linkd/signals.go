package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/linkd/linkd/client"
)

// signalCmd is a trust and safety analyst's work with abuse signals.
type signalCmd struct {
	Flag    signalFlagCmd    `cmd:"" help:"Flag one of this party's accounts; the policies decide whether it crosses."`
	List    signalListCmd    `cmd:"" help:"List the flags raised here, with the other party's outcome."`
	Inbound signalInboundCmd `cmd:"" help:"List the signals received from the other party (the queue)."`
	Decide  signalDecideCmd  `cmd:"" help:"Decide an inbound signal; the outcome goes back to the party that flagged."`
	Revoke  signalRevokeCmd  `cmd:"" help:"Revoke a flag raised here, at both parties."`
}

func (signalCmd) Help() string {
	return `Calls a party's API with a trust and safety key (--server and --key, or
LINKD_SERVER and LINKD_KEY). A flag names this party's own account; when
the account is linked and the catalogue's policies let its type and
confidence cross, the other party receives it under its own account,
never this party's id. A decision on an inbound signal goes back as its
outcome alone: never the reviewer, the reason or the account.`
}

type signalFlagCmd struct {
	serverFlags
	outputFlag
	Account    string        `required:"" placeholder:"ID" help:"This party's account id."`
	Type       string        `required:"" placeholder:"TYPE" help:"A signal type of the catalogue (malicious_link, spam, scam, fake_account)."`
	Confidence float64       `required:"" placeholder:"0..1" help:"How sure the flag is, from 0 to 1."`
	Expires    time.Duration `default:"720h" placeholder:"DURATION" help:"How long the flag holds, within the type's max_expiry_days."`
	Evidence   string        `placeholder:"REF" help:"A reference to the evidence in this party's own systems."`
	Note       string        `placeholder:"TEXT" help:"A note for this party's analysts (it never crosses)."`
}

func (c *signalFlagCmd) Run(e *env) error {
	const cmd = "signal flag"
	if c.Confidence < 0 || c.Confidence > 1 {
		return usage(e, cmd, "--confidence must be from 0 to 1")
	}
	if c.Expires <= 0 {
		return usage(e, cmd, "--expires must be positive, as 720h")
	}
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	body := map[string]any{"account_id": c.Account, "type": c.Type, "confidence": c.Confidence,
		"expires_at": time.Now().Add(c.Expires).UTC().Format(time.RFC3339)}
	if c.Evidence != "" {
		body["evidence_ref"] = c.Evidence
	}
	if c.Note != "" {
		body["note"] = c.Note
	}
	var s client.Signal
	if err := cl.Call(ctx, http.MethodPost, "/v1/signals", body, &s); err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, s)
	}
	fmt.Fprintf(e.stdout, "flagged account %s: signal %s (%s, confidence %g, until %s)\n", s.AccountID, s.ID, s.Type, s.Confidence,
		s.ExpiresAt.UTC().Format(time.RFC3339))
	switch {
	case s.Crosses != nil && *s.Crosses:
		fmt.Fprintln(e.stdout, "it crosses to the other party")
	case s.Reason == "policy_denied":
		fmt.Fprintf(e.stdout, "it does not cross: %s (rule %s)\n", s.Reason, s.Rule)
	case s.Reason != "":
		fmt.Fprintf(e.stdout, "it does not cross: %s\n", s.Reason)
	}
	return nil
}

// signalFilters are the filters of both signal lists.
type signalFilters struct {
	Status        string    `placeholder:"STATUS" help:"Only signals in this status."`
	Type          string    `placeholder:"TYPE" help:"Only signals of this type."`
	MinConfidence float64   `placeholder:"0..1" help:"Only signals at least this confident."`
	CreatedAfter  time.Time `placeholder:"TIME" help:"Only signals created after this time (RFC 3339)."`
	CreatedBefore time.Time `placeholder:"TIME" help:"Only signals created before this time (RFC 3339)."`
	Limit         int       `default:"100" help:"At most this many signals (1 to 100000)."`
}

func (f signalFilters) query() url.Values {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Type != "" {
		q.Set("type", f.Type)
	}
	if f.MinConfidence > 0 {
		q.Set("min_confidence", strconv.FormatFloat(f.MinConfidence, 'g', -1, 64))
	}
	if !f.CreatedAfter.IsZero() {
		q.Set("created_after", f.CreatedAfter.UTC().Format(time.RFC3339Nano))
	}
	if !f.CreatedBefore.IsZero() {
		q.Set("created_before", f.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	return q
}

type signalListCmd struct {
	serverFlags
	outputFlag
	signalFilters
	PeerOutcome string `placeholder:"OUTCOME" help:"Only flags the other party decided so: disable, dismiss, escalate or false_positive."`
}

type signalInboundCmd struct {
	serverFlags
	outputFlag
	signalFilters
}

// listSignals reads the pages of path up to limit signals.
func listSignals(e *env, cmd string, sf serverFlags, path string, q url.Values, limit int) ([]client.Signal, error) {
	if limit < 1 || limit > 100000 {
		return nil, usage(e, cmd, "--limit must be from 1 to 100000")
	}
	cl, err := sf.client(e, cmd, 30*time.Second)
	if err != nil {
		return nil, err
	}
	ctx, stop := e.context()
	defer stop()
	items, err := client.List[client.Signal](ctx, cl, path, q, "after", limit)
	if err != nil {
		return nil, failed(e, cmd, "%v", err)
	}
	return items, nil
}

func (c *signalListCmd) Run(e *env) error {
	q := c.query()
	switch c.PeerOutcome {
	case "", "disable", "dismiss", "escalate", "false_positive":
	default:
		return usage(e, "signal list", "--peer-outcome must be disable, dismiss, escalate or false_positive, not %q", c.PeerOutcome)
	}
	if c.PeerOutcome != "" {
		q.Set("peer_outcome", c.PeerOutcome)
	}
	items, err := listSignals(e, "signal list", c.serverFlags, "/v1/signals", q, c.Limit)
	if err != nil {
		return err
	}
	if c.Output == outputJSON {
		return writeJSON(e, map[string]any{"items": items})
	}
	t := newTable(e, "id", "account", "type", "confidence", "status", "crosses", "created", "expires", "peer outcome")
	for _, s := range items {
		crosses := "-"
		switch {
		case s.Crosses != nil && *s.Crosses:
			crosses = "yes"
		case s.Reason != "":
			crosses = "no: " + s.Reason
		}
		outcome := "-"
		if s.PeerOutcome != nil {
			outcome = s.PeerOutcome.Outcome
		}
		t.row(s.ID, s.AccountID, s.Type, s.Confidence, s.Status, crosses, s.CreatedAt, s.ExpiresAt, outcome)
	}
	return t.flush()
}

func (c *signalInboundCmd) Run(e *env) error {
	items, err := listSignals(e, "signal inbound", c.serverFlags, "/v1/signals/inbound", c.query(), c.Limit)
	if err != nil {
		return err
	}
	if c.Output == outputJSON {
		return writeJSON(e, map[string]any{"items": items})
	}
	t := newTable(e, "id", "account", "type", "confidence", "status", "received", "expires", "decision")
	for _, s := range items {
		decision := "-"
		if s.Decision != nil {
			decision = s.Decision.Decision
		}
		t.row(s.ID, s.AccountID, s.Type, s.Confidence, s.Status, s.CreatedAt, s.ExpiresAt, decision)
	}
	return t.flush()
}

type signalDecideCmd struct {
	serverFlags
	outputFlag
	ID       string `arg:"" help:"The inbound signal's id."`
	Decision string `arg:"" enum:"disable,dismiss,escalate,false_positive" help:"disable, dismiss, escalate or false_positive."`
	Reason   string `required:"" placeholder:"TEXT" help:"Why (kept here; it never crosses)."`
	Reviewer string `placeholder:"NAME" help:"Who decided (default: the API key's id)."`
}

func (c *signalDecideCmd) Run(e *env) error {
	const cmd = "signal decide"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	body := map[string]string{"decision": c.Decision, "reason": c.Reason}
	if c.Reviewer != "" {
		body["reviewer"] = c.Reviewer
	}
	var s client.Signal
	if err := cl.Call(ctx, http.MethodPost, "/v1/signals/inbound/"+url.PathEscape(c.ID)+"/decision", body, &s); err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, s)
	}
	fmt.Fprintf(e.stdout, "signal %s on account %s: %s; the outcome goes back to the other party\n", s.ID, s.AccountID, c.Decision)
	return nil
}

type signalRevokeCmd struct {
	serverFlags
	outputFlag
	ID string `arg:"" help:"The id of a flag raised here."`
}

func (c *signalRevokeCmd) Run(e *env) error {
	const cmd = "signal revoke"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	var s client.Signal
	if err := cl.Call(ctx, http.MethodPost, "/v1/signals/"+url.PathEscape(c.ID)+"/revoke", nil, &s); err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, s)
	}
	fmt.Fprintf(e.stdout, "revoked signal %s (%s); the other party drops it if it received it\n", s.ID, s.Status)
	return nil
}
