package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkd/linkd/api"
	"github.com/linkd/linkd/internal/pgstore"
	"github.com/linkd/linkd/linking/signal"
)

// signalPeer delivers relay batches to the other party's peer route.
type signalPeer struct{ c *client }

func newSignalPeer(base, key string) signalPeer {
	return signalPeer{c: &client{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: time.Minute}}}
}

// Deliver implements signal.Peer.
func (p signalPeer) Deliver(ctx context.Context, msgs []signal.Message) ([]signal.Outcome, error) {
	var out api.PeerSignalsResult
	if err := p.c.call(ctx, http.MethodPost, "/v1/peer/signals", api.WireSignals(msgs), &out); err != nil {
		return nil, fmt.Errorf("signal relay: %w", err)
	}
	return out.Outcomes, nil
}

// startRelay starts delivering the signal outbox to the other party: on
// PostgreSQL, River workers (retries with backoff, one drain at a time
// across processes, a drain taken over if its process dies); on the
// embedded store, which lives and dies with this one process, a drain
// every quarter second, backing off while the peer fails. stop waits for
// a drain in flight.
func startRelay(ctx context.Context, st signal.Outbox, peer signal.Peer, log *slog.Logger, reg prometheus.Registerer) (stop func(), err error) {
	if pg, ok := st.(*pgstore.Store); ok {
		r, err := pg.StartRelay(ctx, pgstore.RelayConfig{Peer: peer, Log: log, Registry: reg})
		if err != nil {
			return nil, err
		}
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = r.Stop(ctx)
		}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait := 250 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			_, _, err := signal.Drain(ctx, st, peer, signal.DrainBatch, time.Now, time.Time{})
			if err != nil && ctx.Err() == nil {
				log.Warn("signal relay: drain failed, retrying with backoff", "error", err)
				wait = min(2*wait, 30*time.Second)
				continue
			}
			wait = 250 * time.Millisecond
		}
	}()
	return func() { cancel(); <-done }, nil
}
