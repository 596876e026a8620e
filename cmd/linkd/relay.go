package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
)

// startRelay starts delivering the signal outbox to the other party on
// River workers (retries with backoff, one drain at a time across
// processes, a drain taken over if its process dies). stop waits for a
// drain in flight.
func startRelay(ctx context.Context, st *store.Store, peer signal.Peer, hook signal.Hook, log *slog.Logger, reg prometheus.Registerer) (stop func(), err error) {
	r, err := signal.StartRelay(ctx, st, signal.RelayConfig{Peer: peer, Webhook: hook, Log: log, Registry: reg})
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	}, nil
}
