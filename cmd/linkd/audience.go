package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
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

// audienceCmd is an advertiser's audiences at a party.
type audienceCmd struct {
	Create audienceCreateCmd `cmd:"" help:"Create an audience."`
	List   audienceListCmd   `cmd:"" help:"List the tenant's audiences."`
	Get    audienceGetCmd    `cmd:"" help:"Show an audience and its size release."`
	Upload audienceUploadCmd `cmd:"" help:"Upload a customer list to an audience, in batches."`
	Extend audienceExtendCmd `cmd:"" help:"Extend an audience to the other party."`
	Delete audienceDeleteCmd `cmd:"" help:"Delete an audience and its members."`
}

func (audienceCmd) Help() string {
	return `Calls a party's API with an advertiser's key (--server and --key, or
LINKD_SERVER and LINKD_KEY). An audience's size is released under
differential privacy: a noisy range, and only above the catalogue's
minimum size.`
}

type audienceCreateCmd struct {
	serverFlags
	outputFlag
	Name        string `required:"" placeholder:"NAME" help:"The audience's name."`
	Purpose     string `default:"ads" placeholder:"PURPOSE" help:"A purpose of the catalogue the policies allow audiences for."`
	Description string `placeholder:"TEXT" help:"What the audience is for."`
}

type audienceListCmd struct {
	serverFlags
	outputFlag
}

type audienceGetCmd struct {
	serverFlags
	outputFlag
	ID string `arg:"" help:"The audience's id."`
}

type audienceExtendCmd struct {
	serverFlags
	outputFlag
	ID string `arg:"" help:"The audience's id."`
}

type audienceDeleteCmd struct {
	serverFlags
	ID string `arg:"" help:"The audience's id."`
}

// sizeOf says what the audience's size release shows.
func sizeOf(a client.Audience) string {
	size := a.Status
	if a.Lower != nil && a.Upper != nil {
		size = fmt.Sprintf("%s, between %d and %d members", a.Status, *a.Lower, *a.Upper)
	}
	switch {
	case a.Status == audience.StatusBudgetSpent && a.Budget != nil:
		size += fmt.Sprintf(" (the tenant's privacy budget is spent, and this audience has had no release yet; one from %s)",
			a.Budget.RenewsAt.Format(time.RFC3339))
	case a.Release != nil && a.Release.Stale && a.Budget != nil:
		size += fmt.Sprintf(" (the tenant's privacy budget is spent: a release from before the last change; a fresh one from %s)",
			a.Budget.RenewsAt.Format(time.RFC3339))
	case a.Budget != nil:
		size += fmt.Sprintf(" (privacy budget: %g of %g left today)", a.Budget.Remaining, a.Budget.PerDay)
	}
	return size
}

func (c *audienceCreateCmd) Run(e *env) error {
	const cmd = "audience create"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	body := map[string]string{"name": c.Name, "purpose": c.Purpose}
	if c.Description != "" {
		body["description"] = c.Description
	}
	var a client.Audience
	if err := cl.Call(ctx, http.MethodPost, "/v1/audiences", body, &a); err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, a)
	}
	fmt.Fprintf(e.stdout, "created audience %s (%q, purpose %s)\n", a.ID, a.Name, a.Purpose)
	return nil
}

func (c *audienceListCmd) Run(e *env) error {
	const cmd = "audience list"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	all, err := client.List[client.Audience](ctx, cl, "/v1/audiences", url.Values{}, "after", 0)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, map[string]any{"items": all})
	}
	t := newTable(e, "id", "name", "purpose", "created")
	for _, a := range all {
		t.row(a.ID, a.Name, a.Purpose, a.CreatedAt)
	}
	return t.flush()
}

// getAudience reads an audience and its size release.
func getAudience(ctx context.Context, cl *client.Client, id string) (client.Audience, error) {
	var a client.Audience
	err := cl.Call(ctx, http.MethodGet, "/v1/audiences/"+url.PathEscape(id), nil, &a)
	return a, err
}

func (c *audienceGetCmd) Run(e *env) error {
	const cmd = "audience get"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	a, err := getAudience(ctx, cl, c.ID)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, a)
	}
	fmt.Fprintf(e.stdout, "audience %s\nname     %s\npurpose  %s\ncreated  %s\nsize     %s\n", a.ID, a.Name, a.Purpose,
		a.CreatedAt.UTC().Format(time.RFC3339), sizeOf(a))
	return nil
}

func (c *audienceExtendCmd) Run(e *env) error {
	const cmd = "audience extend"
	cl, err := c.client(e, cmd, time.Minute)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	var x struct {
		AudienceID      string `json:"audience_id"`
		OtherParty      string `json:"other_party"`
		OtherAudienceID string `json:"other_audience_id"`
		Status          string `json:"status"`
	}
	if err := cl.Call(ctx, http.MethodPost, "/v1/audiences/"+url.PathEscape(c.ID)+"/extend", nil, &x); err != nil {
		return failed(e, cmd, "%v", err)
	}
	if c.Output == outputJSON {
		return writeJSON(e, x)
	}
	fmt.Fprintf(e.stdout, "audience %s is %s to the %s: its mirror there is audience %s (read it at that party with this tenant's key)\n",
		x.AudienceID, x.Status, x.OtherParty, x.OtherAudienceID)
	return nil
}

