package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/audit"
	"github.com/linkd/linkd/peer"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
	"github.com/linkd/linkd/subject"
)

// startRelay starts delivering the signal and data-subject outboxes to
// the other party on River workers (retries with backoff, one drain at a
// time across processes, a drain taken over if its process dies), the
// acknowledgements of data-subject requests audited under chain. stop
// waits for a drain in flight.
func startRelay(ctx context.Context, st *store.Store, p *peer.Client, hook signal.Hook, chain *audit.Chain, log *slog.Logger, reg prometheus.Registerer) (stop func(), err error) {
	acked := subject.AuditAck(st, chain)
	r, err := signal.StartRelay(ctx, st, signal.RelayConfig{Peer: p, Webhook: hook, Log: log, Registry: reg,
		Subjects: func(ctx context.Context, deadline time.Time) (bool, error) {
			_, more, err := subject.Drain(ctx, st, p, subject.DrainBatch, time.Now, deadline, acked)
			return more, err
		}})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	}, nil
}
