package linkjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/linkd/linkd/store"

	"github.com/linkd/linkd/crypto/psi"
	"github.com/linkd/linkd/store/storeerr"
)

// Responder answers the initiator's messages for a party: it is the Peer
// the initiator talks to, in process or behind the peer routes.
type Responder struct {
	P *Party
	// Epoch, if set, is the only link epoch a job may open in: the one
	// this party's runs use (Runner.Epoch). An initiator that offers
	// another (an older epoch's kept sets, say) is refused.
	Epoch uint32
}

// A responder is an oracle under this party's key for whoever holds the
// party key: it raises any element sent to it to its link key. It is
// bounded by the job: it re-blinds only for a job that is running here,
// and never more distinct elements than the job's opening declared
// (Open.Most), however its batches are numbered, sent again or opened
// again; the api holds the party key to a daily budget of elements
// (catalogue limits.peer_reblinds_per_day) and of jobs.

// liveJob loads a running job this party answers: a job done, failed or
// superseded refuses every batch (ErrEnded, ErrSuperseded).
func (r Responder) liveJob(ctx context.Context, jobID string) (params, error) {
	pr, state, err := r.loadJob(ctx, jobID)
	if err != nil {
		return params{}, err
	}
	if state != store.JobRunning {
		return params{}, fmt.Errorf("%w: job %s is %s here: start a new run", ErrEnded, jobID, state)
	}
	return pr, nil
}

// responderJob loads a job this party answers, refusing others.
func (r Responder) responderJob(ctx context.Context, jobID string) (params, error) {
	pr, _, err := r.loadJob(ctx, jobID)
	return pr, err
}

func (r Responder) loadJob(ctx context.Context, jobID string) (params, store.JobState, error) {
	j, err := r.P.Jobs.Job(ctx, jobID)
	if errors.Is(err, storeerr.ErrNotFound) {
		return params{}, "", protocolError("no open link job %q", jobID)
	}
	if err != nil {
		return params{}, "", err
	}
	var pr params
	if err := json.Unmarshal(j.Params, &pr); err != nil || pr.Role != "responder" || j.Kind != Kind {
		return params{}, "", protocolError("job %q is not a link job answered here", jobID)
	}
	if j.State == store.JobSuperseded {
		return params{}, "", SupersededError(jobID)
	}
	return pr, j.State, nil
}

// Counters of Party.Usage, per job (subject "linkjob:" and the job's id),
// in one window from the job's start.
const (
	opensCounter = "link_job_opens"
	// maxOpens is how many openings a job takes at all.
	maxOpens = 50
)

// most is the most distinct elements the job re-blinds for the
// initiator: what its opening declared.
func (pr params) most() int64 {
	if pr.PeerMost > 0 {
		return pr.PeerMost
	}
	return max(pr.PeerSize, 0)
}