func (c *audienceDeleteCmd) Run(e *env) error {
	const cmd = "audience delete"
	cl, err := c.client(e, cmd, 30*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := e.context()
	defer stop()
	if err := cl.Call(ctx, http.MethodDelete, "/v1/audiences/"+url.PathEscape(c.ID), nil, nil); err != nil {
		return failed(e, cmd, "%v", err)
	}
	fmt.Fprintf(e.stdout, "deleted audience %s\n", c.ID)
	return nil
}

type audienceUploadCmd struct {
	serverFlags
	outputFlag
	Audience string `required:"" placeholder:"ID" help:"The audience's id."`
	Mode     string `enum:"hash,private" default:"hash" placeholder:"MODE" help:"hash (hashed here) or private (blinded here, evaluated by the server's OPRF)."`
	Schema   string `default:"PHONE_SHA256" placeholder:"SCHEMA" help:"Hash mode's schema: PHONE_SHA256, PHONE_E164_SHA256 or PHONE_E164_SHA256_B64."`
	Country  string `placeholder:"CC" help:"ISO 3166 code of national numbers in a file without a country column."`
	Batch    int    `default:"10000" help:"Entries a batch (at most 10000)."`
	State    string `placeholder:"FILE" help:"State file for resuming (default FILE.upload-state.json; none for standard input unless given)."`
	File     string `arg:"" placeholder:"FILE" help:"The list: a number (or a ready hash) a line, or a CSV with a phone column; - for standard input."`
}

func (audienceUploadCmd) Help() string { return strings.TrimSpace(audienceHelp) }

// maxStdinList bounds a list read from standard input, which is held in
// memory.
const maxStdinList = 1 << 30

func (c *audienceUploadCmd) Run(e *env) error {
	const cmd = "audience upload"
	cl, err := c.client(e, cmd, 2*time.Minute)
	if err != nil {
		return err
	}
	if c.Batch < 1 || c.Batch > audience.MaxBatch {
		return usage(e, cmd, "--batch must be from 1 to %d", audience.MaxBatch)
	}
	sch, err := phone.ParseSchema(c.Schema)
	if c.Mode == "hash" && err != nil {
		return usage(e, cmd, "--schema: %v", err)
	}
	up := client.Upload{Audience: c.Audience, Private: c.Mode == "private", Schema: sch, Country: c.Country,
		Batch: c.Batch, File: c.File, StatePath: c.State}
	if c.File == "-" {
		up.File = "standard input"
		if up.Content, err = io.ReadAll(io.LimitReader(e.stdin, maxStdinList+1)); err != nil {
			return failed(e, cmd, "reading standard input: %v", err)
		}
		if len(up.Content) > maxStdinList {
			return failed(e, cmd, "standard input holds more than %d bytes: pass the list as a FILE", maxStdinList)
		}
		if up.Content == nil {
			up.Content = []byte{}
		}
		if c.State == "" {
			up.Save = func(client.UploadState) error { return nil }
		}
	}
	plan, err := client.Prepare(up)
	if err != nil {
		return failed(e, cmd, "%v", err)
	}
	return c.run(e, plan, cl)
}

func (c *audienceUploadCmd) run(e *env, plan *client.Plan, cl *client.Client) error {
	const cmd = "audience upload"
	st := &plan.State
	if plan.Resumed {
		fmt.Fprintf(e.stderr, "resuming session %s after %d batches (%s)\n", st.SessionID, st.Done, plan.StatePath)
	}
	if plan.Finished() {
		fmt.Fprintf(e.stdout, "already uploaded: session %s, %d batches, %d received, %d invalid at the server\n",
			st.SessionID, st.Done, st.Received, st.Invalid)
		return nil
	}
	ctx, stop := e.context()
	defer stop()
	var bar *progressbar.ProgressBar
	if isTerminal(e.stderr) {
		bar = progressbar.NewOptions(plan.Lines, progressbar.OptionSetWriter(e.stderr), progressbar.OptionSetDescription("uploading"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
		_ = bar.Set(st.Done * c.Batch)
	}
	err := plan.Run(ctx, cl, func(b, lines int) {
		if bar != nil {
			_ = bar.Add(lines)
		} else if b%10 == 0 || b == plan.Batches {
			fmt.Fprintf(e.stderr, "batch %d of %d sent\n", b, plan.Batches)
		}
	})
	if err != nil {
		switch {
		case !client.Resumable(err):
			return failed(e, cmd, "%v", err)
		case c.File == "-" && c.State == "":
			return failed(e, cmd, "%v (the list came from standard input without --state: running the command again starts over)", err)
		}
		return failed(e, cmd, "%v (run the same command again to resume)", err)
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(e.stderr)
	}
	for _, p := range plan.Problems {
		fmt.Fprintln(e.stderr, p)
	}
	a, aerr := getAudience(ctx, cl, c.Audience)
	if c.Output == outputJSON {
		out := map[string]any{"lines": plan.Lines, "batches": plan.Batches, "mode": c.Mode, "session_id": st.SessionID,
			"num_received": st.Received, "num_invalid_entries": st.Invalid, "invalid_here": st.Local}
		if aerr == nil {
			out["audience"] = a
		}
		if err := writeJSON(e, out); err != nil {
			return err
		}
	} else {
		size := "unknown"
		if aerr == nil {
			size = sizeOf(a)
		}
		unit := "batches"
		if plan.Batches == 1 {
			unit = "batch"
		}
		fmt.Fprintf(e.stdout, "uploaded %d lines in %d %s (%s mode, session %s): %d received, %d invalid at the server, %d invalid here\n",
			plan.Lines, plan.Batches, unit, c.Mode, st.SessionID, st.Received, st.Invalid, st.Local)
		fmt.Fprintf(e.stdout, "audience %s: %s\n", c.Audience, size)
	}
	if st.Local > 0 {
		return exitCode(exitInput)
	}
	return nil
}

// isTerminal reports whether w is a character device (a person watching).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
