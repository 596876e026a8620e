package linkjob

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/store/storeerr"
)

// Runner is a party's linking as its server holds it: the responder for
// the other party's messages, and the runs it starts against the other
// party, one at a time, in the background.
type Runner struct {
	Responder
	// Peer is the other party; nil if this party starts no runs.
	Peer Peer
	// Epoch is the linking epoch the runs derive link ids in.
	Epoch uint32
	// Ctx is the server's life: the runs end with it.
	Ctx context.Context
	Log *slog.Logger
	// Done, if set, is told each finished run's result.
	Done func(Result)

	mu      sync.Mutex
	running string
	ended   chan struct{} // closed when the running job's goroutine ends
	again   bool          // a start of the running job was asked for
}

// Start begins run jobID (or resumes it), in the background: one run at
// a time; asked for the run under way, it starts that run again at once
// if the attempt under way fails.
func (l *Runner) Start(jobID string, full bool) error {
	if l.Peer == nil {
		return ErrNoPeer
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running != "" {
		if l.running == jobID {
			// Asked again while it runs (the other party restarted,
			// say): if this attempt fails, the next starts at once.
			l.again = true
			return nil
		}
		return fmt.Errorf("%w: link job %s is running", storeerr.ErrConflict, l.running)
	}
	if err := l.Responder.P.Begin(l.Ctx, jobID, l.Epoch, full); err != nil {
		return err
	}
	l.running, l.again = jobID, false
	ended := make(chan struct{})
	l.ended = ended
	again := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		a := l.again
		l.again = false
		return a
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	go func() {
		start := time.Now()
		res, err := l.Responder.P.RunAgainIf(l.Ctx, l.Peer, jobID, l.Epoch, full, again)
		l.mu.Lock()
		l.running, l.ended = "", nil
		l.mu.Unlock()
		close(ended) // the job's state is written: readers see its end
		if err != nil {
			log.Error("link job failed", "job", jobID, "error", err)
			return
		}
		if l.Done != nil {
			l.Done(res)
		}
		log.Info("link job done", "job", jobID, "matched", res.Matched, "own_size", res.OwnSize, "peer_size", res.PeerSize,
			"sent", res.Sent, "received", res.Received, "incremental", res.Incremental, "changed", res.Changed, "peer_matched", res.PeerMatched,
			"seconds", time.Since(start).Seconds())
	}()
	return nil
}

// Jobs lists link runs, newest first, those begun before run before if
// it is set, at most limit.
func (l *Runner) Jobs(ctx context.Context, before string, limit int) ([]store.Job, error) {
	return l.Responder.P.Jobs.ListJobs(ctx, Kind, before, limit)
}

// Job returns a job's record.
func (l *Runner) Job(ctx context.Context, id string) (store.Job, error) {
	return l.Responder.P.Jobs.Job(ctx, id)
}

// Wait returns once run id, if it is the one under way here, has ended,
// or when ctx ends.
func (l *Runner) Wait(ctx context.Context, id string) {
	l.mu.Lock()
	ended := l.ended
	running := l.running == id
	l.mu.Unlock()
	if !running {
		return
	}
	select {
	case <-ended:
	case <-ctx.Done():
	}
}
