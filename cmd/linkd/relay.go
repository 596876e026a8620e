package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

// WebhookEvent is one event of the signal webhook on the wire: an inbound
// signal on one of this party's accounts, received or revoked. Receivers
// dedupe by id (the signal id and the event): delivery is at least once.
type WebhookEvent struct {
	ID         string    `json:"id"`
	Event      string    `json:"event"`
	SignalID   string    `json:"signal_id"`
	AccountID  string    `json:"account_id"`
	Type       string    `json:"type"`
	Confidence float64   `json:"confidence"`
	Status     string    `json:"status"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// webhook tells this party's account system of inbound signals: POST
// {"events": [...]} with X-Linkd-Signature: sha256=HEX, the HMAC-SHA256 of
// the body under the shared secret; any 2xx answer takes the batch.
type webhook struct {
	url    string
	secret []byte
	http   *http.Client
}

func newWebhook(url, secret string) webhook {
	return webhook{url: url, secret: []byte(secret), http: &http.Client{Timeout: 30 * time.Second}}
}

// Notify implements signal.Hook.
func (w webhook) Notify(ctx context.Context, evs []signal.Event) error {
	out := struct {
		Events []WebhookEvent `json:"events"`
	}{Events: make([]WebhookEvent, len(evs))}
	for i, e := range evs {
		sg := e.Signal
		out.Events[i] = WebhookEvent{ID: sg.ID + ":" + e.Name, Event: e.Name, SignalID: sg.ID, AccountID: sg.AccountID, Type: sg.Type,
			Confidence: sg.Confidence, Status: sg.Status, CreatedAt: sg.CreatedAt, ExpiresAt: sg.ExpiresAt}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("signal webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Linkd-Signature", "sha256="+webhookSignature(w.secret, body))
	resp, err := w.http.Do(req)
	if err != nil {
		return fmt.Errorf("signal webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("signal webhook: %s answered %s", w.url, resp.Status)
	}
	return nil
}

// webhookSignature is the hex HMAC-SHA256 of body under secret.
func webhookSignature(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
