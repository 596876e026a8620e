package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/signal"
	"github.com/linkd/linkd/store"
)

// signalPeer delivers relay batches to the other party's peer route.
type signalPeer struct{ c *client }

func newSignalPeer(base, key string) signalPeer {
	return signalPeer{c: newClient(base, key, time.Minute)}
}

// Deliver implements signal.Peer.
func (p signalPeer) Deliver(ctx context.Context, msgs []signal.Message) ([]signal.Outcome, error) {
	var out api.PeerSignalsResult
	if err := p.c.call(ctx, http.MethodPost, "/v1/peer/signals", api.WireSignals(msgs), &out); err != nil {
		return nil, fmt.Errorf("signal relay: %w", err)
	}
	return out.Outcomes, nil
}

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
