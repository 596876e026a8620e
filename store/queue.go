package store

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// RelayQueue is the River queue of the signal relay.
const RelayQueue = "signal_relay"

// DrainJob is the River job that drains the signal outbox to the other party.
// It carries nothing: the outbox is the record of what is to be sent, and
// the job only says "send it". A write to the outbox queues one once it is
// committed, unless one is already waiting (a drain that is running may
// have read the outbox before that write, so it does not count); a drain that fails is retried with backoff by River, and while
// it waits to be retried no other is queued.
type DrainJob struct{}

func (DrainJob) Kind() string { return "linkd_signal_drain" }

func (DrainJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

// SweepJob is the drain queued every sweep (package signal's
// RelayConfig.Sweep) and when a relay
// starts, whatever else is queued: it sends what a relay that died left.
type SweepJob struct{}

func (SweepJob) Kind() string { return "linkd_signal_sweep" }

func (SweepJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

// EventJob and EventSweepJob are the same two for the webhook's outbox:
// news of inbound signals for this party's own account system.
type EventJob struct{}

func (EventJob) Kind() string { return "linkd_webhook_drain" }

func (EventJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

type EventSweepJob struct{}

func (EventSweepJob) Kind() string { return "linkd_webhook_sweep" }

func (EventSweepJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

// SubjectJob and SubjectSweepJob are the same two for the data-subject
// relay's outbox: objections and erasures for the other party.
type SubjectJob struct{}

func (SubjectJob) Kind() string { return "linkd_subject_drain" }

func (SubjectJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

type SubjectSweepJob struct{}

func (SubjectSweepJob) Kind() string { return "linkd_subject_sweep" }

func (SubjectSweepJob) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: RelayQueue} }

// waiting are the states of a drain that has not started.
var waiting = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// nudge queues a drain after the outbox was written to, unless one is
// waiting already. Writes that come while a nudge is being made share the
// next one: every write is followed by a look at the queue that began
// after it committed. A nudge never fails the write: what is in the outbox
// is sent by the next drain or sweep whatever becomes of it.
func (s *Store) nudge() { s.nudgeLine(&s.nudges, DrainJob{}) }

// nudgeEvents is nudge for the webhook's outbox.
func (s *Store) nudgeEvents() { s.nudgeLine(&s.eventNudges, EventJob{}) }

func (s *Store) nudgeLine(n *nudges, args river.JobArgs) {
	if s.queueErr != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pending = true
	if n.running {
		return
	}
	n.running = true
	go func() {
		for {
			n.mu.Lock()
			if !n.pending {
				n.running = false
				n.mu.Unlock()
				return
			}
			n.pending = false
			n.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			got, err := s.queue.JobList(ctx, river.NewJobListParams().Kinds(args.Kind()).States(waiting...).First(1))
			if err == nil && len(got.Jobs) == 0 {
				_, _ = s.queue.Insert(ctx, args, nil)
			}
			cancel()
		}
	}()
}

// nudges coalesces nudges.
type nudges struct {
	mu               sync.Mutex
	pending, running bool
}
