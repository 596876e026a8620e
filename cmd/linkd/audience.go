package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/client"
	"github.com/linkd/linkd/phone"
)

const audienceHelp = `
Uploads a customer list to an audience of a linkd server, in batches, as an
advertiser's tool would.

FILE has one phone number (or, in hash mode, one ready hash of --schema) a
line, or is a CSV whose header names a "phone" column and optionally a
"country" column. Numbers are normalized here (national numbers in the
row's country, else --country) and never leave this machine:

  --mode hash     each number is hashed with --schema (default PHONE_SHA256)
                  and the hashes are uploaded;
  --mode private  each number is blinded, evaluated by the server's OPRF
                  (POST /v1/oprf/evaluate), the proof checked against the
                  server's published key, and the finalized outputs uploaded
                  as PHONE_OPRF: the server sees neither numbers nor hashes.

Progress goes to stderr. The upload can be interrupted and run again with
the same arguments: it resumes from its state file (FILE.upload-state.json,
or --state), which holds the session and the batches done, never a number.
Lines that are not numbers are reported by line number and skipped.`

func runAudience(e *env, args []string) int {
	fs := newFlags(e, "audience", "audience upload --server URL --key KEY --audience ID [--mode hash|private] [--schema S] [--country CC] FILE", audienceHelp)
	sub, code, ok := subcommand(e, fs, args, "upload")
	if !ok {
		return code
	}
	_ = sub
	return audienceUpload(e, args[1:])
}

func audienceUpload(e *env, args []string) int {
	fs := newFlags(e, "audience upload", "audience upload --server URL --key KEY --audience ID [--mode hash|private] [--schema S] [--country CC] FILE", audienceHelp)
	server := fs.String("server", e.getenv("LINKD_SERVER"), "the party's `URL` (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "advertiser API `key` (default $LINKD_KEY)")
	aud := fs.String("audience", "", "the audience `id`")
	mode := fs.String("mode", "hash", "`mode`: hash or private")
	schema := fs.String("schema", string(phone.SchemaSHA256), "hash mode's `schema`: PHONE_SHA256, PHONE_E164_SHA256 or PHONE_E164_SHA256_B64")
	country := fs.String("country", "", "ISO 3166 `code` of national numbers without a country column")
	batch := fs.Int("batch", audience.MaxBatch, "entries a `batch` (at most 10000)")
	statePath := fs.String("state", "", "state `file` for resuming (default FILE.upload-state.json)")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	switch {
	case fs.NArg() != 1:
		return usageError(e, fs, "want one FILE")
	case *server == "" || *key == "":
		return usageError(e, fs, "--server (or LINKD_SERVER) and --key (or LINKD_KEY) are required")
	case *aud == "":
		return usageError(e, fs, "--audience is required")
	case *mode != "hash" && *mode != "private":
		return usageError(e, fs, "--mode must be hash or private")
	case *batch < 1 || *batch > audience.MaxBatch:
		return usageError(e, fs, "--batch must be from 1 to %d", audience.MaxBatch)
	}
	sch, err := phone.ParseSchema(*schema)
	if *mode == "hash" && err != nil {
		return usageError(e, fs, "--schema: %v", err)
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "linkd audience upload: "+format+"\n", a...)
		return exitInput
	}
	plan, err := client.Prepare(client.Upload{Audience: *aud, Private: *mode == "private", Schema: sch, Country: *country,
		Batch: *batch, File: fs.Arg(0), StatePath: *statePath})
	if err != nil {
		return fail("%v", err)
	}
	st := &plan.State
	if plan.Resumed {
		fmt.Fprintf(e.stderr, "resuming session %s after %d batches (%s)\n", st.SessionID, st.Done, plan.StatePath)
	}
	if plan.Finished() {
		fmt.Fprintf(e.stdout, "already uploaded: session %s, %d batches, %d received, %d invalid at the server\n",
			st.SessionID, st.Done, st.Received, st.Invalid)
		return exitOK
	}

	ctx, stop := e.context()
	defer stop()
	c := client.New(*server, *key, 2*time.Minute)
	var bar *progressbar.ProgressBar
	if isTerminal(e.stderr) {
		bar = progressbar.NewOptions(plan.Lines, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("uploading"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
		_ = bar.Set(st.Done * *batch)
	}
	err = plan.Run(ctx, c, func(b, lines int) {
		if bar != nil {
			_ = bar.Add(lines)
		} else if b%10 == 0 || b == plan.Batches {
			fmt.Fprintf(e.stderr, "batch %d of %d sent\n", b, plan.Batches)
		}
	})
	if err != nil {
		if client.Resumable(err) {
			return fail("%v (run the same command again to resume)", err)
		}
		return fail("%v", err)
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	for _, p := range plan.Problems {
		fmt.Fprintln(e.stderr, p)
	}
	var a struct {
		Status  string `json:"status"`
		Lower   *int64 `json:"approximate_count_lower_bound"`
		Upper   *int64 `json:"approximate_count_upper_bound"`
		Release *struct {
			Stale bool `json:"stale"`
		} `json:"size_release"`
		Budget *struct {
			PerDay    float64   `json:"epsilon_per_day"`
			Remaining float64   `json:"epsilon_remaining"`
			RenewsAt  time.Time `json:"renews_at"`
		} `json:"privacy_budget"`
	}
	size := "unknown"
	if err := c.Call(ctx, http.MethodGet, "/v1/audiences/"+*aud, nil, &a); err == nil {
		size = a.Status
		if a.Lower != nil && a.Upper != nil {
			size = fmt.Sprintf("%s, between %d and %d members", a.Status, *a.Lower, *a.Upper)
		}
		if a.Status == audience.StatusBudgetSpent && a.Budget != nil {
			size += fmt.Sprintf(" (the tenant's privacy budget is spent, and this audience has had no release yet; one from %s)",
				a.Budget.RenewsAt.Format(time.RFC3339))
		} else if a.Release != nil && a.Release.Stale && a.Budget != nil {
			size += fmt.Sprintf(" (the tenant's privacy budget is spent: a release from before this upload; a fresh one from %s)",
				a.Budget.RenewsAt.Format(time.RFC3339))
		} else if a.Budget != nil {
			size += fmt.Sprintf(" (privacy budget: %g of %g left today)", a.Budget.Remaining, a.Budget.PerDay)
		}
	}
	unit := "batches"
	if plan.Batches == 1 {
		unit = "batch"
	}
	fmt.Fprintf(e.stdout, "uploaded %d lines in %d %s (%s mode, session %s): %d received, %d invalid at the server, %d invalid here\n",
		plan.Lines, plan.Batches, unit, *mode, st.SessionID, st.Received, st.Invalid, st.Local)
	fmt.Fprintf(e.stdout, "audience %s: %s\n", *aud, size)
	if st.Local > 0 {
		return exitInput
	}
	return exitOK
}
