// Package retention is the janitor: it purges what the policy catalogue's
// retention says has expired, kind by kind, in set-based deletes.
//
//	audience_memberships  added or last re-added by an upload before now - days
//	upload_sessions       last batch before now - days (their batch records go too)
//	signals               raised or received before now - days (their outbox entries too)
//	links                 derived or last confirmed by a linking run before now - days
//	console_sessions      not seen for access.SessionIdle (expired: not the catalogue's)
//
// The audit log is not purged here: it is append-only and hash-chained, and
// its retention is a minimum it is kept for.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/access"
	"github.com/linkd/linkd/policies"
)

// Store deletes expired data. Each method deletes everything of its kind
// older than before and returns how many rows it deleted.
type Store interface {
	PurgeMemberships(ctx context.Context, before time.Time) (int64, error)
	PurgeSessions(ctx context.Context, before time.Time) (int64, error)
	PurgeSignals(ctx context.Context, before time.Time) (int64, error)
	PurgeLinks(ctx context.Context, before time.Time) (int64, error)
	PurgeConsoleSessions(ctx context.Context, before time.Time) (int64, error)
}

// KindConsoleSessions is the janitor's name for expired console sessions,
// which it purges whatever the catalogue says: they are over.
const KindConsoleSessions = "console_sessions"

// Kinds the janitor purges, in order.
var Kinds = []string{policies.KindMemberships, policies.KindSessions, policies.KindSignals, policies.KindLinks}

// Janitor purges a store by the catalogue in force.
type Janitor struct {
	Store Store
	// Catalogue returns the catalogue in force (it may change on reload).
	Catalogue func() *policies.Catalogue
	// Now is the janitor's clock (default time.Now).
	Now func() time.Time
	Log *slog.Logger

	purged *prometheus.CounterVec
}

// Register adds the janitor's metric, linkd_retention_purged_total{kind},
// to reg.
func (j *Janitor) Register(reg prometheus.Registerer) {
	j.purged = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "linkd_retention_purged_total",
		Help: "Rows purged by the retention janitor, by kind of data."}, []string{"kind"})
	reg.MustRegister(j.purged)
	// Every kind from the start, at 0: a dashboard sees them before the
	// first sweep ends.
	for _, kind := range append(Kinds, KindConsoleSessions) {
		j.purged.WithLabelValues(kind).Add(0)
	}
}

// Sweep purges every kind once and returns what it purged, by kind. A
// kind without a retention in the catalogue is kept (the catalogue's
// schema requires all of them).
func (j *Janitor) Sweep(ctx context.Context) (map[string]int64, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	c := j.Catalogue()
	t := now()
	out := map[string]int64{}
	var errs []error
	for _, kind := range append(Kinds, KindConsoleSessions) {
		keep := c.RetentionOf(kind)
		if kind == KindConsoleSessions {
			keep = access.SessionIdle
		}
		if keep <= 0 {
			continue
		}
		before := t.Add(-keep)
		var purge func(context.Context, time.Time) (int64, error)
		switch kind {
		case KindConsoleSessions:
			purge = j.Store.PurgeConsoleSessions
		case policies.KindMemberships:
			purge = j.Store.PurgeMemberships
		case policies.KindSessions:
			purge = j.Store.PurgeSessions
		case policies.KindSignals:
			purge = j.Store.PurgeSignals
		case policies.KindLinks:
			purge = j.Store.PurgeLinks
		}
		n, err := purge(ctx, before)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention: purging %s: %w", kind, err))
			continue
		}
		out[kind] = n
		if j.purged != nil {
			j.purged.WithLabelValues(kind).Add(float64(n))
		}
		if j.Log != nil && n > 0 {
			j.Log.Info("retention purge", "kind", kind, "rows", n, "before", before.UTC().Format(time.RFC3339))
		}
	}
	return out, errors.Join(errs...)
}

// Run sweeps at once and then every interval until ctx ends; errors are
// logged and the next sweep tries again.
func (j *Janitor) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := j.Sweep(ctx); err != nil && ctx.Err() == nil && j.Log != nil {
			j.Log.Error("retention sweep failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