// Open implements Peer: it opens the job (again, with the same
// parameters, for a retry). The run builds on the kept sets when the
// initiator offers the run this party keeps too, in the job's epoch.
func (r Responder) Open(ctx context.Context, o Open) (Opened, error) {
	if o.JobID == "" || len(o.JobID) > 100 || o.BatchSize < 1 || o.BatchSize > DefaultBatch || o.Size < 0 || (o.Most != 0 && o.Most < o.Size) {
		return Opened{}, protocolError("an open needs a job id, a batch size from 1 to %d, a set size and, if max_elements, one no smaller", DefaultBatch)
	}
	if len(o.Retired) > MaxRetired || len(o.Base) > 100 {
		return Opened{}, protocolError("an open retires at most %d values and names a base of at most 100 bytes", MaxRetired)
	}
	if _, err := decodeValues(o.Retired); err != nil {
		return Opened{}, err
	}
	if o.Group != psi.Group {
		return Opened{}, GroupError(o.Group)
	}
	if r.Epoch != 0 && o.Epoch != r.Epoch {
		return Opened{}, protocolError("a job of link epoch %d: this party links in epoch %d", o.Epoch, r.Epoch)
	}
	if err := r.P.olderGroup(ctx); err != nil {
		if errors.Is(err, ErrGroup) {
			return Opened{}, errResponderOlder
		}
		return Opened{}, err
	}
	changes, err := r.P.Staging.Changes(ctx)
	if err != nil {
		return Opened{}, err
	}
	own, err := r.P.count(ctx)
	if err != nil {
		return Opened{}, err
	}
	pr := params{Role: "responder", Epoch: o.Epoch, BatchSize: o.BatchSize, PeerSize: o.Size, PeerMost: o.Most, OwnSize: own, Started: r.P.now().UTC(),
		Base: o.Base, Changes: changes}
	if o.Base != "" {
		base, retired, err := r.P.base(ctx, o.Epoch)
		if err != nil {
			return Opened{}, err
		}
		if base == o.Base {
			pr.Incremental, pr.Retired, pr.PeerRetired = true, retired, o.Retired
		}
	}
	raw, _ := json.Marshal(pr)
	err = r.P.Jobs.CreateJob(ctx, store.Job{ID: o.JobID, Kind: Kind, State: store.JobRunning, Params: raw, CreatedAt: pr.Started, UpdatedAt: pr.Started})
	if errors.Is(err, storeerr.ErrConflict) {
		old, err := r.responderJob(ctx, o.JobID)
		if err != nil {
			return Opened{}, err
		}
		if old.Epoch != o.Epoch || old.BatchSize != o.BatchSize || old.PeerSize != o.Size || old.PeerMost != o.Most || old.Base != o.Base {
			return Opened{}, protocolError("job %q is open with other parameters", o.JobID)
		}
		if err := r.P.whole(ctx, o.JobID); err != nil {
			return Opened{}, err
		}
		if err := r.countOpen(ctx, o.JobID, old); err != nil {
			return Opened{}, err
		}
		return Opened{Group: psi.Group, Size: old.OwnSize, Incremental: old.Incremental, Retired: old.Retired}, nil
	}
	if err != nil {
		return Opened{}, err
	}
	if err := r.P.Staging.StartStaging(ctx, o.JobID); err != nil {
		return Opened{}, err
	}
	if err := r.countOpen(ctx, o.JobID, pr); err != nil {
		return Opened{}, err
	}
	return Opened{Group: psi.Group, Size: own, Incremental: pr.Incremental, Retired: pr.Retired}, nil
}

// Reblind implements Peer: the initiator's batch, re-blinded in order; the
// values are kept to compare with this party's own.
func (r Responder) Reblind(ctx context.Context, jobID string, seq int64, elements []psi.Element) ([]psi.Element, error) {
	pr, err := r.liveJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if seq < 1 || len(elements) > pr.BatchSize {
		return nil, protocolError("batch %d of %d elements: want a batch number from 1 and at most %d elements", seq, len(elements), pr.BatchSize)
	}
	// Within the declared set: batch seq holds elements from
	// (seq-1)*BatchSize, and the batch after the last full one ends the
	// set (short, or empty).
	if most := pr.most(); seq > most/int64(pr.BatchSize)+1 || (seq-1)*int64(pr.BatchSize)+int64(len(elements)) > most {
		return nil, protocolError("batch %d of %d elements is beyond the %d elements the job's opening declared (batches of %d)",
			seq, len(elements), most, pr.BatchSize)
	}
	vals, err := r.P.Key.ReblindBatch(elements)
	if err != nil {
		return nil, protocolError("batch %d: %v", seq, err)
	}
	// A batch sent again (a resumed attempt) costs only the values its
	// last answer did not hold. A value counts each time it is new to
	// its batch number (values answered before the last answer of that
	// batch number, or in another batch, count again): the count never
	// falls short of the distinct elements the job has raised to this
	// party's key.
	c, err := r.P.Staging.StageReblinded(ctx, jobID, seq, vals, pr.most())
	if errors.Is(err, storeerr.ErrNotFound) {
		return nil, LostError(jobID)
	}
	if err != nil {
		return nil, err
	}
	if !c.Staged {
		return nil, protocolError("job %s has re-blinded %d elements, and %d more would pass the %d its opening declared",
			jobID, c.Before, c.Fresh, pr.most())
	}
	if len(elements) < pr.BatchSize {
		// The last batch: batches after it, staged by an attempt that
		// ended before the initiator resumed with other batches, go.
		if err := r.P.Staging.TrimTheirs(ctx, jobID, seq); err != nil {
			return nil, err
		}
	}
	return vals, nil
}

