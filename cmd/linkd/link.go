package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
)

// linkEpoch is the linking epoch the link ids are derived in: 2, the
// first over X25519 (psi.Group); epoch 1 was ristretto255's.
const linkEpoch = 2

// newLinker links with peer; the runs it starts send batch elements a
// message (0: linkjob.DefaultBatch).
func newLinker(ctx context.Context, st *store.Store, d *pseudonym.Deriver, peer linkjob.Peer, log *slog.Logger, batch int) *linkjob.Runner {
	p := &linkjob.Party{Directory: st, Links: st, Staging: st, Jobs: st, Key: d.LinkKey(), KeyEpoch: d.Epoch, Usage: st, BatchSize: batch}
	return &linkjob.Runner{Responder: linkjob.Responder{P: p, Epoch: linkEpoch}, Peer: peer, Epoch: linkEpoch, Ctx: ctx, Log: log}
}

const linkHelp = `
Starts a link run on a party's server (an admin key), against the other
party it was started with (serve --peer), waits for it and prints the
result: the line "matched N of M" (N common people, M this party's
accounts). Each party then holds a link id for each of its matched
accounts, the same id on both sides.

A run builds on the last one when both parties kept it: only accounts
new or changed since are sent, and the numbers that left either
directory lose their links on both sides. --full sends every account
(the first run, a new link epoch, and the run after retention expired
links are full anyway).

`

// linkCmd drives link runs.
type linkCmd struct {
	Run linkRunCmd `cmd:"" help:"Start a link run, or resume one, and wait for it."`
}

func (linkCmd) Help() string { return strings.TrimSpace(linkHelp) }

type linkRunCmd struct {
	serverFlags
	outputFlag
	Job  string `placeholder:"ID" help:"Resume the job with this id."`
	Full bool   `help:"Send every account, not only those changed since the last run."`
}

func (c *linkRunCmd) Run(e *env) error {
	const cmd = "link run"
	cl, err := c.client(e, cmd, time.Minute)
	if err != nil {
		return err
	}
	jobID, full := &c.Job, &c.Full
	ctx, stop := e.context()
	defer stop()
	var started struct{ ID string }
	body := map[string]any{}
	if *jobID != "" {
		body["job_id"] = *jobID
	}
	if *full {
		body["full"] = true
	}
	if err := cl.Call(ctx, http.MethodPost, "/v1/link/jobs", body, &started); err != nil {
		return failed(e, cmd, "%v", err)
	}
	fmt.Fprintf(e.stderr, "job %s started\n", started.ID)
	last := ""
	// Each read waits up to a second for the job's end, which the
	// server answers at once; between reads the progress is printed. A
	// read that comes back early with the job still running (a job this
	// server is not running, say one stopped by a restart) is followed by
	// a pause, longer each time, so that the loop never spins.
	pause := 20 * time.Millisecond
	for {
		var j struct {
			State    store.JobState   `json:"state"`
			Progress linkjob.Progress `json:"progress"`
		}
		asked := time.Now()
		if err := cl.Call(ctx, http.MethodGet, "/v1/link/jobs/"+started.ID+"?wait=1s", nil, &j); err != nil {
			if ctx.Err() != nil {
				return failed(e, cmd, "stopped waiting; the job goes on (see it with --job %s)", started.ID)
			}
			return failed(e, cmd, "%v (resume with --job %s)", err, started.ID)
		}
		switch {
		case j.State == store.JobDone && j.Progress.Result != nil:
			r := j.Progress.Result
			kind := "a full run"
			if r.Incremental {
				kind = "built on the last run"
			}
			if c.Output == outputJSON {
				return writeJSON(e, map[string]any{"id": started.ID, "state": j.State, "result": r})
			}
			fmt.Fprintf(e.stdout, "job %s: this party has %d accounts, the other %d; %s: %d sent, %d received in %.1f s\n",
				started.ID, r.OwnSize, r.PeerSize, kind, r.Sent, r.Received, r.Seconds)
			fmt.Fprintf(e.stdout, "matched %d of %d\n", r.Matched, r.OwnSize)
			if r.Changed && r.PeerMatched != r.Matched {
				fmt.Fprintf(e.stdout, "the other party holds %d links: accounts changed number or were erased during the run, and the next run reconciles the two\n", r.PeerMatched)
			}
			return nil
		case j.State == store.JobSuperseded:
			return failed(e, cmd, "job %s was superseded: a run begun after it finished first, and its staging is gone; start a new run", started.ID)
		case j.State == store.JobFailed && j.Progress.Code == linkjob.Code(linkjob.ErrLost):
			// Resumed, it would fail again: its error says to start anew.
			return failed(e, cmd, "job %s failed: %s", started.ID, j.Progress.Error)
		case j.State == store.JobFailed:
			return failed(e, cmd, "job %s failed: %s (resume with --job %s)", started.ID, j.Progress.Error, started.ID)
		}
		if p, _ := json.Marshal(j.Progress); string(p) != last {
			last = string(p)
			fmt.Fprintf(e.stderr, "%s: %d sent, %d received\n", j.Progress.Phase, j.Progress.Sent, j.Progress.Received)
		}
		if time.Since(asked) >= 500*time.Millisecond {
			continue
		}
		select {
		case <-ctx.Done():
			return failed(e, cmd, "stopped waiting; the job goes on (see it with --job %s)", started.ID)
		case <-time.After(pause):
		}
		pause = min(pause*3/2, time.Second)
	}
}
