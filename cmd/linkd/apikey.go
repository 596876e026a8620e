package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/crypto/keys"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storeerr"
)

// apikeyCmd manages the API keys callers present.
type apikeyCmd struct {
	Create apikeyCreateCmd `cmd:"" help:"Make a key; it is printed once."`
	List   apikeyListCmd   `cmd:"" help:"List keys (ids, tenants, roles, state), never a key."`
	Revoke apikeyRevokeCmd `cmd:"" help:"Revoke a key at once."`
}

func (apikeyCmd) Help() string {
	return `Manages the API keys callers present as "Authorization: Bearer KEY", in the
party's database. Each key has one role (advertiser, trust_safety,
compliance, subject_requests, admin, party) and one tenant. Only a SHA-256
hash of a key is stored: create prints the key once, alone on its last
line (or as "key" with --output json), and it cannot be shown again.`
}

// dbFlags name the party's database.
type dbFlags struct {
	DatabaseURL string `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL of the party's database."`
}

func (f dbFlags) state() stateFlags { return stateFlags{DatabaseURL: f.DatabaseURL} }

type apikeyCreateCmd struct {
	dbFlags
	outputFlag
	Tenant string `required:"" placeholder:"TENANT" help:"The tenant the key acts for."`
	Role   string `required:"" placeholder:"ROLE" help:"The key's role: advertiser, trust_safety, compliance, subject_requests, admin or party."`
}

type apikeyListCmd struct {
	dbFlags
	outputFlag
}

type apikeyRevokeCmd struct {
	dbFlags
	ID string `arg:"" help:"The id of the key to revoke."`
}

// keyView is what may be shown of a key.
type keyView struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Key       string     `json:"key,omitempty"`
}

func (c *apikeyCreateCmd) Run(e *env) error {
	const cmd = "apikey create"
	r, err := access.ParseRole(c.Role)
	if err != nil {
		return usage(e, cmd, "--role: %v", err)
	}
	ctx := context.Background()
	st, closeStore, err := c.state().openStore(ctx)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	defer closeStore()
	secret, k, err := access.NewKey(c.Tenant, r, time.Now())
	if err == nil {
		err = st.CreateAPIKey(ctx, k)
	}
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, keyView{ID: k.ID, Tenant: k.Tenant, Role: string(k.Role), CreatedAt: k.CreatedAt, Key: secret})
	}
	fmt.Fprintf(e.stdout, "created key %s for tenant %s, role %s; it is shown once:\n%s\n", k.ID, k.Tenant, k.Role, secret)
	return nil
}

func (c *apikeyListCmd) Run(e *env) error {
	const cmd = "apikey list"
	ctx := context.Background()
	st, closeStore, err := c.state().openStore(ctx)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	defer closeStore()
	ks, err := st.ListAPIKeys(ctx)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	views := make([]keyView, 0, len(ks))
	for _, k := range ks {
		v := keyView{ID: k.ID, Tenant: k.Tenant, Role: string(k.Role), CreatedAt: k.CreatedAt}
		if !k.RevokedAt.IsZero() {
			v.RevokedAt = &k.RevokedAt
		}
		views = append(views, v)
	}
	if c.Output == outputJSON {
		return writeJSON(e, map[string]any{"items": views})
	}
	t := newTable(e, "id", "tenant", "role", "created", "state")
	for _, v := range views {
		state := "active"
		if v.RevokedAt != nil {
			state = "revoked " + v.RevokedAt.UTC().Format(time.RFC3339)
		}
		t.row(v.ID, v.Tenant, v.Role, v.CreatedAt, state)
	}
	return t.flush()
}

func (c *apikeyRevokeCmd) Run(e *env) error {
	const cmd = "apikey revoke"
	ctx := context.Background()
	st, closeStore, err := c.state().openStore(ctx)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	defer closeStore()
	err = st.RevokeAPIKey(ctx, c.ID, time.Now())
	if errors.Is(err, storeerr.ErrNotFound) {
		return failed(e, cmd, "no key with id %q (linkd apikey list shows the ids)", c.ID)
	}
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	fmt.Fprintf(e.stdout, "revoked %s\n", c.ID)
	return nil
}

// auditCmd reads and checks the audit log.
type auditCmd struct {
	List       auditListCmd       `cmd:"" help:"List audit entries through a party's API (a compliance or admin key)."`
	Verify     auditVerifyCmd     `cmd:"" help:"Walk the log's hash chain in the party's database, and its checkpoints."`
	Checkpoint auditCheckpointCmd `cmd:"" help:"Sign the log's head into a checkpoint file and the log."`
}

func (auditCmd) Help() string {
	return `Reads, checks and anchors the audit log: every decision of the policies,
with who asked, for which tenant, what, the deciding rule and the bundle.
Its hash chain is keyed with a key of the party's key file, so whoever
controls the database but not the key file cannot rewrite it unnoticed;
signed checkpoints of its head show a log cut short. Keep the checkpoint
file where the database's operators cannot rewrite it.`
}

type auditListCmd struct {
	serverFlags
	outputFlag
	Actor    string    `placeholder:"ID" help:"Only entries of this actor (an API key's id)."`
	Tenant   string    `placeholder:"TENANT" help:"Only entries of this tenant."`
	Action   string    `placeholder:"ACTION" help:"Only entries of this action (audience.create, signal.decide, ...)."`
	Decision string    `placeholder:"DECISION" help:"Only entries so decided: allow, deny or allow_failed."`
	Since    time.Time `placeholder:"TIME" help:"Only entries at or after this time (RFC 3339)."`
	Until    time.Time `placeholder:"TIME" help:"Only entries before this time (RFC 3339)."`
	Limit    int       `default:"100" help:"At most this many entries (1 to 100000)."`
	Newest   bool      `help:"Newest first (the default: oldest first)."`
}

