package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/store/storeerr"
)

const apikeyHelp = `
Manages the API keys callers present as "Authorization: Bearer KEY". Each key
has one role (advertiser, trust_safety, compliance, admin, party) and one
tenant. Only a SHA-256 hash of a key is stored: create prints the key once,
alone on its last line, and it cannot be shown again.

  create --tenant T --role R   make a key
  list                         list keys (ids, tenants, roles, state), never a key
  revoke ID                    revoke a key at once`

func runAPIKey(e *env, args []string) int {
	fs := newFlags(e, "apikey", "apikey create|list|revoke [flags]", apikeyHelp)
	sub, code, ok := subcommand(e, fs, args, "create", "list", "revoke")
	if !ok {
		return code
	}
	fs = newFlags(e, "apikey "+sub, "apikey "+sub+" [flags]", apikeyHelp)
	sf := addStateFlags(e, fs)
	var tenant, role *string
	if sub == "create" {
		tenant = fs.String("tenant", "", "the `tenant` the key acts for")
		role = fs.String("role", "", "the key's `role`")
	}
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	want := 0
	if sub == "revoke" {
		want = 1
	}
	if fs.NArg() != want {
		if want == 1 {
			return usageError(e, fs, "want the id of the key to revoke")
		}
		return usageError(e, fs, "unexpected argument %q", fs.Arg(0))
	}
	var r access.Role
	if sub == "create" {
		var err error
		if r, err = access.ParseRole(*role); err != nil {
			return usageError(e, fs, "--role: %v", err)
		}
		if *tenant == "" {
			return usageError(e, fs, "--tenant is required")
		}
	}
	ctx := context.Background()
	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd apikey %s: %v\n", sub, err)
		return exitInput
	}
	defer closeStore()
	switch sub {
	case "create":
		secret, k, err := access.NewKey(*tenant, r, time.Now())
		if err == nil {
			err = st.CreateAPIKey(ctx, k)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "linkd apikey create: %v\n", err)
			return exitInput
		}
		fmt.Fprintf(e.stdout, "created key %s for tenant %s, role %s; it is shown once:\n%s\n", k.ID, k.Tenant, k.Role, secret)
	case "list":
		ks, err := st.ListAPIKeys(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "linkd apikey list: %v\n", err)
			return exitInput
		}
		fmt.Fprintf(e.stdout, "%-16s %-16s %-13s %-21s %s\n", "id", "tenant", "role", "created", "state")
		for _, k := range ks {
			state := "active"
			if !k.RevokedAt.IsZero() {
				state = "revoked " + k.RevokedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(e.stdout, "%-16s %-16s %-13s %-21s %s\n", k.ID, k.Tenant, k.Role, k.CreatedAt.Format(time.RFC3339), state)
		}
	case "revoke":
		err := st.RevokeAPIKey(ctx, fs.Arg(0), time.Now())
		if errors.Is(err, storeerr.ErrNotFound) {
			fmt.Fprintf(e.stderr, "linkd apikey revoke: no key with id %q\n", fs.Arg(0))
			return exitInput
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "linkd apikey revoke: %v\n", err)
			return exitInput
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", fs.Arg(0))
	}
	return exitOK
}

const auditHelp = `
Checks and anchors the audit log. Its hash chain is keyed with a key of the
party's key file (--keys, LINKD_KEYS), so whoever controls the database but
not the key file cannot rewrite it unnoticed; signed checkpoints of its head
show a log cut short.

  verify [--checkpoints FILE]   walk the log from its first entry: each
                                entry's keyed hash and its link to the one
                                before; with FILE, also every signed
                                checkpoint in it, so a log truncated,
                                shortened or rewritten since any of them
                                fails. Prints how many entries hold; a
                                broken chain names the first entry that
                                is missing, out of order, not keyed or
                                altered, and exits 1.
  checkpoint --checkpoints FILE check that the log still holds the newest
                                checkpoint in FILE, append a checkpoint
                                entry to the log, sign it (the new head)
                                and append the signature to FILE (a JSON
                                line). linkd serve --audit-checkpoints FILE
                                does this at start and every
                                --audit-checkpoint-every (5m).

Keep FILE where the database's operators cannot rewrite it.`

func runAudit(e *env, args []string) int {
	fs := newFlags(e, "audit", "audit verify|checkpoint [--checkpoints FILE]", auditHelp)
	sub, code, ok := subcommand(e, fs, args, "verify", "checkpoint")
	if !ok {
		return code
	}
	fs = newFlags(e, "audit "+sub, "audit "+sub+" [--database-url URL] [--keys FILE] [--checkpoints FILE]", auditHelp)
	sf := addStateFlags(e, fs)
	file := fs.String("checkpoints", "", "checkpoint `file` (JSON lines)")
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q", fs.Arg(0))
	}
	if sub == "checkpoint" && *file == "" {
		return usageError(e, fs, "checkpoint needs --checkpoints FILE")
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "linkd audit %s: %v\n", sub, err)
		return exitInput
	}
	ring, err := sf.openRing(e)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	st, closeStore, err := sf.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	defer closeStore()
	if sub == "checkpoint" {
		c, err := auditChain(ring)
		if err != nil {
			return fail(err)
		}
		cp, err := audit.WriteCheckpoint(ctx, st, c, *file, time.Now())
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(e.stdout, "checkpoint of entry %d (key epoch %d) appended to %s and to the log\n", cp.Seq, cp.KeyEpoch, *file)
		return exitOK
	}
	var checkpoints []audit.Checkpoint
	if *file != "" {
		f, err := os.Open(*file)
		if errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Errorf("no checkpoint file %s: write one with linkd audit checkpoint --checkpoints %s", *file, *file))
		}
		if err != nil {
			return fail(err)
		}
		checkpoints, err = audit.ReadCheckpoints(f)
		f.Close()
		if err != nil {
			return fail(err)
		}
	}
	n, err := audit.Verify(ctx, st, auditKeys(ring), checkpoints)
	if err != nil {
		fmt.Fprintf(e.stderr, "linkd audit verify: %v (%d entries before it hold)\n", err, n)
		return exitInput
	}
	if len(checkpoints) > 0 {
		newest := audit.Newest(checkpoints)
		fmt.Fprintf(e.stdout, "audit log verified: %d entries, chain intact, and it holds every checkpoint in the file (%d), the newest of entry %d signed %s\n",
			n, len(checkpoints), newest.Seq, newest.At.Format(time.RFC3339))
		return exitOK
	}
	fmt.Fprintf(e.stdout, "audit log verified: %d entries, chain intact (no checkpoint given: a log cut short at its end would not show)\n", n)
	return exitOK
}
