package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/linkd/linkd/linking/signal"
)

// riverVersions is how many versions of River's tables the job queue
// migrations install; a River upgrade that brings new tables gets
// migrations of its own.
const riverVersions = 8

// riverMigrations install River's tables, the job queue of the signal
// relay, in the store's schema: migrations 9 to 16 are River's versions 1
// to 8, each in its own transaction as River needs (a new enum value is
// used only after the transaction that adds it).
func riverMigrations() []Migration {
	migrator := func() (*rivermigrate.Migrator[pgx.Tx], error) {
		return rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	}
	out := make([]Migration, riverVersions)
	for v := 1; v <= riverVersions; v++ {
		out[v-1] = Migration{Version: 8 + v, Name: fmt.Sprintf("job_queue_%d", v),
			up: func(ctx context.Context, tx pgx.Tx) error {
				m, err := migrator()
				if err == nil {
					//lint:ignore SA1019 deprecated for running several versions in one transaction; this runs one
					_, err = m.MigrateTx(ctx, tx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{TargetVersion: v})
				}
				return err
			},
			down: func(ctx context.Context, tx pgx.Tx) error {
				m, err := migrator()
				if err == nil {
					//lint:ignore SA1019 deprecated for running several versions in one transaction; this runs one
					_, err = m.MigrateTx(ctx, tx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{MaxSteps: 1})
				}
				return err
			}}
	}
	return out
}

// relayQueue is the River queue of the signal relay.
const relayQueue = "signal_relay"

// drainArgs is the job that drains the signal outbox to the other party.
// It carries nothing: the outbox is the record of what is to be sent, and
// the job only says "send it". A write to the outbox queues one once it is
// committed, unless one is already waiting (a drain that is running may
// have read the outbox before that write, so it does not count); a drain that fails is retried with backoff by River, and while
// it waits to be retried no other is queued.
type drainArgs struct{}

func (drainArgs) Kind() string { return "linkd_signal_drain" }

func (drainArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: relayQueue} }

// sweepArgs is the drain queued every RelayConfig.Sweep and when a relay
// starts, whatever else is queued: it sends what a relay that died left.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "linkd_signal_sweep" }

func (sweepArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: relayQueue} }

// waiting are the states of a drain that has not started.
var waiting = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// nudge queues a drain after the outbox was written to, unless one is
// waiting already. Writes that come while a nudge is being made share the
// next one: every write is followed by a look at the queue that began
// after it committed. A nudge never fails the write: what is in the outbox
// is sent by the next drain or sweep whatever becomes of it.
func (s *Store) nudge() {
	if s.queueErr != nil {
		return
	}
	n := &s.nudges
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
			got, err := s.queue.JobList(ctx, river.NewJobListParams().Kinds(drainArgs{}.Kind()).States(waiting...).First(1))
			if err == nil && len(got.Jobs) == 0 {
				_, _ = s.queue.Insert(ctx, drainArgs{}, nil)
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

// RelayConfig sets up the signal relay.
type RelayConfig struct {
	Peer signal.Peer
	Log  *slog.Logger
	// Registry receives the relay's metrics (none if nil).
	Registry prometheus.Registerer
	// Backoff after a failed drain: MinBackoff doubling up to MaxBackoff,
	// with jitter (defaults 1 s and 1 min).
	MinBackoff, MaxBackoff time.Duration
	// Sweep is how often a drain is queued whatever happens (default
	// 10 s): it sends a signal committed while the last drain was
	// finishing, and what waited while no relay ran.
	Sweep time.Duration
	// Slice is how long one drain runs before it makes way and queues
	// itself again (default 20 s).
	Slice time.Duration
	// RescueAfter is how long a drain left running by a process that died
	// waits before another process takes it over (default 2 min).
	RescueAfter time.Duration
	// Batch is the number of messages a request (default
	// signal.DrainBatch).
	Batch int
}

// Relay is the running signal relay: River workers draining the outbox.
type Relay struct {
	client *river.Client[pgx.Tx]
}

type drainer struct {
	s        *Store
	cfg      RelayConfig
	outcomes *prometheus.CounterVec
	failures prometheus.Counter
}

type drainWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	*drainer
}

// lockRelay takes the relay's advisory lock on a connection of its own,
// so that one drain runs at a time across every process of the party; a
// process that dies loses its connection and with it the lock.
func (s *Store) lockRelay(ctx context.Context) (unlock func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.linkd.relay'))`).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext(current_schema() || '.linkd.relay'))`); err != nil {
			_ = conn.Conn().Close(ctx) // the lock goes with the connection
		}
		conn.Release()
	}, true, nil
}