func (c *auditListCmd) Run(e *env) error {
	const cmd = "audit list"
	if c.Limit < 1 || c.Limit > 100000 {
		return usage(e, cmd, "--limit must be from 1 to 100000")
	}
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	q := url.Values{}
	for k, v := range map[string]string{"actor": c.Actor, "tenant": c.Tenant, "action": c.Action, "decision": c.Decision} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !c.Since.IsZero() {
		q.Set("since", c.Since.UTC().Format(time.RFC3339Nano))
	}
	if !c.Until.IsZero() {
		q.Set("until", c.Until.UTC().Format(time.RFC3339Nano))
	}
	cursor := "after"
	if c.Newest {
		q.Set("order", "newest")
		cursor = "before"
	}
	items, err := client.List[client.AuditEntry](ctx, cl, "/v1/audit", q, cursor, c.Limit)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, map[string]any{"items": items})
	}
	t := newTable(e, "seq", "time", "actor", "tenant", "action", "resource", "decision", "rule")
	for _, it := range items {
		t.row(it.Seq, it.Time, it.Actor, it.Tenant, it.Action, it.Resource, it.Decision, it.Rule)
	}
	return t.flush()
}

type auditVerifyCmd struct {
	stateFlags
	outputFlag
	Checkpoints string `placeholder:"FILE" help:"Also check every signed checkpoint in FILE (JSON lines)."`
}

type auditCheckpointCmd struct {
	stateFlags
	Checkpoints string `required:"" placeholder:"FILE" help:"The checkpoint file (JSON lines) to append to."`
}

func (c *auditVerifyCmd) Help() string {
	return `Walks the party's audit log in its database from the first entry: each
entry's keyed hash and its link to the one before; with --checkpoints FILE,
also every signed checkpoint in it, so a log truncated, shortened or
rewritten since any of them fails. Prints how many entries hold; a broken
chain names the first entry that is missing, out of order, not keyed or
altered, and exits 1. It needs the party's database and key file
(GET /v1/audit/verification asks a running server instead).`
}

func (c *auditCheckpointCmd) Help() string {
	return `Checks that the log still holds the newest checkpoint in FILE, appends a
checkpoint entry to the log, signs it (the new head) and appends the
signature to FILE as a JSON line. linkd serve --audit-checkpoints FILE
does this at start and every --audit-checkpoint-every.`
}

// openLog opens the party's key ring and the database that holds its
// audit log, or reports what is missing.
func (sf stateFlags) openLog(ctx context.Context, e *env, cmd string) (*keys.Ring, *store.Store, func(), error) {
	if sf.DatabaseURL == "" {
		return nil, nil, nil, usage(e, cmd, "--database-url (or DATABASE_URL) is required: the audit log is in the party's database")
	}
	ring, err := sf.openRing(e)
	if err != nil {
		return nil, nil, nil, failed(e, cmd, "%v", err)
	}
	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		return nil, nil, nil, failed(e, cmd, "%v", err)
	}
	return ring, st, closeStore, nil
}

func (c *auditCheckpointCmd) Run(e *env) error {
	const cmd = "audit checkpoint"
	ctx := context.Background()
	ring, st, closeStore, err := c.openLog(ctx, e, cmd)
	if err != nil {
		return err
	}
	defer closeStore()
	ch, err := auditChain(ring)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	cp, err := audit.WriteCheckpoint(ctx, st, ch, c.Checkpoints, time.Now())
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	fmt.Fprintf(e.stdout, "checkpoint of entry %d (key epoch %d) appended to %s and to the log\n", cp.Seq, cp.KeyEpoch, c.Checkpoints)
	return nil
}

func (c *auditVerifyCmd) Run(e *env) error {
	const cmd = "audit verify"
	ctx := context.Background()
	ring, st, closeStore, err := c.openLog(ctx, e, cmd)
	if err != nil {
		return err
	}
	defer closeStore()
	var checkpoints []audit.Checkpoint
	if c.Checkpoints != "" {
		f, err := os.Open(c.Checkpoints)
		if errors.Is(err, os.ErrNotExist) {
			return failed(e, cmd, "no checkpoint file %s: write one with linkd audit checkpoint --checkpoints %s", c.Checkpoints, c.Checkpoints)
		}
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
		checkpoints, err = audit.ReadCheckpoints(f)
		f.Close()
		if err != nil {
			return failed(e, cmd, "%v", err)
		}
	}
	n, err := audit.Verify(ctx, st, auditKeys(ring), checkpoints)
	out := struct {
		Verified    bool   `json:"verified"`
		Entries     int64  `json:"entries"`
		Checkpoints int    `json:"checkpoints"`
		Error       string `json:"error,omitempty"`
	}{Verified: err == nil, Entries: n, Checkpoints: len(checkpoints)}
	if err != nil {
		out.Error = err.Error()
	}
	if c.Output == outputJSON {
		if werr := writeJSON(e, out); werr != nil {
			return werr
		}
		if err != nil {
			return exitCode(exitInput)
		}
		return nil
	}
	if err != nil {
		return failed(e, cmd, "%v (%d entries before it hold)", err, n)
	}
	if len(checkpoints) > 0 {
		newest := audit.Newest(checkpoints)
		fmt.Fprintf(e.stdout, "audit log verified: %d entries, chain intact, and it holds every checkpoint in the file (%d), the newest of entry %d signed %s\n",
			n, len(checkpoints), newest.Seq, newest.At.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(e.stdout, "audit log verified: %d entries, chain intact (no checkpoint given: a log cut short at its end would not show)\n", n)
	return nil
}
