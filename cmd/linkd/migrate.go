package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/linkd/linkd/store"
)

const migrateHelp = `
Applies the schema migrations embedded in linkd that the database has not
had yet, each in its own transaction. With --down N, reverts the latest N.

  linkd migrate status

changes nothing: it lists each migration this linkd knows, applied (and
when) or pending, and any the database has that this linkd does not know
(applied by a newer linkd, which this one refuses to migrate).

Run it as the role linkd serves as (it owns the schema's tables). Then, as
a superuser, hand the audit log to a role of its own:

  linkd migrate --audit-owner linkd_audit --app-role linkd_app

makes linkd_audit the owner of audit_log and of its append-only trigger
function, and leaves linkd_app only SELECT and INSERT on it: the role
linkd serves as can then neither change, delete nor truncate entries, nor
disable the triggers.`

// migrateCmd applies or reverts the schema migrations.
type migrateCmd struct {
	outputFlag
	Action      string `arg:"" optional:"" enum:"status," default:"" placeholder:"status" help:"status: list the migrations and whether the database has them; changes nothing."`
	DatabaseURL string `name:"database-url" env:"DATABASE_URL" placeholder:"URL" help:"PostgreSQL URL of the party's database."`
	Down        int    `placeholder:"N" help:"Revert the latest N migrations instead."`
	AuditOwner  string `placeholder:"ROLE" help:"Hand audit_log to this role (a superuser's task; with --app-role)."`
	AppRole     string `placeholder:"ROLE" help:"The role linkd serves as: SELECT and INSERT on audit_log only."`
}

func (migrateCmd) Help() string { return strings.TrimSpace(migrateHelp) }

func (c *migrateCmd) Run(e *env) error {
	const cmd = "migrate"
	url, down, auditOwner, appRole := &c.DatabaseURL, &c.Down, &c.AuditOwner, &c.AppRole
	switch {
	case *url == "":
		return usage(e, cmd, "--database-url (or DATABASE_URL) is required")
	case *down < 0:
		return usage(e, cmd, "--down must not be negative")
	case (*auditOwner == "") != (*appRole == "") || (*auditOwner != "" && *down > 0):
		return usage(e, cmd, "--audit-owner and --app-role go together, and not with --down")
	case c.Action == "status" && (*down > 0 || *auditOwner != ""):
		return usage(e, cmd, "status changes nothing: it takes neither --down nor --audit-owner")
	}
	ctx := context.Background()
	pool, err := store.Connect(ctx, *url, "")
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	defer pool.Close()
	if c.Action == "status" {
		return c.status(ctx, e, pool)
	}
	var done []int
	verb := "applied"
	if *down > 0 {
		verb = "reverted"
		done, err = store.MigrateDown(ctx, pool, *down)
	} else {
		done, err = store.MigrateUp(ctx, pool)
	}
	for _, v := range done {
		fmt.Fprintf(e.stdout, "%s migration %04d\n", verb, v)
	}
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if len(done) == 0 {
		fmt.Fprintln(e.stdout, "the schema is up to date")
	}
	if *auditOwner != "" {
		if err := store.SecureAudit(ctx, pool, *appRole, *auditOwner); err != nil {
			return failed(e, cmd, "handing the audit log to %s: %v", *auditOwner, err)
		}
		fmt.Fprintf(e.stdout, "audit_log belongs to %s; %s may only read and append to it\n", *auditOwner, *appRole)
	}
	return nil
}

// status prints the migrations and whether the database has them.
func (c *migrateCmd) status(ctx context.Context, e *env, pool *pgxpool.Pool) error {
	const cmd = "migrate status"
	sts, err := store.MigrationStatus(ctx, pool)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	pending, unknown := 0, 0
	for _, st := range sts {
		switch {
		case !st.Known:
			unknown++
		case !st.Applied:
			pending++
		}
	}
	if c.Output == outputJSON {
		return writeJSON(e, struct {
			Migrations []store.MigrationState `json:"migrations"`
			Pending    int                    `json:"pending"`
			Unknown    int                    `json:"unknown"`
		}{sts, pending, unknown})
	}
	t := newTable(e, "version", "name", "state")
	for _, st := range sts {
		state := "pending"
		switch {
		case !st.Known:
			state = "applied " + st.AppliedAt.Format(time.RFC3339) + " by another linkd: unknown to this one"
		case st.Applied:
			state = "applied " + st.AppliedAt.Format(time.RFC3339)
		}
		t.row(fmt.Sprintf("%04d", st.Version), st.Name, state)
	}
	if err := t.flush(); err != nil {
		return err
	}
	switch {
	case unknown > 0:
		fmt.Fprintf(e.stdout, "the database has %d migration(s) this linkd does not know: migrate it with the linkd that made them\n", unknown)
	case pending > 0:
		fmt.Fprintf(e.stdout, "%d migration(s) pending: linkd migrate applies them\n", pending)
	default:
		fmt.Fprintln(e.stdout, "the schema is up to date")
	}
	return nil
}
