package signal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/linkd/linkd/store"
)

// RelayConfig sets up the signal relay.
type RelayConfig struct {
	Peer Peer
	// Webhook, if set, is told of every signal received and revoked,
	// from an outbox of its own written with them.
	Webhook Hook
	// Subjects, if set, drains the data-subject relay's outbox (package
	// subject's Drain) on a line of its own, until it is empty or the
	// deadline; more says it stopped at the deadline with some left.
	Subjects func(ctx context.Context, deadline time.Time) (more bool, err error)
	Log      *slog.Logger
	// Registry receives the relay's metrics (none if nil).
	Registry prometheus.Registerer
	// Backoff after a failed drain: MinBackoff doubling up to MaxBackoff,
	// with jitter (defaults 1 s and 1 min).
	MinBackoff, MaxBackoff time.Duration
	// Sweep is how often a drain is queued whatever happens (default
	// 10 s): it sends what waited while no relay ran, or what a relay
	// that died left.
	Sweep time.Duration
	// Slice is how long one drain runs before it makes way and queues
	// itself again (default 20 s).
	Slice time.Duration
	// RescueAfter is how long a drain left running by a process that died
	// waits before River takes it over (default 2 min).
	RescueAfter time.Duration
	// Batch is the number of messages a request (default
	// DrainBatch).
	Batch int
}

// Relay is the running signal relay: River workers draining the outboxes.
type Relay struct {
	client *river.Client[pgx.Tx]
}

// line is one outbox and where it drains to.
type line struct {
	s     *store.Store
	name  string // for the lock and the logs
	slice time.Duration
	log   *slog.Logger
	// drain sends until the outbox is empty or the deadline; more says
	// it stopped at the deadline with messages left.
	drain    func(ctx context.Context, deadline time.Time) (more bool, err error)
	failures prometheus.Counter
}

type drainWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	*line
}

// lock takes the line's advisory lock on a connection of its own, so
// that one drain runs at a time across every process of the party; a
// process that dies loses its connection and with it the lock.
func (l *line) lock(ctx context.Context) (unlock func(), ok bool, err error) {
	conn, err := l.s.Pool().Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	key := "linkd." + l.name
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext(current_schema() || $1))`, key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext(current_schema() || $1))`, key); err != nil {
			_ = conn.Conn().Close(ctx) // the lock goes with the connection
		}
		conn.Release()
	}, true, nil
}

func (w *drainWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	unlock, ok, err := w.lock(ctx)
	if err != nil {
		return err
	}
	if !ok {
		// Another process is draining, and may have read the outbox
		// before what this drain was queued for: look again shortly.
		return river.JobSnooze(time.Second)
	}
	defer unlock()
	more, err := w.drain(ctx, time.Now().Add(w.slice))
	if err != nil {
		w.failures.Inc()
		w.log.Warn(w.name+": drain failed, retrying with backoff", "attempt", job.Attempt, "error", err)
		return err
	}
	if more {
		return river.JobSnooze(0)
	}
	return nil
}

// Timeout bounds a drain: its slice plus one request.
func (w *drainWorker[T]) Timeout(*river.Job[T]) time.Duration { return w.slice + 2*time.Minute }

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

// addLine registers a line's two workers and its periodic sweep.
func addLine[D, S river.JobArgs](workers *river.Workers, periodic *[]*river.PeriodicJob, sweep time.Duration, l *line, sweepArgs S) error {
	if err := river.AddWorkerSafely(workers, &drainWorker[D]{line: l}); err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, &drainWorker[S]{line: l}); err != nil {
		return err
	}
	*periodic = append(*periodic, river.NewPeriodicJob(river.PeriodicInterval(sweep),
		func() (river.JobArgs, *river.InsertOpts) { return sweepArgs, nil }, nil))
	return nil
}