// Elements implements Peer: this party's batch seq, shuffled, the same
// on a retry. Batches are served in order.
func (r Responder) Elements(ctx context.Context, jobID string, seq int64) ([]psi.Element, bool, error) {
	pr, err := r.liveJob(ctx, jobID)
	if err != nil {
		return nil, false, err
	}
	if seq < 1 {
		return nil, false, protocolError("batch %d: batches are numbered from 1", seq)
	}
	rows, err := r.P.Staging.OwnBatch(ctx, jobID, seq)
	if err != nil {
		return nil, false, err
	}
	if len(rows) == 0 {
		// Batch size from the job, not from this party's setting.
		p := *r.P
		p.BatchSize = pr.BatchSize
		if rows, err = p.nextBatch(ctx, jobID, seq, pr.Incremental); err != nil {
			return nil, false, err
		}
		if len(rows) > 0 {
			if err := r.P.Staging.StageOwn(ctx, jobID, seq, rows); err != nil {
				return nil, false, err
			}
		}
	}
	els := make([]psi.Element, len(rows))
	for i, row := range rows {
		els[i] = row.Element
	}
	return els, len(rows) < pr.BatchSize, nil
}

// Reblinded implements Peer: the doubly blinded values of this party's
// batch seq, in the order it was served.
func (r Responder) Reblinded(ctx context.Context, jobID string, seq int64, values []psi.Element) error {
	if _, err := r.liveJob(ctx, jobID); err != nil {
		return err
	}
	n, _, err := r.P.Staging.BatchEnd(ctx, jobID, seq)
	if err != nil {
		return err
	}
	if n == 0 {
		return protocolError("batch %d was not served", seq)
	}
	if len(values) != n {
		return protocolError("batch %d had %d elements, got %d values", seq, n, len(values))
	}
	if err := psi.CheckElements(values); err != nil {
		return protocolError("batch %d: %v", seq, err)
	}
	return r.P.Staging.SetOwnValues(ctx, jobID, seq, values)
}

// Finish implements Peer: this party's matches become links. A job
// finished already answers its result again (a retry of a lost answer).
func (r Responder) Finish(ctx context.Context, jobID string) (Result, error) {
	pr, state, err := r.loadJob(ctx, jobID)
	if err != nil {
		return Result{}, err
	}
	if state == store.JobDone {
		j, err := r.P.Jobs.Job(ctx, jobID)
		if err != nil {
			return Result{}, err
		}
		var prog Progress
		if json.Unmarshal(j.Progress, &prog) == nil && prog.Result != nil {
			return *prog.Result, nil
		}
	}
	if state != store.JobRunning {
		return Result{}, fmt.Errorf("%w: job %s is %s here: start a new run", ErrEnded, jobID, state)
	}
	n, changed, err := r.P.link(ctx, jobID, pr)
	if err != nil {
		return Result{}, err
	}
	res := Result{Matched: n, OwnSize: pr.OwnSize, PeerSize: pr.PeerSize, Incremental: pr.Incremental,
		Seconds: r.P.now().Sub(pr.Started).Seconds(), Changed: changed}
	raw, _ := json.Marshal(Progress{Phase: "done", Result: &res})
	if err := r.P.Jobs.UpdateJob(ctx, jobID, store.JobDone, raw, r.P.now()); err != nil {
		return Result{}, fmt.Errorf("linkjob: %w", err)
	}
	return res, nil
}

// countOpen counts an opening of the job (the first, or a resumed
// attempt's).
func (r Responder) countOpen(ctx context.Context, jobID string, pr params) error {
	if r.P.Usage == nil {
		return nil
	}
	ok, _, err := r.P.Usage.Consume(ctx, "linkjob:"+jobID, opensCounter, pr.Started, 1, maxOpens)
	if err == nil && !ok {
		return protocolError("job %s was opened %d times: start a new run", jobID, maxOpens)
	}
	return err
}
