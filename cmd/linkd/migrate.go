package main

import (
	"context"
	"fmt"

	"github.com/linkd/linkd/store"
)

const migrateHelp = `
Applies the schema migrations embedded in linkd that the database has not
had yet, each in its own transaction. With --down N, reverts the latest N.

Run it as the role linkd serves as (it owns the schema's tables). Then, as
a superuser, hand the audit log to a role of its own:

  linkd migrate --audit-owner linkd_audit --app-role linkd_app

makes linkd_audit the owner of audit_log and of its append-only trigger
function, and leaves linkd_app only SELECT and INSERT on it: the role
linkd serves as can then neither change, delete nor truncate entries, nor
disable the triggers.`

func runMigrate(e *env, args []string) int {
	fs := newFlags(e, "migrate", "migrate [--database-url URL] [--down N]", migrateHelp)
	url := envString(e, fs, "database-url", "DATABASE_URL", "PostgreSQL `url` (default $DATABASE_URL)")
	down := fs.Int("down", 0, "revert the latest `N` migrations instead")
	auditOwner := fs.String("audit-owner", "", "hand audit_log to this `role` (a superuser's task; with --app-role)")
	appRole := fs.String("app-role", "", "the `role` linkd serves as: SELECT and INSERT on audit_log only")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q", fs.Arg(0))
	}
	if *url == "" {
		return usageError(e, fs, "--database-url (or DATABASE_URL) is required")
	}
	if *down < 0 {
		return usageError(e, fs, "--down must not be negative")
	}
	if (*auditOwner == "") != (*appRole == "") || (*auditOwner != "" && *down > 0) {
		return usageError(e, fs, "--audit-owner and --app-role go together, and not with --down")
	}
	ctx := context.Background()
	pool, err := store.Connect(ctx, *url, "")
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd migrate: %v\n", err)
		return exitInput
	}
	defer pool.Close()
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
		fmt.Fprintf(e.stderr, "linkd migrate: %v\n", err)
		return exitInput
	}
	if len(done) == 0 {
		fmt.Fprintln(e.stdout, "the schema is up to date")
	}
	if *auditOwner != "" {
		if err := store.SecureAudit(ctx, pool, *appRole, *auditOwner); err != nil {
			fmt.Fprintf(e.stderr, "linkd migrate: handing the audit log to %s: %v\n", *auditOwner, err)
			return exitInput
		}
		fmt.Fprintf(e.stdout, "audit_log belongs to %s; %s may only read and append to it\n", *auditOwner, *appRole)
	}
	return exitOK
}