func (w *drainWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	unlock, ok, err := w.s.lockRelay(ctx)
	if err != nil {
		return err
	}
	if !ok {
		// Another process is draining, and may have read the outbox
		// before what this drain was queued for: look again shortly.
		return river.JobSnooze(time.Second)
	}
	defer unlock()
	done, more, err := signal.Drain(ctx, w.s, w.cfg.Peer, w.cfg.Batch, time.Now, time.Now().Add(w.cfg.Slice))
	for o, n := range done {
		w.outcomes.WithLabelValues(string(o)).Add(float64(n))
	}
	if err != nil {
		w.failures.Inc()
		w.cfg.Log.Warn("signal relay: drain failed, retrying with backoff", "attempt", job.Attempt, "error", err)
		return err
	}
	if more {
		return river.JobSnooze(0)
	}
	return nil
}

// Timeout bounds a drain: its slice plus one request.
func (w *drainWorker[T]) Timeout(*river.Job[T]) time.Duration { return w.cfg.Slice + 2*time.Minute }

// backoff is capped exponential backoff with jitter.
type backoff struct{ min, max time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.max
	if n := len(job.Errors); n < 30 {
		d = min(b.min<<n, b.max)
	}
	d = d/2 + rand.N(d/2+1)
	return time.Now().Add(d)
}

// StartRelay starts the workers that deliver the signal outbox to the
// other party. Stop them with Relay.Stop.
func (s *Store) StartRelay(ctx context.Context, cfg RelayConfig) (*Relay, error) {
	if cfg.Peer == nil {
		return nil, errors.New("pgstore: the relay needs a peer")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.MinBackoff = cmpOr(cfg.MinBackoff, time.Second)
	cfg.MaxBackoff = cmpOr(cfg.MaxBackoff, time.Minute)
	cfg.Sweep = cmpOr(cfg.Sweep, 10*time.Second)
	cfg.Slice = cmpOr(cfg.Slice, 20*time.Second)
	cfg.RescueAfter = cmpOr(cfg.RescueAfter, 2*time.Minute)
	if cfg.Batch <= 0 {
		cfg.Batch = signal.DrainBatch
	}
	w := &drainer{s: s, cfg: cfg,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_signals_relayed_total",
			Help: "Signal relay messages sent to the other party, by the outcome it answered (or expired, unsent)."}, []string{"outcome"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "linkd_signal_relay_failures_total",
			Help: "Drains of the signal outbox that failed (the other party unreachable or refusing); each is retried."}),
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(w.outcomes); err != nil {
			return nil, err
		}
		if err := cfg.Registry.Register(w.failures); err != nil {
			return nil, err
		}
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &drainWorker[drainArgs]{drainer: w}); err != nil {
		return nil, err
	}
	if err := river.AddWorkerSafely(workers, &drainWorker[sweepArgs]{drainer: w}); err != nil {
		return nil, err
	}
	client, err := river.NewClient(riverpgxv5.New(s.pool), &river.Config{
		Logger:               cfg.Log,
		Queues:               map[string]river.QueueConfig{relayQueue: {MaxWorkers: 1}},
		Workers:              workers,
		RetryPolicy:          backoff{cfg.MinBackoff, cfg.MaxBackoff},
		MaxAttempts:          1000,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    time.Second,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.Sweep),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil }, nil)},
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: the relay: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: starting the relay: %w", err)
	}
	// What waited while no relay ran (or was left by one that died) goes
	// now, not at the next sweep of whichever process leads.
	if _, err := client.Insert(ctx, sweepArgs{}, nil); err != nil {
		_ = client.StopAndCancel(context.Background())
		return nil, fmt.Errorf("pgstore: starting the relay: %w", err)
	}
	return &Relay{client: client}, nil
}

// Stop stops the relay, letting a running drain finish its request until
// ctx ends; then the drain is cancelled (what it sent is sent again by the
// next relay, and applied once by the receiver).
func (r *Relay) Stop(ctx context.Context) error {
	if err := r.client.Stop(ctx); err == nil || ctx.Err() == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return r.client.StopAndCancel(ctx)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
