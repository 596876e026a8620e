package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/audience"
	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/linking/linkjob"
	"github.com/linkd/linkd/linking/pseudonym"
	"github.com/linkd/linkd/store"
)

// linkEpoch is the linking epoch the link ids are derived in.
const linkEpoch = 1

// newLinker links with peer; the runs it starts send batch elements a
// message (0: linkjob.DefaultBatch).
func newLinker(ctx context.Context, st *store.Store, d *pseudonym.Deriver, peer linkjob.Peer, log *slog.Logger, batch int) *linkjob.Runner {
	p := &linkjob.Party{Directory: st, Links: st, Staging: st, Jobs: st, Key: d.LinkKey(), KeyEpoch: d.Epoch, Usage: st, BatchSize: batch}
	return &linkjob.Runner{Responder: linkjob.Responder{P: p}, Peer: peer, Epoch: linkEpoch, Ctx: ctx, Log: log}
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

  run   start a run, or resume one with --job ID, and wait for it`

func runLink(e *env, args []string) int {
	fs := newFlags(e, "link", "link run --server URL --key KEY [--job ID] [--full]", linkHelp)
	sub, code, ok := subcommand(e, fs, args, "run")
	if !ok {
		return code
	}
	_ = sub
	fs = newFlags(e, "link run", "link run --server URL --key KEY [--job ID] [--full]", linkHelp)
	server := fs.String("server", e.getenv("LINKD_SERVER"), "the party's `URL` (default $LINKD_SERVER)")
	key := fs.String("key", e.getenv("LINKD_KEY"), "admin API `key` (default $LINKD_KEY)")
	jobID := fs.String("job", "", "resume the job with this `id`")
	full := fs.Bool("full", false, "send every account, not only those changed since the last run")
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(e, fs, "unexpected argument %q", fs.Arg(0))
	}
	if *server == "" || *key == "" {
		return usageError(e, fs, "--server (or LINKD_SERVER) and --key (or LINKD_KEY) are required")
	}
	ctx, stop := e.context()
	defer stop()
	c := newClient(*server, *key, time.Minute)
	var started struct{ ID string }
	body := map[string]any{}
	if *jobID != "" {
		body["job_id"] = *jobID
	}
	if *full {
		body["full"] = true
	}
	if err := c.call(ctx, http.MethodPost, "/v1/link/jobs", body, &started); err != nil {
		fmt.Fprintf(e.stderr, "linkd link run: %v\n", err)
		return exitInput
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
		if err := c.call(ctx, http.MethodGet, "/v1/link/jobs/"+started.ID+"?wait=1s", nil, &j); err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(e.stderr, "linkd link run: stopped waiting; the job goes on (see it with --job %s)\n", started.ID)
				return exitInput
			}
			fmt.Fprintf(e.stderr, "linkd link run: %v (resume with --job %s)\n", err, started.ID)
			return exitInput
		}
		switch {
		case j.State == store.JobDone && j.Progress.Result != nil:
			r := j.Progress.Result
			kind := "a full run"
			if r.Incremental {
				kind = "built on the last run"
			}
			fmt.Fprintf(e.stdout, "job %s: this party has %d accounts, the other %d; %s: %d sent, %d received in %.1f s\n",
				started.ID, r.OwnSize, r.PeerSize, kind, r.Sent, r.Received, r.Seconds)
			fmt.Fprintf(e.stdout, "matched %d of %d\n", r.Matched, r.OwnSize)
			if r.Changed && r.PeerMatched != r.Matched {
				fmt.Fprintf(e.stdout, "the other party holds %d links: accounts changed number or were erased during the run, and the next run reconciles the two\n", r.PeerMatched)
			}
			return exitOK
		case j.State == store.JobSuperseded:
			fmt.Fprintf(e.stderr, "linkd link run: job %s was superseded: a run begun after it finished first, and its staging is gone; start a new run\n", started.ID)
			return exitInput
		case j.State == store.JobFailed && j.Progress.Code == linkjob.Code(linkjob.ErrLost):
			// Resumed, it would fail again: its error says to start anew.
			fmt.Fprintf(e.stderr, "linkd link run: job %s failed: %s\n", started.ID, j.Progress.Error)
			return exitInput
		case j.State == store.JobFailed:
			fmt.Fprintf(e.stderr, "linkd link run: job %s failed: %s (resume with --job %s)\n", started.ID, j.Progress.Error, started.ID)
			return exitInput
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
			fmt.Fprintf(e.stderr, "linkd link run: stopped waiting; the job goes on (see it with --job %s)\n", started.ID)
			return exitInput
		case <-time.After(pause):
		}
		pause = min(pause*3/2, time.Second)
	}
}

// audiencePeer sends extensions to the other party's peer route.
type audiencePeer struct{ c *client }

func newAudiencePeer(base, key string) audiencePeer {
	return audiencePeer{c: newClient(base, key, 5*time.Minute)}
}

// Mirror implements api.AudiencePeer.
func (p audiencePeer) Mirror(ctx context.Context, m audience.Mirror) (string, error) {
	var out struct {
		AudienceID string `json:"audience_id"`
	}
	err := p.c.call(ctx, http.MethodPost, "/v1/peer/audiences", api.MirrorRequest{SourceAudience: m.SourceAudience, Tenant: m.Tenant,
		Name: m.Name, Purpose: m.Purpose, LinkIDs: api.EncodeLinkIDs(m.LinkIDs), SessionID: m.SessionID, BatchSeq: m.Seq, Last: m.Last}, &out)
	return out.AudienceID, err
}

// linkPeer is the other party's side of a link run, behind its peer
// routes, called with the party key it issued to this party.
type linkPeer struct{ c *client }

func newLinkPeer(base, key string) linkPeer {
	return linkPeer{c: newClient(base, key, 5*time.Minute)}
}

// call is client.call with the peer's link errors (protocol errors, a
// staging lost, a job ended or superseded) back as their error values.
func (p linkPeer) call(ctx context.Context, method, path string, in, out any) error {
	err := p.c.call(ctx, method, path, in, out)
	var ae *answerError
	if errors.As(err, &ae) {
		if known := linkjob.FromCode(ae.Code, ae.Message); known != nil {
			return known
		}
	}
	if err != nil {
		return fmt.Errorf("linkjob: the peer: %w", err)
	}
	return nil
}

func batchPath(jobID string, seq int64) string {
	return "/v1/peer/link/jobs/" + jobID + "/batches/" + strconv.FormatInt(seq, 10)
}

// Open implements linkjob.Peer.
func (p linkPeer) Open(ctx context.Context, o linkjob.Open) (linkjob.Opened, error) {
	var out linkjob.Opened
	err := p.call(ctx, http.MethodPost, "/v1/peer/link/jobs", o, &out)
	return out, err
}

// Reblind implements linkjob.Peer.
func (p linkPeer) Reblind(ctx context.Context, jobID string, seq int64, els []psi.Element) ([]psi.Element, error) {
	var out linkjob.Elements
	if err := p.call(ctx, http.MethodPost, batchPath(jobID, seq)+"/reblind", linkjob.Elements{Elements: linkjob.EncodeElements(els)}, &out); err != nil {
		return nil, err
	}
	return linkjob.DecodeElements(out.Elements)
}

// Elements implements linkjob.Peer.
func (p linkPeer) Elements(ctx context.Context, jobID string, seq int64) ([]psi.Element, bool, error) {
	var out linkjob.Elements
	if err := p.call(ctx, http.MethodGet, batchPath(jobID, seq), nil, &out); err != nil {
		return nil, false, err
	}
	els, err := linkjob.DecodeElements(out.Elements)
	return els, out.Last, err
}

// Reblinded implements linkjob.Peer.
func (p linkPeer) Reblinded(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	return p.call(ctx, http.MethodPost, batchPath(jobID, seq)+"/values", linkjob.Elements{Elements: linkjob.EncodeElements(values)}, nil)
}

// Finish implements linkjob.Peer.
func (p linkPeer) Finish(ctx context.Context, jobID string) (linkjob.Result, error) {
	var out linkjob.Result
	err := p.call(ctx, http.MethodPost, "/v1/peer/link/jobs/"+jobID+"/finish", struct{}{}, &out)
	return out, err
}