// StartRelay starts, on the store's River queue, the workers that deliver the signal outbox to the
// other party (and the webhook's, if one is set). Stop them with
// Relay.Stop.
func StartRelay(ctx context.Context, s *store.Store, cfg RelayConfig) (*Relay, error) {
	if cfg.Peer == nil {
		return nil, errors.New("signal: the relay needs a peer")
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
		cfg.Batch = DrainBatch
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_signals_relayed_total",
		Help: "Signal relay messages sent to the other party, by the outcome it answered (or expired, unsent)."}, []string{"outcome"})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_relay_failures_total",
		Help: "Drains that failed (the other party or the webhook unreachable or refusing), by line (peer, webhook, subjects); each is retried."}, []string{"line"})
	events := prometheus.NewCounter(prometheus.CounterOpts{Name: "linkd_webhook_events_total",
		Help: "Events of received and revoked signals delivered to the webhook."})
	// The backlogs, read at each scrape (NaN if the database does not
	// answer within a second): how many wait, and for how long the
	// oldest has.
	collectors := []prometheus.Collector{outcomes, failures, events}
	gauges := func(what, help string, read func(context.Context) (store.OutboxBacklog, error)) {
		get := func(f func(store.OutboxBacklog) float64) func() float64 {
			return func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				b, err := read(ctx)
				if err != nil {
					return math.NaN()
				}
				return f(b)
			}
		}
		collectors = append(collectors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "linkd_" + what + "_outbox_pending", Help: help + " waiting for the other party."},
				get(func(b store.OutboxBacklog) float64 { return float64(b.Pending) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "linkd_" + what + "_outbox_oldest_seconds",
				Help: "How long the oldest of the " + strings.ToLower(help) + " waiting for the other party has waited (0: none waits)."},
				get(func(b store.OutboxBacklog) float64 {
					if b.Oldest.IsZero() {
						return 0
					}
					return max(0, time.Since(b.Oldest).Seconds())
				})))
	}
	gauges("signal", "Signal relay messages", s.OutboxBacklog)
	if cfg.Subjects != nil {
		gauges("subject", "Data-subject requests", s.SubjectBacklog)
	}
	if cfg.Registry != nil {
		for _, c := range collectors {
			if err := cfg.Registry.Register(c); err != nil {
				return nil, err
			}
		}
	}
	workers := river.NewWorkers()
	var periodic []*river.PeriodicJob
	relay := &line{s: s, name: "signal relay", slice: cfg.Slice, log: cfg.Log, failures: failures.WithLabelValues("peer"),
		drain: func(ctx context.Context, deadline time.Time) (bool, error) {
			done, more, err := Drain(ctx, s, cfg.Peer, cfg.Batch, time.Now, deadline)
			for o, n := range done {
				outcomes.WithLabelValues(string(o)).Add(float64(n))
			}
			return more, err
		}}
	if err := addLine[store.DrainJob](workers, &periodic, cfg.Sweep, relay, store.SweepJob{}); err != nil {
		return nil, err
	}
	s.KeepEvents(cfg.Webhook != nil)
	if cfg.Webhook != nil {
		hook := &line{s: s, name: "signal webhook", slice: cfg.Slice, log: cfg.Log, failures: failures.WithLabelValues("webhook"),
			drain: func(ctx context.Context, deadline time.Time) (bool, error) {
				n, more, err := DrainEvents(ctx, s, cfg.Webhook, cfg.Batch, time.Now, deadline)
				events.Add(float64(n))
				return more, err
			}}
		if err := addLine[store.EventJob](workers, &periodic, cfg.Sweep, hook, store.EventSweepJob{}); err != nil {
			return nil, err
		}
	}
	if cfg.Subjects != nil {
		subjects := &line{s: s, name: "subject relay", slice: cfg.Slice, log: cfg.Log, failures: failures.WithLabelValues("subjects"),
			drain: cfg.Subjects}
		if err := addLine[store.SubjectJob](workers, &periodic, cfg.Sweep, subjects, store.SubjectSweepJob{}); err != nil {
			return nil, err
		}
	}
	client, err := river.NewClient(riverpgxv5.New(s.Pool()), &river.Config{
		Logger:               cfg.Log,
		Queues:               map[string]river.QueueConfig{store.RelayQueue: {MaxWorkers: 2}},
		Workers:              workers,
		RetryPolicy:          backoff{cfg.MinBackoff, cfg.MaxBackoff},
		MaxAttempts:          1000,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    time.Second,
		PeriodicJobs:         periodic,
	})
	if err != nil {
		return nil, fmt.Errorf("signal: the relay: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return nil, fmt.Errorf("signal: starting the relay: %w", err)
	}
	// What waited while no relay ran (or was left by one that died) goes
	// now, not at the next sweep of whichever process leads.
	start := []river.InsertManyParams{{Args: store.SweepJob{}}}
	if cfg.Webhook != nil {
		start = append(start, river.InsertManyParams{Args: store.EventSweepJob{}})
	}
	if cfg.Subjects != nil {
		start = append(start, river.InsertManyParams{Args: store.SubjectSweepJob{}})
	}
	if _, err := client.InsertMany(ctx, start); err != nil {
		_ = client.StopAndCancel(context.Background())
		return nil, fmt.Errorf("signal: starting the relay: %w", err)
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
